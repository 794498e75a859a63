"""N-best lists and Kaldi-style text files: reading (strict) and writing.

N-best format (UTF-8, one hypothesis per line, fields separated by TABs)::

    utt_id <TAB> am_score <TAB> words
    utt_id <TAB> am_score <TAB> lm_score <TAB> words

* ``am_score``: acoustic log-likelihood of the hypothesis (higher is better;
  nats for pocketsphinx/HTK lattices; negate Kaldi *costs*).
* ``lm_score``: optional first-pass LM log-probability (higher is better).
  A file uses either form; lines of both forms may not be mixed.
* ``words``: space-separated words; may be empty (the empty hypothesis).
* All lines of an utterance are consecutive; their order is kept.

Text files (references, 1-best output) are Kaldi's ``text``: ``utt_id word word ...``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from lightrnn_asr.text.corpus import MAX_SENTENCE_WORDS
from lightrnn_asr.utils.io import atomic_text, utf8_lines

__all__ = ["Hypothesis", "NBestFormatError", "read_nbest", "iter_nbest", "group_utterances", "write_nbest", "nbest_line", "read_text",
           "write_text"]


class NBestFormatError(ValueError):
    """A malformed line; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class Hypothesis:
    """One N-best entry.

    Attributes:
        words: the word sequence (may be empty).
        am: acoustic log-likelihood (higher is better; the file's ``am_score``).
        fp_lm: first-pass LM log-probability (the file's ``lm_score``), or ``None`` when the list has none.
    """

    words: tuple[str, ...]
    am: float
    fp_lm: float | None = None


def _score(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NBestFormatError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise NBestFormatError(f"{where}: {what} {text!r} is not finite")
    return value


def group_utterances(entries: Iterable[tuple[str, Hypothesis, str]]) -> Iterator[tuple[str, list[Hypothesis]]]:
    """Group ``(utt_id, hypothesis, where)`` entries into ``(utt_id, hypotheses)``, in order.

    Raises:
        NBestFormatError: at ``where`` of the first line of an utterance whose lines are not
            consecutive (a repeated id).
    """
    seen: set[str] = set()
    current: str | None = None
    hyps: list[Hypothesis] = []
    for utt, hyp, where in entries:
        if utt != current:
            if current is not None:
                yield current, hyps
            if utt in seen:
                raise NBestFormatError(f"{where}: lines of utterance {utt!r} are not consecutive (duplicate id?)")
            seen.add(utt)
            current, hyps = utt, []
        hyps.append(hyp)
    if current is not None:
        yield current, hyps


def iter_nbest(path: str | Path) -> Iterator[tuple[str, list[Hypothesis]]]:
    """Stream ``(utt_id, hypotheses)`` one utterance at a time (constant memory per utterance).

    Raises:
        NBestFormatError: naming file and line for a wrong number of fields,
            an empty utterance id, a non-numeric or non-finite score, mixed
            line forms, an utterance whose lines are not consecutive, a
            hypothesis of more than :data:`~lightrnn_asr.text.corpus.MAX_SENTENCE_WORDS` words, or
            invalid UTF-8.
    """
    return group_utterances(_entries(path))


def _entries(path: str | Path) -> Iterator[tuple[str, Hypothesis, str]]:
    n_fields: int | None = None
    for lineno, line in utf8_lines(path, NBestFormatError):
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) not in (3, 4):
            raise NBestFormatError(
                f"{where}: expected 3 or 4 TAB-separated fields "
                f"(utt_id, am_score, [lm_score,] words), found {len(fields)}"
            )
        if n_fields is None:
            n_fields = len(fields)
        elif len(fields) != n_fields:
            raise NBestFormatError(f"{where}: {len(fields)} fields, but earlier lines have {n_fields}")
        utt = fields[0].strip()
        if not utt or len(utt.split()) != 1:
            raise NBestFormatError(f"{where}: utterance id {fields[0]!r} is empty or contains spaces")
        am = _score(fields[1], "am_score", where)
        lm = _score(fields[2], "lm_score", where) if n_fields == 4 else None
        words = tuple(fields[-1].split())
        if len(words) > MAX_SENTENCE_WORDS:
            raise NBestFormatError(f"{where}: a hypothesis of {len(words):,} words; at most {MAX_SENTENCE_WORDS:,} "
                                   "are scored as one sentence")
        yield utt, Hypothesis(words, am, lm), where


def read_nbest(path: str | Path) -> dict[str, list[Hypothesis]]:
    """Read a whole N-best file into ``{utt_id: [Hypothesis, ...]}`` (file order kept).

    Raises:
        NBestFormatError: see :func:`iter_nbest`; also for a file with no hypothesis.
    """
    out = dict(iter_nbest(path))
    if not out:
        raise NBestFormatError(f"{path}: no hypothesis in file")
    return out


def write_nbest(path: str | Path, nbest: dict[str, list[Hypothesis]]) -> None:
    """Write N-best lists in the format above (4 fields when any hypothesis has an lm_score).

    Scores are written with Python's shortest exact representation (``repr``), so
    :func:`read_nbest` gives back the same floats.
    """
    with_lm = any(h.fp_lm is not None for hyps in nbest.values() for h in hyps)
    with atomic_text(path) as f:
        for utt, hyps in nbest.items():
            for h in hyps:
                f.write(nbest_line(utt, h, with_lm))


def nbest_line(utt: str, h: Hypothesis, with_lm: bool) -> str:
    """One line of the format above, newline included (``lm_score`` 0 when ``with_lm`` and it has no ``fp_lm``)."""
    lm = f"{float(h.fp_lm if h.fp_lm is not None else 0.0)!r}\t" if with_lm else ""
    return f"{utt}\t{float(h.am)!r}\t{lm}{' '.join(h.words)}\n"


def read_text(path: str | Path) -> dict[str, list[str]]:
    """Read a Kaldi ``text`` file: ``{utt_id: words}``.

    Raises:
        NBestFormatError: naming file and line for duplicate ids or invalid UTF-8.
    """
    out: dict[str, list[str]] = {}
    for lineno, line in utf8_lines(path, NBestFormatError):
        parts = line.split()
        if not parts:
            continue
        if parts[0] in out:
            raise NBestFormatError(f"{path}:{lineno}: duplicate utterance id {parts[0]!r}")
        out[parts[0]] = parts[1:]
    return out


def write_text(path: str | Path, text: dict[str, list[str]] | dict[str, tuple[str, ...]]) -> None:
    """Write a Kaldi ``text`` file."""
    with atomic_text(path) as f:
        for utt, words in text.items():
            f.write(" ".join([utt, *words]) + "\n")
