"""N-best lists and best paths from a lattice, with kaldifst (OpenFst).

Fillers become epsilons, epsilons are removed, the acceptor is determinized in the tropical
semiring (which keeps, for every distinct word sequence, its best path) and the n shortest paths
are read off, so every hypothesis is a distinct word sequence; the arcs of its best path are then
found by composing the lattice with the sequence, so that each score of the path is summed apart.
"""

from __future__ import annotations

import math
from typing import Callable

import kaldifst
import numpy as np

from lightrnn_asr.formats.lattice import FillerMap, Lattice
from lightrnn_asr.formats.nbest import Hypothesis

__all__ = ["lattice_nbest", "distinct_sequences", "PathFinder", "word_labels", "to_fst", "BigramFn"]


def word_labels(lat: Lattice, fillers: FillerMap) -> tuple[list[int], dict[int, str]]:
    """Integer labels of the arcs (0 for fillers, 1.. for words in order of appearance) and label -> word."""
    index: dict[str, int] = {}
    labels = []
    for sym in lat.symbols:
        w = fillers(sym)
        labels.append(0 if w is None else index.setdefault(w, len(index) + 1))
    return labels, {i: w for w, i in index.items()}


def to_fst(lat: Lattice, labels: list[int], cost: np.ndarray, arc_ids: bool = False):
    """The lattice as a kaldifst ``StdVectorFst``: input labels ``labels`` (0: epsilon), tropical
    weights ``cost`` (``(E,)``); output labels the input labels (an acceptor) or, with ``arc_ids``,
    the arc index plus one (to find the arcs of a path)."""
    fst = kaldifst.StdVectorFst()
    for _ in range(lat.num_states):
        fst.add_state()
    fst.start = lat.start
    fst.set_final(lat.final, 0.0)
    for a, (s, d, lab, c) in enumerate(zip(lat.src.tolist(), lat.dst.tolist(), labels, cost.tolist())):
        fst.add_arc(s, kaldifst.StdArc(lab, a + 1 if arc_ids else lab, c, d))
    return fst


BigramFn = Callable[[str, str], float]


def _bigram_acceptor(fst, id2word: dict[int, str], bigram: BigramFn, scale: float):
    """An acceptor G scoring ``scale * log P(w | prev)`` (as cost), over the word pairs of ``fst`` only.

    G's states are "previous word" (state 0: ``<s>``); composing an epsilon-free
    lattice with it puts exact bigram scores on every path, ``</s>`` included.
    """
    incoming: dict[int, set[int]] = {fst.start: {0}}
    arcs_by_state: dict[int, list[int]] = {}
    for state in range(fst.num_states):
        labels = []
        for arc in kaldifst.ArcIterator(fst, state):
            labels.append(arc.ilabel)
            incoming.setdefault(arc.nextstate, set()).add(arc.ilabel)
        arcs_by_state[state] = labels
    pairs: set[tuple[int, int]] = set()
    enders: set[int] = set()  # labels that can precede </s>
    for state, labels in arcs_by_state.items():
        for prev in incoming.get(state, ()):
            pairs.update((prev, w) for w in labels)
        if math.isfinite(fst.final(state).value):
            enders.update(incoming.get(state, ()))
    g = kaldifst.StdVectorFst()
    states = {0: g.add_state()}
    for label in id2word:
        states[label] = g.add_state()
    g.start = states[0]
    name = {0: "<s>", **id2word}
    for prev, w in sorted(pairs):
        g.add_arc(states[prev], kaldifst.StdArc(w, w, -scale * bigram(name[prev], name[w]), states[w]))
    for label in enders:
        g.set_final(states[label], -scale * bigram(name[label], "</s>"))
    kaldifst.arcsort(g, sort_type="ilabel")
    return g


