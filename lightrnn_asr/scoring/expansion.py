"""The pruned expansion behind :func:`~lightrnn_asr.scoring.lattice.rescore_lattice` (algorithm: that
module's docstring; Xu et al., ICASSP 2018, as in Kaldi's ``lmrescore_pruned.sh``). Word arcs are scored
with ``score_words``; a history's LM state is advanced past its last word (``advance``) only when the
history survives pruning and merging, since most scored arcs lead to histories that do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Generator, Sequence

import numpy as np

from lightrnn_asr.formats.lattice import Lattice
from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.scoring.lm_store import LMStore, StateRef
from lightrnn_asr.scoring.nbest import Scales
from lightrnn_asr.scoring.pruning import PrunedLattice, prune_lattice
from lightrnn_asr.text.vocabulary import Vocabulary

__all__ = ["LatticeRescoreConfig", "LatticeExpansion", "NgramFn", "PrunedLattice", "build_rescored", "expand_together",
           "prune_lattice"]

#: An LM call an expansion asks for: ``(advance, refs, word ids)`` (see :meth:`LMStore.batched`).
LMRequest = tuple[bool, list[StateRef], list[int]]

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
        lattice_batch: lattices expanded together by :func:`~lightrnn_asr.scoring.lattice.rescore_lattices`
            (one LM call serves the frontier of all of them; the same results).
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
    lattice_batch: int = 8

    def __post_init__(self) -> None:
        if self.lattice_batch < 1:
            raise ValueError(f"lattice_batch must be >= 1, got {self.lattice_batch}")
        if self.ngram_order is not None and self.ngram_order < 1:
            raise ValueError(f"ngram_order must be >= 1 or None, got {self.ngram_order}")
        if self.max_histories is not None and self.max_histories < 1:
            raise ValueError(f"max_histories must be >= 1 or None, got {self.max_histories}")


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
                 where: str, estimate: _Estimate | None, store: LMStore | None = None) -> None:
        self.lat, self.pruned, self.model, self.vocab, self.config = lat, pruned, model, vocab, config
        self.word, self.word_id, self.fp_lm, self.where, self.estimate = word, word_id, fp_lm, where, estimate
        self.store = store or LMStore(model, vocab.bos_id, config.batch_size, where)
        self.ex = _Expanded()
        self.n_keep = None if config.ngram_order is None else config.ngram_order - 1
        # per arc as Python lists: the per-arc loop reads them ~10^5 times a lattice, and numpy
        # scalars cost several times a list item (the values are the same float64s)
        fp_in = lat.fp_lm if lat.fp_lm is not None else np.zeros(lat.num_arcs)
        self.dst, self.am, self.fp_in = lat.dst.tolist(), lat.am.tolist(), fp_in.tolist()
        self.fps: dict[tuple[tuple[str, ...], str], float] = {}  # (n-gram history, word) -> fp_lm
        self.at_state: dict[int, dict[tuple, int]] = {
            lat.start: {(): self.ex.add(lat.start, (), ("<s>",), 0.0, (0, 0))}}

    def run(self) -> tuple[_Expanded, np.ndarray, int] | None:
        """Expand depth by depth; ``(expanded, alive, final)``, or ``None`` when pruning left no path."""
        return expand_together([self])[0]

    def steps(self) -> Generator[LMRequest, tuple[list, list], tuple[_Expanded, np.ndarray, int] | None]:
        """:meth:`run` as a generator: it yields every LM call it needs as ``(advance, refs, word ids)``
        and is sent back ``(log-probs, new refs)`` (:meth:`LMStore.batched`); it returns what
        :meth:`run` returns. Several expansions on one store can so be served by shared LM calls."""
        for d in sorted(self.pruned.by_depth):
            level = _select(self.pruned.by_depth[d], self.at_state, self.ex, self.config, self.estimate)
            yield from self.realise([e for _, states in level for e in states])
            yield from self._expand_level(level)
        return (yield from self._finish())

    def _arrive(self, dst: int, hist: tuple, words: tuple, fwd: float, ref) -> int:
        states = self.at_state.setdefault(dst, {})
        e = states.get(hist)
        if e is None:
            return states.setdefault(hist, self.ex.add(dst, hist, words, fwd, ref))
        if fwd > self.ex.fwd[e]:  # merged: keep the best incoming path's LM state
            self.ex.replace(e, words, fwd, ref)
        return e

    def realise(self, histories: list[int]) -> Generator[LMRequest, tuple[list, list], None]:
        """Advance the LM states of ``histories`` (rescored states) that are still only scored."""
        unadvanced = self.store.unadvanced
        todo = sorted({self.ex.ref[e] for e in histories if self.ex.ref[e][0] in unadvanced})
        _, new_refs = yield True, todo, [unadvanced[b][row] for b, row in todo]
        moved = dict(zip(todo, new_refs))
        for e in histories:
            self.ex.ref[e] = moved.get(self.ex.ref[e], self.ex.ref[e])

    def _expand_level(self, level: list[tuple[int, list[int]]]) -> Generator[LMRequest, tuple[list, list], None]:
        """Follow every kept arc out of the histories ``level``: fillers keep the history, word arcs
        are scored by the LM (one step per distinct (history, word)) and the n-gram."""
        ex, out, word_id, dst, am, fp_in = self.ex, self.pruned.out, self.word_id, self.dst, self.am, self.fp_in
        scales, input_lm = self.config.scales, self.config.input_lm
        frontier: dict[tuple[int, int], int] = {}  # (rescored state, word id) -> LM row: one LM step each
        pending = []  # (rescored state, lattice arc, LM row)
        for s, states in level:
            for e in states:
                for a in out[s]:
                    if word_id[a] >= 0:
                        pending.append((e, a, frontier.setdefault((e, word_id[a]), len(frontier))))
                        continue
                    fp = fp_in[a] if input_lm else 0.0  # a filler: no LM step, same history
                    e2 = self._arrive(dst[a], ex.hist[e], ex.words[e],
                                      ex.fwd[e] + am[a] + scales.fp_lm_scale * fp, ex.ref[e])
                    ex.arcs.append((e, e2, a, 0.0, fp))
        keys = list(frontier)
        logps, refs = yield False, [ex.ref[e] for e, _ in keys], [w for _, w in keys]
        lm_scale, word_penalty, fp_lm_scale = scales.lm_scale, scales.word_penalty, scales.fp_lm_scale
        unk_id, oov_penalty, estimate = self.vocab.unk_id, self.config.oov_penalty, self.estimate
        n_keep, n_words = self.n_keep, None if self.n_keep is None else max(self.n_keep, 1)
        hist, words_of, fwd, arcs, word = ex.hist, ex.words, ex.fwd, ex.arcs, self.word
        for e, a, u in pending:
            w, wid, logp = word[a], word_id[a], logps[u]
            if wid == unk_id and w != "<unk>":
                logp += oov_penalty
            fp = self._fp_score(e, a, w)
            new = lm_scale * logp + word_penalty + fp_lm_scale * fp
            if estimate is not None:
                estimate.observe(new - fp_in[a])
            h = hist[e] + (wid,)
            if n_keep is not None:
                h = h[len(h) - n_keep :] if n_keep else ()
            words = words_of[e] + (w,)
            e2 = self._arrive(dst[a], h, words if n_words is None else words[-n_words:], fwd[e] + am[a] + new, refs[u])
            arcs.append((e, e2, a, logp, fp))

    def _fp_score(self, e: int, a: int, w: str) -> float:
        """The first-pass term of arc ``a`` out of history ``e``: the n-gram (cached per n-gram
        history and word, over the whole lattice), the input lattice's ``fp_lm`` (``input_lm``), or 0."""
        if self.fp_lm is None:
            return self.fp_in[a] if self.config.input_lm else 0.0
        key = (self.ex.words[e], w)
        fp = self.fps.get(key)
        if fp is None:
            fp = self.fps[key] = self.fp_lm(*key)
        return fp

    def _finish(self) -> Generator[LMRequest, tuple[list, list], tuple[_Expanded, np.ndarray, int] | None]:
        """The ``</s>`` arcs from every history at the final lattice state into one final state."""
        ex = self.ex
        finals = list(self.at_state.get(self.lat.final, {}).values())
        if not finals:
            return None
        yield from self.realise(finals)
        end_lp, _ = yield False, [ex.ref[e] for e in finals], [self.vocab.eos_id] * len(finals)
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


