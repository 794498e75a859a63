"""The pruned expansion behind :func:`~lightrnn_asr.scoring.lattice.rescore_lattice` (algorithm: that
module's docstring; Xu et al., ICASSP 2018, as in Kaldi's ``lmrescore_pruned.sh``). Word arcs are scored
with ``score_words``; a history's LM state is advanced past its last word (``advance``) only when the
history survives pruning and merging, since most scored arcs lead to histories that do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from lightrnn_asr.formats.lattice import Lattice, LatticeFormatError, out_arcs, topological_order
from lightrnn_asr.lm.interface import LanguageModel, LMState
from lightrnn_asr.scoring.nbest import Scales
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.utils.device import split_on_oom

__all__ = ["LatticeRescoreConfig", "LatticeExpansion", "NgramFn", "PrunedLattice", "build_rescored", "prune_lattice"]

#: ``fp_lm(history, word) -> log P(word | history)`` in nats; ``history`` is a tuple of words, most
#: recent last, starting with ``<s>`` when the sentence start is within reach; ``word`` may be ``</s>``.
NgramFn = Callable[[tuple[str, ...], str], float]


@dataclass(frozen=True)
class LatticeRescoreConfig:
    """Settings of :func:`rescore_lattice`.

    Attributes:
        ngram_order: histories sharing their last ``ngram_order - 1`` words are
            merged; ``None`` never merges (exact, exponential in the worst case).
        max_histories: most histories kept per lattice state (``None``: all).
        beam: histories more than this (nats of the combined score) below the
            best one of their lattice state are dropped.
        lattice_beam: arcs of the input lattice whose best path is more than
            this below the best path (``am + lm`` as in the file) are dropped
            before expansion; ``inf`` keeps all (use it when the lattice holds
            acoustic scores only, as pocketsphinx's do).
        global_beam: histories whose estimated best complete path is more than
            this (nats of the combined score) below the best estimate at the
            same depth are dropped (Xu et al.'s heuristic, see the module docstring);
            ``inf`` turns it off. Should it prune every path, the lattice is
            expanded again without it (with a warning).
        input_lm: keep the input lattice's own LM scores (Kaldi: the graph
            cost) as the first-pass term ``fp_lm`` of every arc, so that
            ``fp_lm_scale`` interpolates them with the new LM as Kaldi's
            ``lmrescore_pruned.sh`` does. Not together with an ``fp_lm`` function.
        scales: the score combination used for pruning (``lm_scale`` on the
            new LM, ``word_penalty`` per word, ``fp_lm_scale`` on the n-gram).
        oov_penalty: added (nats) to the LM score of out-of-vocabulary words.
        batch_size: frontier arcs per LM call.
    """

    ngram_order: int | None = 4
    max_histories: int | None = 8
    beam: float = math.inf
    lattice_beam: float = math.inf
    global_beam: float = math.inf
    input_lm: bool = False
    scales: Scales = field(default_factory=lambda: Scales(lm_scale=10.0))
    oov_penalty: float = 0.0
    batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.ngram_order is not None and self.ngram_order < 1:
            raise ValueError(f"ngram_order must be >= 1 or None, got {self.ngram_order}")
        if self.max_histories is not None and self.max_histories < 1:
            raise ValueError(f"max_histories must be >= 1 or None, got {self.max_histories}")


def _forward_backward(lat: Lattice, weight: np.ndarray, is_word: np.ndarray, order: np.ndarray,
                      out: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Viterbi forward and backward scores of every state (``-inf`` where no path) under arc weights
    ``weight`` (``(E,)``), and the number of words on every state's best backward path; ``out``
    lists every state's arcs."""
    fwd = np.full(lat.num_states, -np.inf)
    bwd = np.full(lat.num_states, -np.inf)
    words_left = np.zeros(lat.num_states)
    fwd[lat.start], bwd[lat.final] = 0.0, 0.0
    for s in order.tolist():
        for a in out[s]:
            d = lat.dst[a]
            fwd[d] = max(fwd[d], fwd[s] + weight[a])
    for s in order[::-1].tolist():
        for a in out[s]:
            b = weight[a] + bwd[lat.dst[a]]
            if b > bwd[s]:
                bwd[s], words_left[s] = b, is_word[a] + words_left[lat.dst[a]]
    return fwd, bwd, words_left


@dataclass
class _Expanded:
    """Growing arrays of the rescored lattice."""

    orig: list[int] = field(default_factory=list)  # lattice state of every rescored state
    hist: list[tuple[int, ...]] = field(default_factory=list)  # word ids (merged: last n-1)
    words: list[tuple[str, ...]] = field(default_factory=list)  # the same history as words (for the n-gram)
    fwd: list[float] = field(default_factory=list)  # best combined forward score
    ref: list[tuple[int, int]] = field(default_factory=list)  # (state batch, row) of its LM state
    arcs: list[tuple[int, int, int, float, float]] = field(default_factory=list)  # src, dst, lattice arc, lm, fp

    def add(self, orig: int, hist, words, fwd: float, ref) -> int:
        self.orig.append(orig)
        self.hist.append(hist)
        self.words.append(words)
        self.fwd.append(fwd)
        self.ref.append(ref)
        return len(self.orig) - 1

    def replace(self, e: int, words, fwd: float, ref) -> None:
        """A better path into the merged state ``e``: keep its LM state and scores."""
        self.words[e], self.fwd[e], self.ref[e] = words, fwd, ref


@dataclass
class _Estimate:
    """What the global beam needs: the input lattice's backward scores ``bwd`` (``am + lm``), the
    words left on each state's best backward path, and the running mean, over the word arcs scored so
    far, of the new combined LM score minus the input's LM score."""

    bwd: np.ndarray
    words_left: np.ndarray
    beam: float
    delta_sum: float = 0.0
    delta_count: int = 0

    def observe(self, delta: float) -> None:
        self.delta_sum += delta
        self.delta_count += 1

    def __call__(self, ex: _Expanded, e: int) -> float:
        """Estimated best complete path through ``e``: its forward score, the input's backward score,
        and the mean LM change per word times the words left on that backward path."""
        s = ex.orig[e]
        rate = self.delta_sum / self.delta_count if self.delta_count else 0.0
        return ex.fwd[e] + self.bwd[s] + rate * self.words_left[s]


def _select(level: list[int], at_state: dict[int, dict[tuple, int]], ex: _Expanded, config: LatticeRescoreConfig,
            estimate: _Estimate | None) -> list[tuple[int, list[int]]]:
    """The histories to expand at the lattice states ``level`` (one depth): per state, at most
    ``max_histories`` within ``beam`` of its best; then, with ``estimate``, those whose estimated
    complete path is within ``global_beam`` of the best estimate at this depth (so a depth is never
    emptied). Pruned histories are dropped from ``at_state``."""
    chosen = []
    for s in level:
        states = sorted(at_state.get(s, {}).values(), key=lambda e: -ex.fwd[e])
        if states:
            best = ex.fwd[states[0]]
            chosen.append((s, [e for e in states if ex.fwd[e] >= best - config.beam][: config.max_histories]))
    if estimate is not None and chosen:
        scores = {e: estimate(ex, e) for _, states in chosen for e in states}
        floor = max(scores.values()) - estimate.beam
        chosen = [(s, [e for e in states if scores[e] >= floor]) for s, states in chosen]
    for s, states in chosen:
        at_state[s] = {ex.hist[e]: e for e in states}
    return chosen


@dataclass
class PrunedLattice:
    """The input lattice after the lattice beam: kept arcs per state, and its states grouped by depth
    (the longest arc count from the start over kept arcs; states of equal depth are independent)."""

    out: list[list[int]]
    by_depth: dict[int, list[int]]
    bwd: np.ndarray
    words_left: np.ndarray


def prune_lattice(lat: Lattice, word_id: Sequence[int], lattice_beam: float, where: str) -> PrunedLattice:
    """Forward-backward over ``am + lm`` of the input; arcs more than ``lattice_beam`` below the best
    path are dropped.

    Raises:
        LatticeFormatError: for a cycle, or when no path reaches the final state.
    """
    order = topological_order(lat, where)
    out = out_arcs(lat)
    weight = lat.am + lat.lm
    is_word = np.array([i >= 0 for i in word_id], dtype=np.float64)
    fwd, bwd, words_left = _forward_backward(lat, weight, is_word, order, out)
    through = fwd[lat.src] + weight + bwd[lat.dst]
    keep = np.isfinite(through)
    if not keep.any():
        raise LatticeFormatError(f"{where}: no path from the start state {lat.start} to the final state {lat.final}")
    if math.isfinite(lattice_beam):
        keep &= through >= through[keep].max() - lattice_beam
    out = [[a for a in arcs if keep[a]] for arcs in out]
    depth = np.full(lat.num_states, -1, dtype=np.int64)
    depth[lat.start] = 0
    for s in order.tolist():
        if depth[s] >= 0:
            for a in out[s]:
                depth[lat.dst[a]] = max(depth[lat.dst[a]], depth[s] + 1)
    by_depth: dict[int, list[int]] = {}
    for s in np.flatnonzero(depth >= 0).tolist():
        by_depth.setdefault(int(depth[s]), []).append(s)
    return PrunedLattice(out, by_depth, bwd, words_left)


class LatticeExpansion:
    """One pruned expansion of one lattice (the work of :func:`~lightrnn_asr.scoring.lattice.rescore_lattice`).

    Args:
        lat: the input lattice; ``pruned``: its :func:`prune_lattice`.
        model, vocab: the new LM (in evaluation mode) and its vocabulary.
        word, word_id: per arc, its word (``None`` for a filler) and the word's id (-1 for a filler).
        fp_lm: the first-pass n-gram on the same histories, or ``None``.
        estimate: the global beam's estimate (``None``: no global beam).
    """

    def __init__(self, lat: Lattice, pruned: PrunedLattice, model: LanguageModel, vocab: Vocabulary,
                 config: LatticeRescoreConfig, word: list[str | None], word_id: list[int], fp_lm: NgramFn | None,
                 where: str, estimate: _Estimate | None) -> None:
        self.lat, self.pruned, self.model, self.vocab, self.config = lat, pruned, model, vocab, config
        self.word, self.word_id, self.fp_lm, self.where, self.estimate = word, word_id, fp_lm, where, estimate
        self.device = model.device
        self.store: list[LMState] = [model.initial_state(1, vocab.bos_id)]  # LM states, one batch per step
        self.unadvanced: dict[int, list[int]] = {}  # store batch -> its words, for batches not advanced yet
        self.ex = _Expanded()
        self.n_keep = None if config.ngram_order is None else config.ngram_order - 1
        self.at_state: dict[int, dict[tuple, int]] = {
            lat.start: {(): self.ex.add(lat.start, (), ("<s>",), 0.0, (0, 0))}}

    def run(self) -> tuple[_Expanded, np.ndarray, int] | None:
        """Expand depth by depth; ``(expanded, alive, final)``, or ``None`` when pruning left no path."""
        for d in sorted(self.pruned.by_depth):
            level = _select(self.pruned.by_depth[d], self.at_state, self.ex, self.config, self.estimate)
            self.realise([e for _, states in level for e in states])
            self._expand_level(level)
        return self._finish()

    def _cut(self, h: tuple) -> tuple:
        n_keep = self.n_keep
        return h if n_keep is None else h[len(h) - n_keep :] if n_keep else ()

    def _arrive(self, dst: int, hist: tuple, words: tuple, fwd: float, ref) -> int:
        states = self.at_state.setdefault(dst, {})
        e = states.get(hist)
        if e is None:
            return states.setdefault(hist, self.ex.add(dst, hist, words, fwd, ref))
        if fwd > self.ex.fwd[e]:  # merged: keep the best incoming path's LM state
            self.ex.replace(e, words, fwd, ref)
        return e

    def _gather(self, refs: Sequence[tuple[int, int]]) -> LMState:
        """The LM states of ``refs`` (``(store batch, row)`` pairs) as one batch, in order."""
        model = self.model
        refs_t = torch.tensor(refs, dtype=torch.long)
        parts, order = [], []
        for b in torch.unique(refs_t[:, 0]).tolist():
            pick = (refs_t[:, 0] == b).nonzero()[:, 0]
            parts.append(model.select_state(self.store[b], refs_t[pick, 1].to(self.store[b][0].device)))
            order.append(pick)
        joined = model.cat_states(parts) if len(parts) > 1 else parts[0]
        return model.select_state(joined, torch.argsort(torch.cat(order)).to(joined[0].device))

    def _lm_step(self, advance: bool, refs_in: list, ids: list[int]) -> tuple[list[float | None], list]:
        """Score (``advance=False``: :meth:`score_words`) or advance the states ``refs_in`` by the words
        ``ids``; the new states are stored. Returns the log-probs (``None`` when advancing) and the refs
        of the new rows. Batches that run out of CUDA memory are split (:func:`split_on_oom`)."""

        def step(pairs: list) -> list:
            state = self._gather([r for r, _ in pairs])
            words = torch.tensor([w for _, w in pairs], dtype=torch.long, device=self.device)
            if advance:
                lps, new_state = [None] * len(pairs), self.model.advance(state, words)
            else:
                lp, new_state = self.model.score_words(state, words)
                lps = lp.tolist()
                self.unadvanced[len(self.store)] = words.tolist()
            self.store.append(new_state)
            return [(x, (len(self.store) - 1, row)) for row, x in enumerate(lps)]

        results = split_on_oom(step, list(zip(refs_in, ids)), self.device, self.where, "LM rows",
                               lambda _: f"{self.where}: one LM step does not fit in {self.device} memory")
        return [x for x, _ in results], [r for _, r in results]

    def _batched(self, advance: bool, refs: list, ids: list[int]) -> tuple[list, list]:
        """:meth:`_lm_step` in chunks of ``config.batch_size``."""
        lps, new_refs, size = [], [], self.config.batch_size
        for k in range(0, len(refs), size):
            lp, r = self._lm_step(advance, refs[k : k + size], ids[k : k + size])
            lps += lp
            new_refs += r
        return lps, new_refs

    def realise(self, histories: list[int]) -> None:
        """Advance the LM states of ``histories`` (rescored states) that are still only scored."""
        todo = sorted({self.ex.ref[e] for e in histories if self.ex.ref[e][0] in self.unadvanced})
        _, new_refs = self._batched(True, todo, [self.unadvanced[b][row] for b, row in todo])
        moved = dict(zip(todo, new_refs))
        for e in histories:
            self.ex.ref[e] = moved.get(self.ex.ref[e], self.ex.ref[e])

    def _expand_level(self, level: list[tuple[int, list[int]]]) -> None:
        """Follow every kept arc out of the histories ``level``: fillers keep the history, word arcs
        are scored by the LM (one step per distinct (history, word)) and the n-gram."""
        lat, ex, out, word_id = self.lat, self.ex, self.pruned.out, self.word_id
        scales = self.config.scales
        frontier: dict[tuple[int, int], int] = {}  # (rescored state, word id) -> LM row: one LM step each
        pending = []  # (rescored state, lattice arc, LM row)
        for s, states in level:
            for e in states:
                for a in out[s]:
                    if word_id[a] >= 0:
                        pending.append((e, a, frontier.setdefault((e, word_id[a]), len(frontier))))
                        continue
                    fp = lat.lm[a] if self.config.input_lm else 0.0  # a filler: no LM step, same history
                    e2 = self._arrive(int(lat.dst[a]), ex.hist[e], ex.words[e],
                                      ex.fwd[e] + lat.am[a] + scales.fp_lm_scale * fp, ex.ref[e])
                    ex.arcs.append((e, e2, a, 0.0, fp))
        keys = list(frontier)
        logps, refs = self._batched(False, [ex.ref[e] for e, _ in keys], [w for _, w in keys])
        fps: dict[tuple[int, str], float] = {}  # (rescored state, word) -> n-gram log-prob
        for e, a, u in pending:
            w, logp = self.word[a], logps[u]
            if word_id[a] == self.vocab.unk_id and w != "<unk>":
                logp += self.config.oov_penalty
            fp = self._fp_score(fps, e, a, w)
            new = scales.lm_scale * logp + scales.word_penalty + scales.fp_lm_scale * fp
            if self.estimate is not None:
                self.estimate.observe(new - lat.lm[a])
            words = ex.words[e] + (w,)
            e2 = self._arrive(int(lat.dst[a]), self._cut(ex.hist[e] + (word_id[a],)),
                              words if self.n_keep is None else words[-max(self.n_keep, 1):],
                              ex.fwd[e] + lat.am[a] + new, refs[u])
            ex.arcs.append((e, e2, a, logp, fp))

    def _fp_score(self, cache: dict[tuple[int, str], float], e: int, a: int, w: str) -> float:
        """The first-pass term of arc ``a`` out of history ``e``: the n-gram (cached per history and
        word), the input lattice's LM score (``input_lm``), or 0."""
        if self.fp_lm is None:
            return self.lat.lm[a] if self.config.input_lm else 0.0
        fp = cache.get((e, w))
        if fp is None:
            fp = cache[e, w] = self.fp_lm(self.ex.words[e], w)
        return fp

    def _finish(self) -> tuple[_Expanded, np.ndarray, int] | None:
        """The ``</s>`` arcs from every history at the final lattice state into one final state."""
        ex = self.ex
        finals = list(self.at_state.get(self.lat.final, {}).values())
        if not finals:
            return None
        self.realise(finals)
        end_lp, _ = self._batched(False, [ex.ref[e] for e in finals], [self.vocab.eos_id] * len(finals))
        final = len(ex.orig)
        for e, logp in zip(finals, end_lp):
            fp = self.fp_lm(ex.words[e], "</s>") if self.fp_lm is not None else 0.0
            ex.arcs.append((e, final, -1, logp, fp))
        alive = np.zeros(final + 1, dtype=bool)
        for states in self.at_state.values():
            alive[list(states.values())] = True
        alive[final] = True
        return ex, alive, final


def build_rescored(lat: Lattice, ex: _Expanded, alive: np.ndarray, final: int) -> Lattice:
    """The rescored lattice from the expansion, keeping arcs between live states on a start-final path."""
    arcs = [x for x in ex.arcs if alive[x[0]] and alive[x[1]]]
    src = np.array([x[0] for x in arcs], dtype=np.int64)
    dst = np.array([x[1] for x in arcs], dtype=np.int64)
    orig = np.array([x[2] for x in arcs], dtype=np.int64)
    # states from which the final state is reached (pruning leaves dead ends), by a walk back from it
    useful = np.zeros(final + 1, dtype=bool)
    useful[final] = True
    incoming: dict[int, list[int]] = {}
    for i, d in enumerate(dst.tolist()):
        incoming.setdefault(d, []).append(i)
    stack = [final]
    while stack:
        for i in incoming.get(stack.pop(), []):
            s = int(src[i])
            if not useful[s]:
                useful[s] = True
                stack.append(s)
    keep = useful[src] & useful[dst]
    renumber = np.cumsum(useful) - 1
    times = np.append(lat.times[np.array(ex.orig, dtype=np.int64)], lat.times[lat.final])
    sel = np.flatnonzero(keep)
    return Lattice(
        num_states=int(useful.sum()),
        start=int(renumber[0]),
        final=int(renumber[final]),
        src=renumber[src[sel]],
        dst=renumber[dst[sel]],
        symbols=[lat.symbols[orig[i]] if orig[i] >= 0 else "</s>" for i in sel.tolist()],
        am=np.array([lat.am[orig[i]] if orig[i] >= 0 else 0.0 for i in sel.tolist()]),
        lm=np.array([arcs[i][3] for i in sel.tolist()]),
        times=times[useful],
        fp_lm=np.array([arcs[i][4] for i in sel.tolist()]),
    )
