"""Word vocabulary: word <-> id, counts, and the special symbols.

Ids are dense ``0..|V|-1``. The first three are always the special symbols
``<s>`` (0), ``</s>`` (1) and ``<unk>`` (2); regular words follow in order of
decreasing training count (ties broken alphabetically), so a vocabulary built
twice from the same text is identical.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch

from lightrnn_asr.text.normalize import normalize_text
from lightrnn_asr.utils.io import atomic_text, utf8_lines

__all__ = ["Vocabulary", "BOS", "EOS", "UNK", "read_vocab", "write_vocab", "read_word_list", "read_new_words"]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SPECIALS = (BOS, EOS, UNK)


@dataclass
class Vocabulary:
    """An ordered word list with training counts.

    Attributes:
        words: ``words[i]`` is the word with id ``i``; starts with ``<s> </s> <unk>``.
        counts: ``counts[i]`` is the training count of ``words[i]`` (0 for
            ``<s>``; ``<unk>`` holds the count of the words cut off).

    Raises:
        ValueError: when the word list does not start with the special
            symbols, has duplicates, or ``counts`` has the wrong length.
    """

    words: list[str]
    counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if tuple(self.words[:3]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {' '.join(SPECIALS)}, got {self.words[:3]}")
        if not self.counts:
            self.counts = [0] * len(self.words)
        if len(self.counts) != len(self.words):
            raise ValueError(f"{len(self.counts)} counts for {len(self.words)} words")
        self._index = {w: i for i, w in enumerate(self.words)}
        if len(self._index) != len(self.words):
            dup = next(w for w in self.words if self.words.count(w) > 1)
            raise ValueError(f"duplicate word in vocabulary: {dup!r}")

    bos_id = 0
    eos_id = 1
    unk_id = 2

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def id(self, word: str) -> int:
        """Id of ``word``, or of ``<unk>`` when it is out of vocabulary."""
        return self._index.get(word, self.unk_id)

    def encode(self, words: Sequence[str]) -> list[int]:
        """Map words to ids (out-of-vocabulary words -> ``<unk>``), no ``<s>``/``</s>`` added."""
        get = self._index.get
        return [get(w, self.unk_id) for w in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Map ids back to words."""
        return [self.words[i] for i in ids]

    @classmethod
    def from_counts(
        cls, counts: Counter, max_size: int | None = None, min_count: int = 1
    ) -> "Vocabulary":
        """Build a vocabulary from word counts.

        Args:
            counts: word -> count; special symbols in it are ignored.
            max_size: keep at most this many regular words (the most frequent).
            min_count: drop words seen fewer times than this.

        Raises:
            ValueError: when no word survives the cut-off.
        """
        items = sorted(
            ((w, c) for w, c in counts.items() if w not in SPECIALS and c >= min_count),
            key=lambda wc: (-wc[1], wc[0]),
        )
        if max_size is not None:
            items = items[:max_size]
        if not items:
            raise ValueError("no word left after the vocabulary cut-off (empty training text?)")
        kept = {w for w, _ in items}
        unk = sum(c for w, c in counts.items() if w not in kept and w not in SPECIALS)
        n_sent = counts.get(EOS, 0)
        return cls(list(SPECIALS) + [w for w, _ in items], [0, n_sent, unk] + [c for _, c in items])

    @classmethod
    def from_sentences(
        cls, sentences: Iterable[Sequence[str]], max_size: int | None = None, min_count: int = 1
    ) -> "Vocabulary":
        """Count words over tokenised sentences and build a vocabulary (see :meth:`from_counts`)."""
        counts: Counter = Counter()
        n = 0
        for sent in sentences:
            counts.update(sent)
            n += 1
        counts[EOS] = n
        return cls.from_counts(counts, max_size=max_size, min_count=min_count)

    def with_words(self, words: Iterable[str]) -> "Vocabulary":
        """A vocabulary with ``words`` appended (count 0) after the existing ones, skipping words
        already present (and repeats); existing ids do not change.

        Words that never occur in the training text still get a cell of the
        word table and so a probability of their own: the mass the model
        gives to that cell (see docs/guides/open-vocabulary.md).

        Raises:
            ValueError: for a special symbol or a word containing whitespace.
        """
        new: list[str] = []
        seen = set(self._index)
        for w in words:
            if w in SPECIALS or not w or any(ch.isspace() for ch in w):
                raise ValueError(f"cannot add {w!r} to a vocabulary")
            if w not in seen:
                seen.add(w)
                new.append(w)
        return Vocabulary(self.words + new, self.counts + [0] * len(new))

    def to_dict(self) -> dict:
        """Plain-type form for checkpoints (loadable with ``weights_only=True``)."""
        return {"words": list(self.words), "counts": [int(c) for c in self.counts]}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        return cls(list(d["words"]), list(d["counts"]))

    def counts_tensor(self) -> torch.Tensor:
        """Counts as a ``(|V|,)`` int64 tensor."""
        return torch.tensor(self.counts, dtype=torch.long)


def write_vocab(path, vocab: Vocabulary) -> None:
    """Write ``word count`` lines (ids are line numbers minus one)."""
    with atomic_text(path) as f:
        for w, c in zip(vocab.words, vocab.counts):
            f.write(f"{w} {c}\n")


def read_vocab(path) -> Vocabulary:
    """Read a file written by :func:`write_vocab` (``word [count]`` per line).

    Raises:
        ValueError: naming file and line for a malformed line or invalid UTF-8, a duplicate
            word, or a list that does not start with ``<s> </s> <unk>``.
    """
    words, counts = [], []
    for lineno, line in utf8_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise ValueError(f"{path}:{lineno}: expected 'word [count]', found {line.strip()!r}")
        words.append(parts[0])
        counts.append(int(parts[1]) if len(parts) == 2 else 0)
    try:
        return Vocabulary(words, counts)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def read_word_list(path) -> tuple[list[str], int]:
    """Read a word list (one entry per line, e.g. Debian's ``/usr/share/dict`` lists).

    Every entry is normalised like the training text
    (:func:`lightrnn_asr.text.normalize_text`: ``"Aaron's"`` -> ``aaron's``,
    ``"élan"`` -> ``elan``); entries that normalise to several words
    (``"A&P"``) or to none are skipped, and repeats are dropped.

    Returns:
        ``(words, skipped)``: the distinct words in file order and the number
        of entries skipped.

    Raises:
        ValueError: naming file and line when a line is not valid UTF-8.
    """
    words: dict[str, None] = {}
    skipped = 0
    for _, line in utf8_lines(path):
        if not line.strip():
            continue
        norm = normalize_text(line).split()
        if len(norm) == 1 and norm[0] not in SPECIALS:
            words[norm[0]] = None
        else:
            skipped += 1
    return list(words), skipped


def read_new_words(path: str | Path) -> tuple[list[str], dict[str, str]]:
    """A new-words file for :func:`~lightrnn_asr.training.openvocab.add_words`: ``WORD [LIKE_WORD]`` per line (blank lines skipped).

    Returns:
        ``(words, like)``: the words in file order and ``{word: like_word}`` where one is given.

    Raises:
        ValueError: naming file and line for a line of more than two fields or invalid UTF-8, or a
            file without words.
    """
    words, like = [], {}
    for lineno, line in utf8_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) > 2:
            raise ValueError(f"{path}:{lineno}: expected WORD [LIKE_WORD], got {' '.join(fields)}")
        words.append(fields[0])
        if len(fields) == 2:
            like[fields[0]] = fields[1]
    if not words:
        raise ValueError(f"{path}: no words")
    return words, like
