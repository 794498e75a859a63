"""Pruned neural-LM lattice rescoring.

The algorithm of Xu et al., "A pruned RNNLM lattice-rescoring algorithm for
automatic speech recognition" (ICASSP 2018), as in Kaldi's
``lmrescore_pruned.sh``, for LightRNN and LSTM LMs:

- The lattice is expanded in topological order. A state of the rescored
  lattice is a lattice state plus a word history; it carries the LM's
  recurrent state. Every word arc out of it is scored by the LM from that
  state (``log P(word | history)``), and its destination is the
  destination lattice state with the history extended by the word.
- Histories that share their last ``n - 1`` words are merged
  (``ngram_order = n``): the merged state keeps the recurrent state of its
  best incoming path (by forward score), as in Kaldi. ``ngram_order=None``
  never merges, so every path is scored exactly (the lattice becomes a tree
  of histories).
- Pruning: before expansion, arcs whose best path is more than
  ``lattice_beam`` below the lattice's best path (forward-backward over the
  first-pass scores) are dropped; during expansion a lattice state keeps at
  most ``max_histories`` histories, those within ``beam`` of its best one
  (forward scores under the combination ``scales``, with the new LM).
- Global pruning (``global_beam``), Xu et al.'s heuristic: a history's
  best complete path is estimated as its forward score (new LM) plus the
  backward score of its lattice state in the input lattice, corrected for
  the LM change still to come. Kaldi's ``ComposeLatticePruned`` takes that
  correction from paths already completed in its best-first search; this
  expansion goes depth by depth and completes no path early, so the
  correction is the mean change per word seen so far (new combined LM score
  minus the input's LM score, over every word arc scored) times the number
  of words on the state's best backward path. Histories more than
  ``global_beam`` below the best estimate at their depth are dropped.
- The LM work is batched: all lattice states at the same depth (longest
  arc count from the start) are expanded together, one
  :meth:`score_next` call per batch of frontier arcs, and one LM step per
  distinct (history, word): arcs with the same word out of one rescored
  state (to different end times) share it.
- A first-pass LM term: an n-gram function ``fp_lm`` scored on the same
  histories, or (``input_lm``) the input lattice's own LM scores, as
  Kaldi interpolates its graph costs with the new LM.

The result is a :class:`~lightrnn_asr.lattice.Lattice` whose arcs carry the
acoustic score, the new LM's log-probability (nats) and, when a first-pass
n-gram is given, its log-probability on the same history; a final ``</s>``
arc carries ``log P(</s> | history)``. :func:`rescored_nbest` takes the
N best distinct word sequences from it with every score separately, for the
same scale tuning and reports as N-best rescoring.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import kaldifst
import numpy as np
import torch

from .lattice import FillerMap, Lattice, LatticeFormatError, out_arcs, to_fst, topological_order, word_labels
from .model import model_device
from .progress import progress_bar
from .rescore import Scales, ScoredNBest
from .scorer import split_on_oom
from .vocab import Vocabulary

__all__ = ["LatticeRescoreConfig", "combine_scores", "rescore_lattice", "rescore_lattices", "rescored_nbest"]

log = logging.getLogger(__name__)

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


def _gather(store: list, refs: Sequence[tuple[int, int]]):
    """Stack the LM states ``store[b][*][row]`` for ``refs``: ``(out, h, c)`` of batch ``len(refs)``."""
    refs_t = torch.tensor(refs, dtype=torch.long)
    parts = [[], [], []]
    order = []
    for b in torch.unique(refs_t[:, 0]).tolist():
        pick = (refs_t[:, 0] == b).nonzero()[:, 0]
        rows = refs_t[pick, 1].to(store[b][0].device)
        out, h, c = store[b]
        parts[0].append(out[rows])
        parts[1].append(h[:, rows])
        parts[2].append(c[:, rows])
        order.append(pick)
    inv = torch.argsort(torch.cat(order)).to(store[refs[0][0]][0].device)
    return torch.cat(parts[0])[inv], torch.cat(parts[1], 1)[:, inv], torch.cat(parts[2], 1)[:, inv]


@torch.inference_mode()
def rescore_lattice(
    lat: Lattice,
    model: torch.nn.Module,
    vocab: Vocabulary,
    config: LatticeRescoreConfig | None = None,
    fillers: FillerMap | None = None,
    fp_lm: NgramFn | None = None,
    where: str = "lattice",
) -> Lattice:
    """Rescore a lattice with a neural LM by pruned expansion (see the module docstring).

    Args:
        lat: an acyclic lattice (any state numbering).
        model: a :class:`~lightrnn_asr.model.LightRNN` or ``LSTMLM`` (its
            device is used; evaluation mode is set for the call).
        vocab: the model's vocabulary; lattice words outside it are scored as
            ``<unk>`` plus ``config.oov_penalty``.
        fillers: which lattice symbols are not words (epsilon arcs).
        fp_lm: a first-pass n-gram scored on the same histories (exact when
            its order is at most ``ngram_order``); or see ``config.input_lm``.
        where: the lattice's name for error messages (its file).

    Returns:
        The rescored lattice: state 0 is the start, the last state the final
        one; ``lm`` holds the new LM's log-probabilities (nats), ``fp_lm``
        the n-gram's (or zeros), ``am`` the input's acoustic scores, and the
        arcs into the final state have the symbol ``</s>`` (a filler).

    Raises:
        LatticeFormatError: for a cycle or when no path reaches the final state.
        ValueError: for both ``fp_lm`` and ``config.input_lm``.
    """
    config = config or LatticeRescoreConfig()
    if config.input_lm and fp_lm is not None:
        raise ValueError("give either an fp_lm function or config.input_lm, not both")
    fillers = fillers or FillerMap()
    word = [fillers(s) for s in lat.symbols]
    word_id = [vocab.id(w) if w is not None else -1 for w in word]
    order = topological_order(lat, where)
    out = out_arcs(lat)
    weight = lat.am + lat.lm
    fwd, bwd, words_left = _forward_backward(lat, weight, np.array([i >= 0 for i in word_id], dtype=np.float64),
                                             order, out)
    through = fwd[lat.src] + weight + bwd[lat.dst]
    keep = np.isfinite(through)
    if not keep.any():
        raise LatticeFormatError(f"{where}: no path from the start state {lat.start} to the final state {lat.final}")
    if math.isfinite(config.lattice_beam):
        keep &= through >= through[keep].max() - config.lattice_beam
    out = [[a for a in arcs if keep[a]] for arcs in out]
    # depth: longest arc count from the start over the kept arcs; states of equal depth are independent
    depth = np.full(lat.num_states, -1, dtype=np.int64)
    depth[lat.start] = 0
    for s in order.tolist():
        if depth[s] >= 0:
            for a in out[s]:
                depth[lat.dst[a]] = max(depth[lat.dst[a]], depth[s] + 1)
    by_depth: dict[int, list[int]] = {}
    for s in np.flatnonzero(depth >= 0).tolist():
        by_depth.setdefault(int(depth[s]), []).append(s)

    was_training = model.training
    model.eval()
    try:
        run = functools.partial(_expand, lat, model, vocab, config, word, word_id, out, by_depth, fp_lm, where)
        result = None
        if math.isfinite(config.global_beam):
            result = run(_Estimate(bwd, words_left, config.global_beam))
            if result is None:
                log.warning("%s: the global beam %g pruned every path; expanding again without it",
                            where, config.global_beam)
        if result is None:
            result = run(None)
        if result is None:
            raise LatticeFormatError(f"{where}: no path reaches the final state {lat.final} after pruning")
    finally:
        model.train(was_training)
    return _build(lat, *result)


def _expand(lat: Lattice, model, vocab: Vocabulary, config: LatticeRescoreConfig, word: list[str | None],
            word_id: list[int], out: list[list[int]], by_depth: dict[int, list[int]], fp_lm: NgramFn | None,
            where: str, estimate: _Estimate | None) -> tuple[_Expanded, np.ndarray, int] | None:
    """The expansion of :func:`rescore_lattice`; ``None`` when pruning left no path to the final state."""
    scales = config.scales
    device = model_device(model)
    store = [model.initial_state(1, vocab.bos_id)]
    ex = _Expanded()
    n_keep = None if config.ngram_order is None else config.ngram_order - 1
    at_state: dict[int, dict[tuple, int]] = {lat.start: {(): ex.add(lat.start, (), ("<s>",), 0.0, (0, 0))}}

    def cut(h: tuple) -> tuple:
        return h if n_keep is None else h[len(h) - n_keep :] if n_keep else ()

    def arrive(dst: int, hist: tuple, words: tuple, fwd: float, ref) -> int:
        states = at_state.setdefault(dst, {})
        e = states.get(hist)
        if e is None:
            return states.setdefault(hist, ex.add(dst, hist, words, fwd, ref))
        if fwd > ex.fwd[e]:  # merged: keep the best incoming path's LM state
            ex.replace(e, words, fwd, ref)
        return e

    # Scoring a word and advancing the LM state past it are separate steps (score_words, advance):
    # most scored arcs lead to histories that are pruned or merged away, so a state is advanced
    # only when its history is kept. ``unadvanced`` holds the words of store batches not advanced yet.
    lazy = hasattr(model, "score_words")
    score = model.score_words if lazy else model.score_next
    unadvanced: dict[int, list[int]] = {}

    def lm_step(fn, refs_in: list, ids: list[int], keep_words: bool) -> tuple[list[float], list]:
        """``fn(state, ids) -> (logp or None, new state)`` on the states ``refs_in``; the new state is
        stored. Returns the log-probs and the refs of the new rows (batches that run out of CUDA memory
        are split, :func:`~lightrnn_asr.scorer.split_on_oom`)."""

        def step(pairs: list) -> list:
            lp, new_state = fn(_gather(store, [r for r, _ in pairs]),
                               torch.tensor([w for _, w in pairs], dtype=torch.long, device=device))
            store.append(new_state)
            if keep_words:
                unadvanced[len(store) - 1] = [w for _, w in pairs]
            lps = lp.tolist() if lp is not None else [None] * len(pairs)
            return [(x, (len(store) - 1, row)) for row, x in enumerate(lps)]

        results = split_on_oom(step, list(zip(refs_in, ids)), device, where, "LM rows",
                               lambda _: f"{where}: one LM step does not fit in {device} memory")
        return [x for x, _ in results], [r for _, r in results]

    def advance(state, ids):
        return None, model.advance(state, ids)

    def realise(histories: list[int]) -> None:
        todo = sorted({ex.ref[e] for e in histories if ex.ref[e][0] in unadvanced})
        moved = {}
        for k in range(0, len(todo), config.batch_size):
            chunk = todo[k : k + config.batch_size]
            _, new_refs = lm_step(advance, chunk, [unadvanced[b][row] for b, row in chunk], False)
            moved.update(zip(chunk, new_refs))
        for e in histories:
            ex.ref[e] = moved.get(ex.ref[e], ex.ref[e])

    for d in sorted(by_depth):
        level = _select(by_depth[d], at_state, ex, config, estimate)
        realise([e for _, states in level for e in states])
        frontier: dict[tuple[int, int], int] = {}  # (rescored state, word id) -> LM row: one LM step each
        pending = []  # (rescored state, lattice arc, LM row)
        for s, states in level:
            for e in states:
                for a in out[s]:
                    if word_id[a] < 0:  # a filler: no LM step, same history
                        fp = lat.lm[a] if config.input_lm else 0.0
                        e2 = arrive(int(lat.dst[a]), ex.hist[e], ex.words[e],
                                    ex.fwd[e] + lat.am[a] + scales.fp_lm_scale * fp, ex.ref[e])
                        ex.arcs.append((e, e2, a, 0.0, fp))
                    else:
                        pending.append((e, a, frontier.setdefault((e, word_id[a]), len(frontier))))
        keys = list(frontier)
        logps, refs = [], []
        for k in range(0, len(keys), config.batch_size):
            chunk = keys[k : k + config.batch_size]
            lp, new_refs = lm_step(score, [ex.ref[e] for e, _ in chunk], [w for _, w in chunk], lazy)
            logps += lp
            refs += new_refs
        fps: dict[tuple[int, str], float] = {}  # (rescored state, word) -> n-gram log-prob
        for e, a, u in pending:
            w, logp = word[a], logps[u]
            if word_id[a] == vocab.unk_id and w != "<unk>":
                logp += config.oov_penalty
            fp = lat.lm[a] if config.input_lm else 0.0
            if fp_lm is not None:
                fp = fps.get((e, w))
                if fp is None:
                    fp = fps[e, w] = fp_lm(ex.words[e], w)
            new = scales.lm_scale * logp + scales.word_penalty + scales.fp_lm_scale * fp
            if estimate is not None:
                estimate.observe(new - lat.lm[a])
            words = ex.words[e] + (w,)
            e2 = arrive(int(lat.dst[a]), cut(ex.hist[e] + (word_id[a],)),
                        words if n_keep is None else words[-max(n_keep, 1):], ex.fwd[e] + lat.am[a] + new, refs[u])
            ex.arcs.append((e, e2, a, logp, fp))
    finals = list(at_state.get(lat.final, {}).values())
    if not finals:
        return None
    realise(finals)
    end_lp = []
    for k in range(0, len(finals), config.batch_size):
        chunk = finals[k : k + config.batch_size]
        end_lp += lm_step(score, [ex.ref[e] for e in chunk], [vocab.eos_id] * len(chunk), False)[0]
    final = len(ex.orig)
    for e, logp in zip(finals, end_lp):
        fp = fp_lm(ex.words[e], "</s>") if fp_lm is not None else 0.0
        ex.arcs.append((e, final, -1, logp, fp))
    alive = np.zeros(final + 1, dtype=bool)
    for states in at_state.values():
        alive[list(states.values())] = True
    alive[final] = True
    return ex, alive, final


def _build(lat: Lattice, ex: _Expanded, alive: np.ndarray, final: int) -> Lattice:
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


def rescored_nbest(
    lat: Lattice,
    n: int,
    scales: Scales,
    fillers: FillerMap | None = None,
    vocab: Vocabulary | None = None,
) -> ScoredNBest:
    """The ``n`` best distinct word sequences of a rescored lattice, with every score separately.

    Paths are ranked by ``am + lm_scale * lm + word_penalty * |W| +
    fp_lm_scale * fp_lm``. Distinct sequences come from kaldifst
    (determinization in the tropical semiring, then ``shortest_path``);
    each sequence's scores are those of its best path, found by composing the
    lattice (arc ids as output labels) with the sequence.

    Returns:
        A :class:`~lightrnn_asr.rescore.ScoredNBest` (best first) with
        ``am``, ``lm`` (new LM, nats), ``fp_lm`` (n-gram, nats, or ``None``
        when the lattice has none), ``n_words`` and ``n_oov`` (when ``vocab``).

    Raises:
        ValueError: for ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    labels, id2word = word_labels(lat, fillers or FillerMap())
    fp = lat.fp_lm if lat.fp_lm is not None else np.zeros(lat.num_arcs)
    is_word = np.array([x > 0 for x in labels], dtype=np.float64)
    total = lat.am + scales.lm_scale * lat.lm + scales.word_penalty * is_word + scales.fp_lm_scale * fp
    fst, acceptor = to_fst(lat, labels, -total, arc_ids=True), to_fst(lat, labels, -total)
    kaldifst.arcsort(fst, sort_type="ilabel")
    kaldifst.rmepsilon(acceptor)
    det = kaldifst.determinize(acceptor)
    seqs = []
    for p in kaldifst.convert_nbest_to_vector(kaldifst.shortest_path(det, n=n)):
        _, ilabels, _, weight = kaldifst.get_linear_symbol_sequence(p)
        seqs.append((-float(weight.value), [i for i in ilabels if i]))
    seqs.sort(key=lambda x: -x[0])
    words, am, lm, fpl = [], [], [], []
    for _, seq in seqs:
        best = kaldifst.shortest_path(kaldifst.compose(kaldifst.make_linear_acceptor(seq), fst), n=1)
        _, _, olabels, _ = kaldifst.get_linear_symbol_sequence(best)
        arcs = np.array([o - 1 for o in olabels if o], dtype=np.int64)
        words.append(tuple(id2word[i] for i in seq))
        am.append(float(lat.am[arcs].sum()))
        lm.append(float(lat.lm[arcs].sum()))
        fpl.append(float(fp[arcs].sum()))
    n_oov = [sum(1 for w in ws if w not in vocab and w != "<unk>") if vocab else 0 for ws in words]
    return ScoredNBest(words=words, am=np.array(am), lm=np.array(lm),
                       n_words=np.array([len(w) for w in words], dtype=np.int64),
                       n_oov=np.array(n_oov, dtype=np.int64),
                       fp_lm=np.array(fpl) if lat.fp_lm is not None else None)


