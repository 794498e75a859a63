"""Token ids and batches for training and scoring.

Sentences are independent (every one starts from ``<s>`` with a fresh LSTM
state), which is how N-best hypotheses are scored, so training and scoring
use the same batches: length-sorted, padded, with a mask.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, TypeVar

import numpy as np
import torch

from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.utils.io import utf8_lines

__all__ = ["Corpus", "read_sentences", "encode_corpus", "in_reading_order", "length_batches", "make_batch",
           "MAX_SENTENCE_WORDS"]

T = TypeVar("T")

#: The longest sentence (words) that is scored whole (perplexity, ``score``, N-best hypotheses): scoring
#: holds every position of a sentence at once, so a line without sentence breaks (a book on one line)
#: would take gigabytes. Training text is not limited: ``max_len`` splits its sentences.
MAX_SENTENCE_WORDS = 5000


def in_reading_order(words: Sequence[T], backward: bool) -> list[T]:
    """``words`` (or word ids) in the order an LM reads them: as given, or reversed for a backward LM
    (:attr:`~lightrnn_asr.lm.config.LMConfig.backward`)."""
    return list(reversed(words)) if backward else list(words)


def read_sentences(path: str | Path, max_words: int | None = None) -> Iterator[list[str]]:
    """Yield the words of each non-empty line of a UTF-8 text file (one sentence per line).

    Args:
        max_words: refuse a sentence of more words (e.g. :data:`MAX_SENTENCE_WORDS` for text that is
            scored whole); ``None``: no limit.

    Raises:
        ValueError: naming file and line when a line is not valid UTF-8, is longer than
            :data:`~lightrnn_asr.utils.io.MAX_LINE_BYTES`, or has more than ``max_words`` words.
    """
    for lineno, line in utf8_lines(path):
        words = line.split()
        if max_words is not None and len(words) > max_words:
            raise ValueError(f"{path}:{lineno}: a sentence of {len(words):,} words; at most {max_words:,} are "
                             "scored as one sentence (one sentence per line is expected)")
        if words:
            yield words


@dataclass
class Corpus:
    """Sentences as one flat id tensor.

    Attributes:
        ids: ``(total_tokens,)`` int32 word ids (int64 accepted), sentences concatenated (no
            ``<s>``/``</s>``): 4 bytes per word, 3.2 GB for the 800M-word LibriSpeech LM text.
        offsets: ``(n_sentences + 1,)`` int64 start of each sentence in ``ids``.
        all_lengths: for a shard, ``(n_pieces,)`` int64 lengths of all pieces of the text.
        shard: ``(rank, world_size)``; ``(0, 1)`` holds the whole text.
    """

    ids: torch.Tensor
    offsets: torch.Tensor
    all_lengths: torch.Tensor | None = None
    shard: tuple[int, int] = (0, 1)

    def __len__(self) -> int:
        return self.offsets.numel() - 1

    def global_lengths(self) -> torch.Tensor:
        """``(n_pieces,)`` int64 lengths of every sentence piece of the whole text, in text order.

        For a shard (``shard = (rank, world_size)``, see :func:`encode_corpus`) piece ``j`` is held
        by rank ``j % world_size`` as its local sentence ``j // world_size``; without one this is
        :meth:`lengths`.
        """
        return self.lengths() if self.all_lengths is None else self.all_lengths

    def local_indices(self, pieces: torch.Tensor) -> torch.Tensor:
        """Local sentence indices of the global ``pieces`` (int64) this shard holds, in their order."""
        rank, world = self.shard
        if world == 1:
            return pieces
        return pieces[pieces % world == rank] // world

    def lengths(self) -> torch.Tensor:
        """``(n_sentences,)`` number of words per sentence (without ``</s>``)."""
        return self.offsets[1:] - self.offsets[:-1]

    def sentence(self, i: int) -> torch.Tensor:
        """Sentence ``i``'s word ids: shape ``(length,)``, the dtype of :attr:`ids` (int32), a view into it (no ``<s>``/``</s>``).

        Raises:
            IndexError: ``i`` is not below the number of sentences.
        """
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    @property
    def num_tokens(self) -> int:
        """Predicted tokens: words plus one ``</s>`` per sentence."""
        return int(self.ids.numel()) + len(self)

    @classmethod
    def from_id_lists(cls, sentences: Sequence[Sequence[int]]) -> "Corpus":
        lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)
        offsets = torch.zeros(len(sentences) + 1, dtype=torch.long)
        torch.cumsum(lengths, 0, out=offsets[1:])
        flat = [i for s in sentences for i in s]
        return cls(torch.tensor(flat, dtype=torch.int32), offsets)


def encode_corpus(path: str | Path, vocab: Vocabulary, max_len: int | None = None,
                  chunk_sentences: int = 100_000, shard: tuple[int, int] = (0, 1), backward: bool = False) -> Corpus:
    """Read a one-sentence-per-line text file and map it to ids, streaming.

    The file is read line by line and encoded ``chunk_sentences`` at a time into int32
    arrays, so memory holds the ids (4 bytes per word) and offsets (8 bytes per sentence),
    never the text or Python lists of it.

    Args:
        path: normalised text (see :func:`lightrnn_asr.text.normalize_text`).
        vocab: out-of-vocabulary words become ``<unk>``.
        max_len: split longer sentences into pieces of at most this many words
            (for training); ``None`` (evaluation): every sentence whole, at most
            :data:`MAX_SENTENCE_WORDS` words.
        chunk_sentences: sentences encoded per chunk.
        shard: ``(rank, world_size)``: keep only the pieces ``j`` (sentences after ``max_len``
            splitting, in text order) with ``j % world_size == rank``; the lengths of all pieces
            are kept too (8 bytes per piece), so every rank can draw the global batches. Every rank
            reads the whole file but encodes only its own pieces.
        backward: reverse every sentence (before ``max_len`` splitting), for a backward LM
            (:attr:`~lightrnn_asr.lm.config.LMConfig.backward`).

    Raises:
        ValueError: when the file holds no sentence, or a line is not valid UTF-8 or (without
            ``max_len``) longer than :data:`MAX_SENTENCE_WORDS` words (naming file and line).
    """
    id_chunks: list[np.ndarray] = []
    len_chunks: list[np.ndarray] = []
    ids: list[int] = []
    lengths: list[int] = []

    def flush() -> None:
        id_chunks.append(np.asarray(ids, dtype=np.int32))
        len_chunks.append(np.asarray(lengths, dtype=np.int64))
        ids.clear()
        lengths.clear()

    rank, world = shard
    if not 0 <= rank < world:
        raise ValueError(f"shard {shard}: rank must be in [0, world_size)")
    all_lengths = array("q")  # every piece's length, kept for a shard only (8 bytes per piece)
    n_pieces = 0
    for words in read_sentences(path, max_words=None if max_len else MAX_SENTENCE_WORDS):
        if backward:
            words.reverse()
        step = max_len or len(words)
        for i in range(0, len(words), step):
            if n_pieces % world == rank:
                piece = vocab.encode(words[i : i + step])
                ids.extend(piece)
                lengths.append(len(piece))
            if world > 1:
                all_lengths.append(min(step, len(words) - i))
            n_pieces += 1
        if len(lengths) >= chunk_sentences:
            flush()
    flush()
    if not n_pieces:
        raise ValueError(f"{path}: no sentence in file (empty text?)")
    local = np.concatenate(len_chunks)
    offsets = np.zeros(local.size + 1, dtype=np.int64)
    np.cumsum(local, out=offsets[1:])
    flat = np.concatenate(id_chunks)
    id_chunks.clear()
    if world == 1:
        return Corpus(torch.from_numpy(flat), torch.from_numpy(offsets))
    return Corpus(torch.from_numpy(flat), torch.from_numpy(offsets),
                  torch.from_numpy(np.frombuffer(all_lengths, dtype=np.int64).copy()), shard)


def length_batches(
    lengths: torch.Tensor, max_tokens: int, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Group sentence indices into batches of similar length.

    Sentences are sorted by length and cut into batches whose padded size
    ``n_sentences * (max_length + 1)`` stays within ``max_tokens``; with a
    ``generator`` the order of batches (and ties within a length) is shuffled.

    Returns:
        A list of ``(n_i,)`` int64 index tensors covering every sentence once.
    """
    n = lengths.numel()
    if generator is not None:
        perm = torch.randperm(n, generator=generator)
        order = perm[torch.argsort(lengths[perm], stable=True)]
    else:
        order = torch.argsort(lengths, stable=True)
    batches, start = [], 0
    sorted_len = (lengths[order] + 1).tolist()
    for i in range(n):
        if (i - start + 1) * sorted_len[i] > max_tokens and i > start:
            batches.append(order[start:i])
            start = i
    if start < n:
        batches.append(order[start:])
    if generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def make_batch(
    sentences: Sequence[torch.Tensor], bos_id: int, eos_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad sentences into teacher-forcing tensors.

    Args:
        sentences: ``n`` 1-D int64 tensors of word ids (may be empty).

    Returns:
        ``(inputs, targets, mask)``, each ``(n, T)`` with ``T = max_len + 1``:
        ``inputs = <s> w_1 .. w_L``, ``targets = w_1 .. w_L </s>``, ``mask``
        bool, True on the ``L + 1`` real target positions. Padding holds ``</s>``.
    """
    n = len(sentences)
    lengths = torch.tensor([int(s.numel()) for s in sentences], dtype=torch.long)
    t = int(lengths.max()) + 1
    # one scatter of all words instead of a copy per sentence
    mask = torch.arange(t) < (lengths + 1)[:, None]  # (n, t): the words and </s>
    words = mask.clone()
    words[torch.arange(n), lengths] = False  # (n, t): the words only
    flat = torch.cat([s.reshape(-1).long() for s in sentences]) if n else torch.zeros(0, dtype=torch.long)
    targets = torch.full((n, t), eos_id, dtype=torch.long)
    targets[words] = flat
    inputs = torch.empty((n, t), dtype=torch.long)
    inputs[:, 0] = bos_id
    inputs[:, 1:] = targets[:, :-1]
    return inputs, targets, mask
