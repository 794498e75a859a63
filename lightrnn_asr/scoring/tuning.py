"""Tuning the score combination on dev: ``lm_scale``, ``word_penalty`` and ``fp_lm_scale``.

A hypothesis' total is ``am + lm_scale * lm + fp_lm_scale * fp_lm + word_penalty * |W|``
(:func:`lightrnn_asr.scoring.nbest.total_scores`); dev WER is a piecewise-constant function of the three
weights. :func:`tune_scales` searches it in one of two ways, per axis:

- **a grid given by the caller** (``lm_scales=[...]``): exactly those values;
- **automatic** (``None``): the axis' unit is derived from the dev lists' own score spreads, so
  the search does not depend on the units of the scores (pocketsphinx log-likelihoods in the
  thousands, Kaldi costs scaled by ``acwt``, k2 log-probs in nats). For each utterance the spread
  (interquartile range over its hypotheses) of every score is taken; the unit of ``lm_scale`` is the median
  of ``spread(am) / spread(lm)`` (the weight at which the LM moves the total as much as the AM
  does), of ``fp_lm_scale`` likewise, and of ``word_penalty`` ``spread(am) / spread(|W|)``. A
  coarse grid (``unit * 2**k``, ``k = -6..6``, and 0; the word penalty linear in ``[-2, 2] units``)
  is searched jointly over the automatic axes, widened while its optimum lies on an outer edge,
  then refined (a finer grid between the neighbouring points, four times) around its best point and
  around the two best points not next to it, since the WER surface has several local optima.

This is what icefall's ``rescore_with_rnn_lm`` does with a fixed list of ``ngram_lm_scale`` x
``rnn_lm_scale`` values, and Kaldi's ``score.sh`` with ``LMWT`` x ``word_ins_penalty``, except that
the range follows the data. Among grid points tied at the minimum the median one is taken (the
middle of a flat optimum generalises better than its edge). A result whose optimum lies on the
edge of the searched range (other than a scale of 0), or ties with a point there, is flagged in
:attr:`TuneResult.on_edge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from lightrnn_asr.scoring.nbest import Scales, ScoredNBest, nbest_errors

__all__ = ["TuneResult", "tune_scales"]

AXES = ("lm_scale", "word_penalty", "fp_lm_scale")
_PENALTY_STEPS = np.linspace(-2.0, 2.0, 9)  # word_penalty: unit * [-2, 2]; scales: unit * 2^(-6..6), and 0
_MAX_WIDENINGS = 4
_REFINEMENTS = 4
_REFINE_POINTS = 5
_STARTS = 3  # local optima refined
_MAX_BYTES = 64 * 2**20  # working memory of one evaluation chunk


@dataclass
class TuneResult:
    """The outcome of :func:`tune_scales`.

    Attributes:
        scales: the chosen :class:`~lightrnn_asr.scoring.nbest.Scales`.
        dev_wer: dev WER (percent) at ``scales``.
        lm_scales, sweep_wer: ``(k,)`` float64 each: dev WER (percent) against ``lm_scale`` with the
            other two weights at their chosen values (for a plot of the sweep).
        on_edge: names of the axes on whose searched range's edge the lowest dev WER is reached.
        ranges: ``{axis: (lowest, highest)}`` value searched.
        searched: for every axis, ``"grid"`` (given), ``"auto"`` or ``"fixed"`` (at 0: no first-pass
            score, or a score that is the same for every hypothesis of every list).
        points: number of weight combinations evaluated.
    """

    scales: Scales
    dev_wer: float
    lm_scales: np.ndarray
    sweep_wer: np.ndarray
    on_edge: list[str] = field(default_factory=list)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    searched: dict[str, str] = field(default_factory=dict)
    points: int = 0

    @property
    def best_wer(self) -> float:
        """Alias of :attr:`dev_wer`."""
        return self.dev_wer

    def describe(self) -> str:
        """One line: the chosen weights and the dev WER."""
        s = self.scales
        fp = f", fp_lm_scale {s.fp_lm_scale:.4g}" if self.searched.get("fp_lm_scale") != "fixed" else ""
        return f"lm_scale {s.lm_scale:.4g}, word_penalty {s.word_penalty:.4g}{fp}, dev WER {self.dev_wer:.2f}%"


class _DevLists:
    """Every dev hypothesis' scores as padded ``(U, N)`` float64 arrays, and its word errors."""

    def __init__(self, scored: Mapping[str, ScoredNBest], refs: Mapping[str, Sequence[str]]):
        errs = nbest_errors(scored, refs)
        lists = list(scored.values())
        if not lists:
            raise ValueError("no dev utterances to tune on")
        n = max(len(s.words) for s in lists)
        shape = (len(lists), n)
        self.am = np.full(shape, -np.inf)
        self.lm, self.fp, self.nw = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        self.err = np.zeros(shape, dtype=np.int64)
        self.has_fp = all(s.fp_lm is not None for s in lists)
        for u, (utt, s) in enumerate(scored.items()):
            k = len(s.words)
            self.am[u, :k], self.lm[u, :k], self.nw[u, :k], self.err[u, :k] = s.am, s.lm, s.n_words, errs[utt]
            if self.has_fp:
                self.fp[u, :k] = s.fp_lm
        self.n_ref = max(1, sum(len(refs[u]) for u in scored))
        self.sizes = np.array([len(s.words) for s in lists])

    def units(self) -> dict[str, float | None]:
        """Each weight's natural unit: the median over utterances of the ratio of score spreads, a
        spread being the interquartile range over the list's hypotheses (robust to a few outliers,
        such as hypotheses whose OOVs carry a large penalty)."""
        many = self.sizes > 1
        if not many.any():
            return {a: 1.0 for a in AXES}
        valid = np.arange(self.am.shape[1])[None, :] < self.sizes[many, None]

        def spread(x):
            q1, q3 = np.nanpercentile(np.where(valid, x[many], np.nan), [25, 75], axis=1)
            return q3 - q1

        am = spread(self.am)

        def unit(other):
            o = spread(other)
            ok = (o > 0) & (am > 0)
            if ok.any():
                return float(np.median(am[ok] / o[ok]))
            return 1.0 if (o > 0).any() else None  # None: the score is constant within every list

        return {"lm_scale": unit(self.lm), "word_penalty": unit(self.nw), "fp_lm_scale": unit(self.fp)}

    def errors(self, points: np.ndarray) -> np.ndarray:
        """``(P,)`` int64 total dev errors of the 1-best at each ``(P, 3)`` weight triple."""
        out = np.empty(len(points), dtype=np.int64)
        chunk = max(1, _MAX_BYTES // (8 * self.am.size))
        rows = np.arange(self.am.shape[0])[None, :]
        for i in range(0, len(points), chunk):
            w = points[i : i + chunk, :, None, None]
            tot = self.am[None] + w[:, 0] * self.lm[None] + w[:, 1] * self.nw[None] + w[:, 2] * self.fp[None]
            best = tot.argmax(-1)  # (chunk, U); first hypothesis on ties, as one_best
            out[i : i + chunk] = self.err[rows, best].sum(1)
        return out


def _median_tie(errors: np.ndarray) -> tuple[int, ...]:
    """Index of the median point among those with minimal errors, axis by axis (lm_scale first)."""
    ties = np.argwhere(errors == errors.min())
    for d in range(errors.ndim):
        values = np.unique(ties[:, d])
        ties = ties[ties[:, d] == values[(len(values) - 1) // 2]]
    return tuple(int(x) for x in ties[0])


def _starts(errors: np.ndarray, k: int) -> list[tuple[int, ...]]:
    """Up to ``k`` points to refine from: the median of the best tie, then the best points that are
    not next to an earlier one (other local optima of a WER surface that has several)."""
    starts = [_median_tie(errors)]
    for flat in np.argsort(errors, axis=None, kind="stable"):
        if len(starts) == k:
            break
        p = np.unravel_index(flat, errors.shape)
        if all(max(abs(a - b) for a, b in zip(p, q)) > 1 for q in starts):
            starts.append(tuple(int(x) for x in p))
    return starts


def _edge_axes(axes: list[np.ndarray], errors: np.ndarray) -> list[str]:
    """The axes on whose outer edge the minimum is attained (a scale's bound 0 is not an edge)."""
    ties = np.argwhere(errors == errors.min())
    out = []
    for d, (name, axis) in enumerate(zip(AXES, axes)):
        if len(axis) < 2:
            continue
        lower_is_edge = name == "word_penalty" or axis[0] != 0.0
        if (ties[:, d] == len(axis) - 1).any() or (lower_is_edge and (ties[:, d] == 0).any()):
            out.append(name)
    return out


def _coarse_axis(name: str, unit: float, widen: int) -> np.ndarray:
    """The coarse grid of an automatic axis, ``widen`` times widened (upwards for the scales)."""
    if name == "word_penalty":
        return np.round(unit * _PENALTY_STEPS * 2.0**widen, 10)
    return np.round(np.concatenate([[0.0], unit * 2.0 ** np.arange(-6, 7 + 2 * widen)]), 10)


def _refined_axis(axis: np.ndarray, i: int) -> np.ndarray:
    lo, hi = axis[max(i - 1, 0)], axis[min(i + 1, len(axis) - 1)]
    return np.unique(np.round(np.concatenate([np.linspace(lo, hi, _REFINE_POINTS), [axis[i]]]), 10))


class _Search:
    """Evaluations of weight grids, counted."""

    def __init__(self, dev: _DevLists):
        self.dev, self.points = dev, 0

    def __call__(self, axes: list[np.ndarray]) -> np.ndarray:
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        self.points += len(mesh)
        return self.dev.errors(mesh).reshape([len(a) for a in axes])


def tune_scales(
    scored: Mapping[str, ScoredNBest],
    refs: Mapping[str, Sequence[str]],
    lm_scales: Sequence[float] | None = None,
    word_penalties: Sequence[float] | None = None,
    fp_lm_scales: Sequence[float] | None = None,
) -> TuneResult:
    """The weights that minimise dev WER (see the module docstring for the search).

    Args:
        scored: dev N-best lists with their scores (:func:`~lightrnn_asr.scoring.nbest.score_nbest`).
        refs: ``{utt_id: reference words}``, one for every utterance of ``scored``.
        lm_scales, word_penalties, fp_lm_scales: grids to search exactly, or ``None`` to search an
            axis automatically. ``fp_lm_scales`` is only searched when every list has first-pass
            LM scores; otherwise ``fp_lm_scale`` is 0. Give ``[x]`` to fix an axis at ``x``.

    Returns:
        A :class:`TuneResult`.

    Raises:
        ValueError: when an utterance has no reference, ``scored`` is empty or a grid is empty.
    """
    dev = _DevLists(scored, refs)
    given = {"lm_scale": lm_scales, "word_penalty": word_penalties, "fp_lm_scale": fp_lm_scales}
    if not dev.has_fp:
        given["fp_lm_scale"] = [0.0]
    searched = {a: ("fixed" if a == "fp_lm_scale" and not dev.has_fp else "grid" if given[a] is not None else "auto")
                for a in AXES}
    grids = {a: np.asarray(v, dtype=np.float64).ravel() for a, v in given.items() if v is not None}
    for a, g in grids.items():
        if g.size == 0:
            raise ValueError(f"empty {a} grid")
    units = dev.units()
    for a in AXES:  # a score that never differs within a list (no LM given, say) cannot change a 1-best
        if searched[a] == "auto" and units[a] is None:
            searched[a], grids[a] = "fixed", np.zeros(1)
    auto = [a for a in AXES if searched[a] == "auto"]
    search = _Search(dev)
    widen = {a: 0 for a in auto}
    while True:  # coarse: widen an automatic axis while its minimum is attained on an outer edge
        axes = [grids[a] if a in grids else _coarse_axis(a, units[a], widen[a]) for a in AXES]
        errors = search(axes)
        grow = [a for a in _edge_axes(axes, errors) if a in auto and widen[a] < _MAX_WIDENINGS]
        if not grow:
            break
        for a in grow:
            widen[a] += 1
    on_edge = _edge_axes(axes, errors)
    outer = axes
    best_errors, chosen = None, None
    for start in _starts(errors, _STARTS if auto else 1):
        point, local_axes, local = start, axes, errors
        for _ in range(_REFINEMENTS if auto else 0):
            local_axes = [_refined_axis(local_axes[d], point[d]) if AXES[d] in auto else local_axes[d] for d in range(3)]
            local = search(local_axes)
            point = _median_tie(local)
        if best_errors is None or local[point] < best_errors:
            best_errors, chosen = int(local[point]), [float(local_axes[d][point[d]]) for d in range(3)]
    chosen = [0.0 if abs(c) < 1e-9 else c for c in chosen]  # a refined grid's rounding residue around 0
    scales = Scales(lm_scale=chosen[0], word_penalty=chosen[1], fp_lm_scale=chosen[2])
    # the lm_scale sweep at the chosen other weights, over the searched range and the chosen value
    sweep = np.unique(np.concatenate([outer[0], [chosen[0]]]))
    sweep_wer = 100.0 * dev.errors(np.stack([sweep, np.full_like(sweep, chosen[1]),
                                             np.full_like(sweep, chosen[2])], -1)) / dev.n_ref
    ranges = {a: (float(outer[d].min()), float(outer[d].max())) for d, a in enumerate(AXES)}
    return TuneResult(scales, 100.0 * best_errors / dev.n_ref, sweep, sweep_wer, on_edge, ranges, searched,
                      search.points + len(sweep))
