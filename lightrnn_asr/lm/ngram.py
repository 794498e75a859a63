"""A first-pass back-off n-gram LM (ARPA text, or pocketsphinx's DMP and binary formats), read and
scored by pocketsphinx's ``NGramModel``, in nats: the ``fp_lm`` of N-best lists and the first-pass
term of lattice rescoring.

pocketsphinx is an optional dependency (the ``recipe`` and ``test`` extras); it is imported when a
model is read.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["NgramLM"]

#: pocketsphinx's log base (its default LogMath base, 1.0001), in nats per unit.
LN_BASE = math.log(1.0001)
#: Below this (pocketsphinx units), a score is LogMath's zero: the word is not in the model.
_ZERO = -(1 << 28)


class NgramLM:
    """A back-off n-gram LM scoring words in nats.

    ``logprob(word, history)`` is ``log P(word | history)`` with the history oldest first (only its
    last ``order - 1`` words count); sentences start after ``<s>`` and end with ``</s>``. pocketsphinx
    keeps scores as integers in base 1.0001, so a score is exact to about 1e-4 nats. Scores are
    cached (``cache_size`` (word, history) pairs).

    Args:
        path: an ARPA file, or a pocketsphinx ``.lm.bin``/DMP file (e.g. its ``en-us/en-us.lm.bin``).
        oov_logprob: the score (nats) of a word the model does not have; ``None``: such a word is an
            error.

    Raises:
        FileNotFoundError: for a missing file.
        ImportError: when pocketsphinx is not installed.
        ValueError: naming the file when pocketsphinx cannot read it.

    Follows the back-off model of ARPA files (Katz; SRILM's ``ngram-format(5)``), computed by
    pocketsphinx (``ngram_model_read``, ``ngram_score``).
    """

    def __init__(self, path: str | Path, oov_logprob: float | None = None, cache_size: int = 1 << 20) -> None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such n-gram LM file")
        try:
            from pocketsphinx import NGramModel
        except ImportError as e:
            raise ImportError(f"reading {path} needs pocketsphinx (pip install pocketsphinx): {e}") from None
        try:
            self._model = NGramModel.readfile(str(path))
        except (RuntimeError, ValueError, OSError) as e:
            raise ValueError(f"{path}: not an n-gram LM pocketsphinx can read ({e})") from None
        self.path, self.oov_logprob = Path(path), oov_logprob
        self.order: int = self._model.size()
        self._score = functools.lru_cache(maxsize=cache_size)(self._uncached)

    def _uncached(self, word: str, *history: str) -> float:
        raw = self._model.prob([word, *history])
        if raw <= _ZERO:
            if self.oov_logprob is None:
                raise ValueError(f"{self.path}: the word {word!r} is not in the n-gram LM (give oov_logprob to score "
                                 "such words)")
            return self.oov_logprob
        return raw * LN_BASE

    def logprob(self, word: str, history: Sequence[str]) -> float:
        """``log P(word | history)`` in nats; ``history`` oldest first (``<s>`` for the sentence start).

        Raises:
            ValueError: for a word the model does not have, without ``oov_logprob``.
        """
        context = tuple(history[len(history) - self.order + 1:]) if self.order > 1 else ()
        return self._score(word, *reversed(context))

    def __call__(self, history: Sequence[str], word: str) -> float:
        """:meth:`logprob` in the argument order of the first-pass function of lattice rescoring
        (:func:`~lightrnn_asr.scoring.lattice.rescore_lattice`'s ``fp_lm``: history, then word)."""
        return self.logprob(word, history)

    def bigram(self, prev: str, word: str) -> float:
        """``log P(word | prev)`` (nats): the bigram function of
        :func:`~lightrnn_asr.formats.lattice_paths.lattice_nbest`."""
        return self.logprob(word, (prev,))

    def sentence_logprob(self, words: Iterable[str]) -> float:
        """``log P(</s>, words | <s>)`` in nats: every word and ``</s>``, each on the words before it."""
        seq = ["<s>", *words, "</s>"]
        return sum(self.logprob(seq[i], seq[:i]) for i in range(1, len(seq)))
