"""Errors on the words a user cares about (names, places): the name error rate and the WER of the
utterances with and without such a word, each with a bootstrap 95% confidence interval.

A reference token that is one of ``names`` is *recognised* when the alignment of the utterance
(kaldialign, Levenshtein with equal costs, as for the WER) pairs it with the same word; deleted or
substituted, it is a *name error*. The name error rate (NER) is name errors / reference name tokens.
Insertions of a name where the reference has none are counted apart (``false_names``): they are
errors too, but not misses of a name the speaker said.

The interval of the NER resamples utterances (those with a name), as Bisani & Ney (ICASSP 2004) do
for the WER; the WER intervals of the two parts are ``kaldialign.bootstrap_wer_ci``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from lightrnn_asr.evaluation.wer import EPS, _check_ids, align_utterance, bootstrap_ci, compute_wer
from lightrnn_asr.utils.io import utf8_lines

__all__ = ["NameErrors", "name_errors", "name_report", "p_fewer_name_errors", "read_names"]


@dataclass
class NameErrors:
    """Name errors of one system on a set.

    Attributes:
        name_tokens: reference tokens that are names.
        errors: of those, deleted or substituted.
        false_names: hypothesis names aligned to a different reference word or inserted.
        utterances: utterances whose reference holds a name.
        per_utterance: ``{utt_id: (name tokens, name errors)}`` of those utterances.
        missed: ``{name: times missed}``.
    """

    name_tokens: int
    errors: int
    false_names: int
    utterances: int
    per_utterance: dict[str, tuple[int, int]] = field(repr=False)
    missed: dict[str, int] = field(repr=False)

    @property
    def ner(self) -> float:
        """Name error rate in percent (``0.0`` when the references hold no name)."""
        return 100.0 * self.errors / self.name_tokens if self.name_tokens else 0.0

    def ci95(self, replications: int = 10000, seed: int = 0) -> tuple[float, float]:
        """Bootstrap 95% interval of the NER (percent), utterances resampled with replacement."""
        counts = np.array(list(self.per_utterance.values()), dtype=np.float64).reshape(-1, 2)
        if not len(counts):
            return 0.0, 0.0
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(counts), size=(replications, len(counts)))
        tokens, errors = counts[draws, 0].sum(1), counts[draws, 1].sum(1)
        rates = 100.0 * errors / np.maximum(tokens, 1)
        return float(np.percentile(rates, 2.5)), float(np.percentile(rates, 97.5))


def read_names(path) -> set[str]:
    """The names of a file: whitespace-separated words, lower-cased (``#`` starts a comment).

    Raises:
        ValueError: when the file holds no name, or a line is not UTF-8 (naming file and line).
    """
    names = set()
    for _, line in utf8_lines(path):
        names.update(w.lower() for w in line.split("#", 1)[0].split())
    if not names:
        raise ValueError(f"{path}: no names in the file")
    return names


def name_errors(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, Sequence[str]], names: Iterable[str]) -> NameErrors:
    """Name errors of ``hyps`` against ``refs`` (both ``{utt_id: words}``).

    Raises:
        ValueError: when the utterance ids of the two differ.
    """
    _check_ids(refs, hyps)
    names = set(names)
    total = errors = false = 0
    per_utt: dict[str, tuple[int, int]] = {}
    missed: dict[str, int] = {}
    for utt, ref in refs.items():
        n = e = 0
        for r, h in align_utterance(ref, hyps[utt]):
            if r in names:
                n += 1
                if r != h:
                    e += 1
                    missed[r] = missed.get(r, 0) + 1
            elif h != EPS and h in names:
                false += 1
        if n:
            per_utt[utt] = (n, e)
        total, errors = total + n, errors + e
    return NameErrors(total, errors, false, len(per_utt), per_utt, missed)


def p_fewer_name_errors(refs: Mapping[str, Sequence[str]], hyps_a: Mapping[str, Sequence[str]],
                        hyps_b: Mapping[str, Sequence[str]], names: Iterable[str], replications: int = 10000,
                        seed: int = 0) -> float:
    """Paired bootstrap probability that system ``b`` makes fewer name errors than system ``a``.

    The utterances with a name are resampled with replacement, the same draw for both systems (Bisani &
    Ney, ICASSP 2004, "probability of improvement", applied to name errors); ties count half. 0.95 or
    more is the usual bar for calling ``b`` better.

    Raises:
        ValueError: when the utterance ids of ``refs`` and either system differ.
    """
    names = set(names)
    a, b = name_errors(refs, hyps_a, names), name_errors(refs, hyps_b, names)
    utts = sorted(a.per_utterance)
    if not utts:
        return 0.5
    diff = np.array([a.per_utterance[u][1] - b.per_utterance[u][1] for u in utts], dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, len(utts), size=(replications, len(utts)))
    total = diff[draws].sum(1)
    return float(np.mean(total > 0) + 0.5 * np.mean(total == 0))


def name_report(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, Sequence[str]], names: Iterable[str],
                replications: int = 1000, seed: int = 0) -> dict:
    """NER and the WER with and without names, as a JSON-ready dict (percent)::

        {"ner": .., "ner_ci95": [lo, hi], "name_tokens": .., "name_errors": .., "false_names": ..,
         "with_names": {"utterances", "words", "wer", "ci95"}, "without_names": {...}}

    A part with no utterance has ``wer`` ``None``.
    """
    names = set(names)
    ne = name_errors(refs, hyps, names)
    out = {"ner": ne.ner, "ner_ci95": list(ne.ci95(replications, seed)), "name_tokens": ne.name_tokens,
           "name_errors": ne.errors, "false_names": ne.false_names}
    for key, keep in (("with_names", True), ("without_names", False)):
        utts = [u for u, r in refs.items() if bool(names & set(r)) == keep]
        part = {"utterances": len(utts), "words": sum(len(refs[u]) for u in utts), "wer": None, "ci95": None}
        if utts:
            r, h = {u: refs[u] for u in utts}, {u: hyps[u] for u in utts}
            c = bootstrap_ci(r, h, replications=replications, seed=seed)
            part.update(wer=compute_wer(r, h).wer, ci95=[100 * c["ci95min"], 100 * c["ci95max"]])
        out[key] = part
    return out