def combine_scores(lat: Lattice, scales: Scales, fillers: FillerMap | None = None) -> Lattice:
    """A rescored lattice with one LM score per arc: ``lm_scale * lm + fp_lm_scale * fp_lm +
    word_penalty`` (per word arc), ``fp_lm=None``; ``am`` unchanged. For formats with a single
    graph cost (Kaldi, OpenFst), where ``am + lm`` then ranks paths as :func:`rescored_nbest` does."""
    fillers = fillers or FillerMap()
    is_word = np.array([fillers(s) is not None for s in lat.symbols], dtype=np.float64)
    fp = lat.fp_lm if lat.fp_lm is not None else np.zeros(lat.num_arcs)
    lm = scales.lm_scale * lat.lm + scales.fp_lm_scale * fp + scales.word_penalty * is_word
    return dataclasses.replace(lat, lm=lm, fp_lm=None)


def rescore_lattices(
    lattices: Mapping[str, Lattice] | Iterable[tuple[str, Lattice]],
    model: torch.nn.Module,
    vocab: Vocabulary,
    config: LatticeRescoreConfig | None = None,
    n: int = 100,
    fillers: FillerMap | None = None,
    fp_lm: NgramFn | None = None,
    progress: bool = False,
    sink: Callable[[str, Lattice], None] | None = None,
) -> dict[str, ScoredNBest]:
    """Rescore every lattice and take its ``n`` best (:func:`rescore_lattice`, :func:`rescored_nbest`).

    The N-best lists are ranked with ``config.scales``; their separate scores
    feed :func:`~lightrnn_asr.rescore.tune_scales` and
    :func:`~lightrnn_asr.rescore.one_best` exactly like rescored N-best lists.
    Logs lattices/s and LM arcs/s at the end. ``sink(utt, rescored_lattice)``,
    when given, receives every rescored lattice (to write it). ``lattices`` may
    be a mapping or an iterator of ``(utt, lattice)`` pairs, which is consumed
    one lattice at a time (the CLI reads files that way, so only the N-best
    results accumulate).

    Raises:
        LatticeFormatError: naming the utterance for a lattice that cannot be rescored.
    """
    config = config or LatticeRescoreConfig()
    out, arcs, start = {}, 0, time.perf_counter()
    items = lattices.items() if isinstance(lattices, Mapping) else lattices  # pairs: read one at a time
    for utt, lat in progress_bar(items, "lattice rescoring", "lat", progress):
        rescored = rescore_lattice(lat, model, vocab, config, fillers, fp_lm, where=utt)
        arcs += rescored.num_arcs
        if sink is not None:
            sink(utt, rescored)
        out[utt] = rescored_nbest(rescored, n, config.scales, fillers, vocab)
    seconds = time.perf_counter() - start
    log.info("rescored %d lattices in %.1f s (%.2f s per lattice, %d rescored arcs)",
             len(out), seconds, seconds / max(1, len(out)), arcs)
    return out
