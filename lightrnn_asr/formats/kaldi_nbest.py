"""Kaldi N-best lists in ``nbest-to-linear`` form: word, LM-cost and acoustic-cost archives.

Kaldi makes N-best lists from lattices with::

    lattice-to-nbest --acoustic-scale=0.1 --n=100 "ark:gunzip -c lat.1.gz|" ark:- | \\
      nbest-to-linear ark:- ark:/dev/null ark,t:words.1 ark,t:lmcost.1 ark,t:accost.1

(Kaldi's ``steps/rnnlmrescore.sh`` names the cost archives ``lmwt.withlm`` and ``acwt``.)
Every archive has one text line per hypothesis, keyed ``<utt_id>-<n>`` (n = 1, 2, ...,
best first), in the same order in the three files:

* words: ``utt-1 4 812 77`` (integer ids of ``words.txt``; an empty hypothesis has none);
* LM costs: ``utt-1 41.27`` (graph cost: -log P of the first-pass LM, pronunciation and
  transition probabilities, in nats);
* acoustic costs: ``utt-1 5120.4`` (-log-likelihood in nats, *unscaled*: ``lattice-to-nbest``
  undoes its ``--acoustic-scale`` before writing).

They become the project's :class:`~lightrnn_asr.formats.nbest.Hypothesis` with
``am_score = -acwt * ac_cost`` and ``lm_score = -lm_cost``, so that ranking by
``am_score + lm_score`` (``fp_lm_scale = 1``) is Kaldi's ranking at LM weight ``1/acwt``.
"""

from __future__ import annotations

import math
from itertools import zip_longest
from pathlib import Path
from typing import Iterable, Iterator

import kaldifst

from lightrnn_asr.formats.nbest import Hypothesis, NBestFormatError, group_utterances
from lightrnn_asr.utils.io import utf8_lines

__all__ = ["iter_kaldi_nbest"]


def _entries(path: str | Path) -> Iterator[tuple[str, str, list[str]]]:
    for lineno, line in utf8_lines(path, NBestFormatError):
        fields = line.split()
        if not fields:
            continue
        yield f"{path}:{lineno}", fields[0], fields[1:]


def _split_key(key: str, where: str) -> tuple[str, int]:
    utt, sep, n = key.rpartition("-")
    if not sep or not utt or not n.isdigit() or int(n) < 1:
        raise NBestFormatError(f"{where}: key {key!r} is not <utt_id>-<n> as lattice-to-nbest writes it")
    return utt, int(n)


def _cost(fields: list[str], what: str, where: str) -> float:
    if len(fields) != 1:
        raise NBestFormatError(f"{where}: expected 'key {what}', found {len(fields) + 1} fields")
    try:
        value = float(fields[0])
    except ValueError:
        raise NBestFormatError(f"{where}: {what} {fields[0]!r} is not a number") from None
    if not math.isfinite(value):
        raise NBestFormatError(f"{where}: {what} {fields[0]!r} is not finite")
    return value


def iter_kaldi_nbest(
    words_ark: str | Path,
    lm_costs: str | Path,
    ac_costs: str | Path,
    words: kaldifst.SymbolTable,
    acwt: float = 0.1,
    drop: Iterable[str] = (),
) -> Iterator[tuple[str, list[Hypothesis]]]:
    """Stream ``(utt_id, hypotheses)`` from the three text archives of ``nbest-to-linear``.

    Args:
        words_ark, lm_costs, ac_costs: text archives (``ark,t:``) written by ``nbest-to-linear``.
        words: the decoding graph's ``words.txt`` (:func:`~lightrnn_asr.formats.kaldi_lattice.read_words`).
        acwt: acoustic scale (Kaldi's ``--acoustic-scale``, typically 1/LMWT); ``am_score =
            -acwt * ac_cost``.
        drop: words removed from every hypothesis (noise markers such as ``<NOISE>``, which
            Kaldi's WSJ scoring removes too). Hypotheses that become identical are all kept.

    Yields:
        ``(utt_id, [Hypothesis])`` in file order, best first; ``am_score`` and ``lm_score``
        in nats (float, higher is better).

    Raises:
        NBestFormatError: naming file and line for a key that is not ``<utt>-<n>``, keys that
            differ between the archives (or one archive ending early), ids of one utterance
            that are not consecutive, an id missing from ``words.txt``, or a bad cost.
        ValueError: when ``acwt`` is not positive.
    """
    if not acwt > 0:
        raise ValueError(f"acwt must be positive, got {acwt}")
    dropped = set(drop)
    return group_utterances(_hypotheses(words_ark, lm_costs, ac_costs, words, acwt, dropped))


def _hypotheses(words_ark, lm_costs, ac_costs, words, acwt, dropped) -> Iterator[tuple[str, Hypothesis, str]]:
    streams = zip_longest(_entries(words_ark), _entries(lm_costs), _entries(ac_costs))
    for w, lm, ac in streams:
        for entry, path in ((w, words_ark), (lm, lm_costs), (ac, ac_costs)):
            if entry is None:
                other = next(e for e in (w, lm, ac) if e is not None)
                raise NBestFormatError(f"{path}: ends before {other[0]} (key {other[1]!r})")
        if not w[1] == lm[1] == ac[1]:
            raise NBestFormatError(f"{w[0]}, {lm[0]}, {ac[0]}: keys differ ({w[1]!r}, {lm[1]!r}, {ac[1]!r}); "
                                   "the archives must come from one nbest-to-linear run")
        utt, _ = _split_key(w[1], w[0])
        tokens = []
        for token in w[2]:
            symbol = words.find(int(token)) if token.isdigit() else ""
            if not symbol:
                raise NBestFormatError(f"{w[0]}: word id {token!r} is not in words.txt")
            if symbol not in dropped:
                tokens.append(symbol)
        yield utt, Hypothesis(tuple(tokens), -acwt * _cost(ac[2], "acoustic cost", ac[0]),
                              -_cost(lm[2], "LM cost", lm[0])), w[0]