def expand_together(expansions: Sequence[LatticeExpansion]) -> list[tuple[_Expanded, np.ndarray, int] | None]:
    """Run several expansions in lockstep, so that one LM call serves the frontier of all of them.

    The expansions must share one :class:`LMStore` (or be a single one). At every turn the pending
    requests of one kind (all scoring, or all advancing) are concatenated into one
    :meth:`LMStore.batched` call and the results handed back to each; the others wait a turn. Each
    expansion does exactly what it would do alone (its histories, pruning and scores depend only on
    its own lattice), so the results are those of :meth:`LatticeExpansion.run` one at a time, up to
    the last bits of float arithmetic in batches of another size.

    Returns:
        What each expansion's :meth:`LatticeExpansion.run` returns, in order.
    """
    store = expansions[0].store
    if any(x.store is not store for x in expansions):
        raise ValueError("expansions run together must share one LMStore")
    gens = [x.steps() for x in expansions]
    results: list = [None] * len(gens)
    pending: dict[int, LMRequest] = {}

    def send(i: int, value) -> None:
        try:
            pending[i] = gens[i].send(value)
        except StopIteration as stop:
            results[i] = stop.value
            pending.pop(i, None)

    for i in range(len(gens)):
        send(i, None)
    while pending:
        kind = next(iter(pending.values()))[0]
        served = [i for i, req in pending.items() if req[0] == kind]
        refs = [r for i in served for r in pending[i][1]]
        ids = [w for i in served for w in pending[i][2]]
        lps, new_refs = store.batched(kind, refs, ids) if refs else ([], [])
        k = 0
        for i in served:
            n = len(pending[i][1])
            send(i, (lps[k : k + n], new_refs[k : k + n]))
            k += n
    return results