def lattice_nbest(
    lat: Lattice,
    n: int,
    fillers: FillerMap | None = None,
    am_scale: float = 1.0,
    fp_lm_scale: float = 1.0,
    bigram: BigramFn | None = None,
    bigram_scale: float = 0.0,
) -> list[Hypothesis]:
    """The ``n`` best distinct word sequences of a first-pass lattice (kaldifst/OpenFst).

    Paths are ranked by ``am_scale * am + fp_lm_scale * fp_lm``; fillers are epsilons. When the
    lattice holds no LM scores (pocketsphinx writes acoustic scores only), ranking by acoustic
    score alone keeps poor hypotheses; give ``bigram`` (a first-pass LM, ``bigram(prev, word) ->
    log P(word | prev)`` in nats, with ``<s>``/``</s>``) and ``bigram_scale``: the epsilon-free
    lattice is composed with a bigram acceptor built over the word pairs that occur in it, so
    paths are also ranked by ``bigram_scale * log P_bigram(W)``. The bigram term is a function of
    the words alone, so it does not change which path of a word sequence is best, and it is not
    part of the scores returned.

    Returns:
        Hypotheses, best first (by the ranking score), each a distinct word sequence with the
        scores of its best path, unscaled: ``am`` (nats) and ``fp_lm`` (nats), or ``fp_lm=None``
        when the lattice's ``fp_lm`` is all zero (no first-pass LM scores in the file).

    Raises:
        ValueError: for ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    labels, id2word = word_labels(lat, fillers or FillerMap())
    fp = lat.fp_lm if lat.fp_lm is not None else np.zeros(lat.num_arcs)
    cost = -(am_scale * lat.am + fp_lm_scale * fp)
    fst = to_fst(lat, labels, cost)
    kaldifst.rmepsilon(fst)
    if bigram is not None and bigram_scale != 0.0:
        kaldifst.arcsort(fst, sort_type="olabel")
        fst = kaldifst.compose(fst, _bigram_acceptor(fst, id2word, bigram, bigram_scale))
    has_fp = bool(np.any(fp != 0.0))
    paths = PathFinder(lat, labels, cost)
    ranked = []
    for _, seq in distinct_sequences(fst, n):
        arcs = paths.best_path_arcs(seq)
        ranked.append(Hypothesis(tuple(id2word[i] for i in seq), float(lat.am[arcs].sum()),
                                 float(fp[arcs].sum()) if has_fp else None))
    return ranked


class PathFinder:
    """The arcs of a word sequence's best path through a lattice: the lattice (arc ids as output
    labels, tropical ``cost``) composed with the sequence's linear acceptor (kaldifst), so that each
    score of the path can be summed separately."""

    def __init__(self, lat: Lattice, labels: list[int], cost: np.ndarray) -> None:
        self.fst = to_fst(lat, labels, cost, arc_ids=True)
        kaldifst.arcsort(self.fst, sort_type="ilabel")

    def best_path_arcs(self, seq: list[int]) -> np.ndarray:
        """``(k,)`` int64 arc indices of the best path with word labels ``seq`` (``labels`` of
        :func:`word_labels`), epsilon arcs included."""
        best = kaldifst.shortest_path(kaldifst.compose(kaldifst.make_linear_acceptor(seq), self.fst), n=1)
        _, _, olabels, _ = kaldifst.get_linear_symbol_sequence(best)
        return np.array([o - 1 for o in olabels if o], dtype=np.int64)


def distinct_sequences(fst, n: int) -> list[tuple[float, list[int]]]:
    """The ``n`` best distinct label sequences of an epsilon-free acceptor ``fst`` (a kaldifst
    ``StdVectorFst``, tropical costs): determinization, then ``shortest_path(n)`` (OpenFst).

    Returns:
        ``(score, labels)`` pairs, best first: ``score`` is minus the sequence's best path cost,
        ``labels`` its non-epsilon input labels.
    """
    det = kaldifst.determinize(fst)
    out = []
    for p in kaldifst.convert_nbest_to_vector(kaldifst.shortest_path(det, n=n)):
        _, ilabels, _, weight = kaldifst.get_linear_symbol_sequence(p)
        out.append((-float(weight.value), [i for i in ilabels if i]))
    out.sort(key=lambda x: -x[0])
    return out
