"""Word error rate with kaldialign: totals, per-utterance alignments, bootstrap CIs.

Counting follows Kaldi's ``compute-wer``: ``WER = (ins + del + sub) / ref_words``
with a Levenshtein alignment of equal costs (kaldialign). Confidence intervals
and the probability that one system beats another follow Bisani & Ney (ICASSP
2004) as implemented by ``kaldialign.bootstrap_wer_ci`` (Kaldi's
``compute-wer-bootci``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import kaldialign

__all__ = ["WerResult", "compute_wer", "align_utterance", "format_alignment", "bootstrap_ci", "utterance_errors"]

EPS = "*"


@dataclass
class WerResult:
    """Error counts over a set of utterances.

    Attributes:
        ref_words: number of reference words.
        ins, dels, subs: insertions, deletions, substitutions.
        utterances: number of utterances scored.
        wrong_utterances: utterances with at least one error (for the sentence error rate).
    """

    ref_words: int
    ins: int
    dels: int
    subs: int
    utterances: int
    wrong_utterances: int = 0

    @property
    def errors(self) -> int:
        """Insertions + deletions + substitutions."""
        return self.ins + self.dels + self.subs

    @property
    def wer(self) -> float:
        """WER in percent (``0.0`` for an empty reference set)."""
        return 100.0 * self.errors / self.ref_words if self.ref_words else 0.0

    def kaldi_line(self) -> str:
        """``%WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]`` as Kaldi's ``compute-wer`` prints it."""
        return f"%WER {self.wer:.2f} [ {self.errors} / {self.ref_words}, {self.ins} ins, {self.dels} del, {self.subs} sub ]"

    @property
    def ser(self) -> float:
        """Sentence error rate in percent (``0.0`` for no utterances)."""
        return 100.0 * self.wrong_utterances / self.utterances if self.utterances else 0.0

    def compute_wer_report(self) -> str:
        """The three lines Kaldi's ``compute-wer --text --mode=present`` prints (no trailing newline)::

            %WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]
            %SER 45.00 [ 9 / 20 ]
            Scored 20 sentences, 0 not present in hyp.
        """
        return "\n".join([self.kaldi_line(), f"%SER {self.ser:.2f} [ {self.wrong_utterances} / {self.utterances} ]",
                          f"Scored {self.utterances} sentences, 0 not present in hyp."])


def _check_ids(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, Sequence[str]]) -> None:
    missing = [u for u in refs if u not in hyps]
    extra = [u for u in hyps if u not in refs]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} reference utterances have no hypothesis (e.g. {missing[0]!r})")
        if extra:
            parts.append(f"{len(extra)} hypotheses have no reference (e.g. {extra[0]!r})")
        raise ValueError("; ".join(parts))


def utterance_errors(ref: Sequence[str], hyp: Sequence[str]) -> tuple[int, int, int]:
    """``(ins, del, sub)`` of one utterance."""
    d = kaldialign.edit_distance(list(ref), list(hyp))
    return int(d["ins"]), int(d["del"]), int(d["sub"])


def compute_wer(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, Sequence[str]]) -> WerResult:
    """WER of ``hyps`` against ``refs`` (both ``{utt_id: words}``).

    Raises:
        ValueError: when the two sets of utterance ids differ (naming one of each), or the references
            hold no word (no utterance, or only empty ones: the WER is undefined).
    """
    _check_ids(refs, hyps)
    if not any(len(r) for r in refs.values()):
        raise ValueError(f"no reference words ({len(refs)} utterances): the WER is undefined")
    ins = dels = subs = n = wrong = 0
    for utt, ref in refs.items():
        i, d, s = utterance_errors(ref, hyps[utt])
        ins, dels, subs, n = ins + i, dels + d, subs + s, n + len(ref)
        wrong += (i + d + s) > 0
    return WerResult(n, ins, dels, subs, len(refs), wrong)


def align_utterance(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str, str]]:
    """Alignment pairs ``(ref_word, hyp_word)``; ``*`` marks an insertion/deletion."""
    return kaldialign.align(list(ref), list(hyp), EPS)


def format_alignment(utt: str, ref: Sequence[str], hyp: Sequence[str]) -> str:
    """Kaldi ``align-text``-style lines: ``utt ref ...``, ``utt hyp ...``, ``utt op ...`` (C/S/I/D)."""
    pairs = align_utterance(ref, hyp)
    width = [max(len(r), len(h)) for r, h in pairs]
    ops = ["I" if r == EPS else "D" if h == EPS else "C" if r == h else "S" for r, h in pairs]
    row = lambda xs: " ".join(x.ljust(w) for x, w in zip(xs, width))  # noqa: E731
    return "\n".join([
        f"{utt} ref  {row([r for r, _ in pairs])}",
        f"{utt} hyp  {row([h for _, h in pairs])}",
        f"{utt} op   {row(ops)}",
    ])


def bootstrap_ci(
    refs: Mapping[str, Sequence[str]],
    hyps: Mapping[str, Sequence[str]],
    hyps2: Mapping[str, Sequence[str]] | None = None,
    replications: int = 10000,
    seed: int = 0,
) -> dict:
    """Bisani-Ney bootstrap (``kaldialign.bootstrap_wer_ci``) over utterances.

    Returns:
        kaldialign's dict (WER values as fractions, not percent): with one
        system ``wer, ci95, ci95min, ci95max``; with two, ``system1``,
        ``system2`` and ``p_s2_improv_over_s1``. kaldialign's interval is the mean
        plus or minus 1.96 standard deviations; ``ci95min`` is cut at 0 (no WER is
        negative), which only a set of few words and errors reaches.

    Raises:
        ValueError: when the utterance ids of the inputs differ.
    """
    _check_ids(refs, hyps)
    utts = list(refs)
    r = [list(refs[u]) for u in utts]
    h = [list(hyps[u]) for u in utts]
    if hyps2 is None:
        return _at_least_zero(kaldialign.bootstrap_wer_ci(r, h, replications=replications, seed=seed))
    _check_ids(refs, hyps2)
    h2 = [list(hyps2[u]) for u in utts]
    out = kaldialign.bootstrap_wer_ci(r, h, h2, replications=replications, seed=seed)
    return {**out, "system1": _at_least_zero(out["system1"]), "system2": _at_least_zero(out["system2"])}


def _at_least_zero(ci: dict) -> dict:
    return {**ci, "ci95min": max(0.0, ci["ci95min"])}
