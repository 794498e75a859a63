"""The input lattice before a pruned expansion: forward-backward over its own scores, arcs beyond the
lattice beam dropped, states grouped by depth (:func:`prune_lattice`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lightrnn_asr.formats.lattice import Lattice, LatticeFormatError, out_arcs, topological_order

__all__ = ["PrunedLattice", "prune_lattice"]


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
class PrunedLattice:
    """The input lattice after the lattice beam: kept arcs per state, and its states grouped by depth
    (the longest arc count from the start over kept arcs; states of equal depth are independent)."""

    out: list[list[int]]
    by_depth: dict[int, list[int]]
    bwd: np.ndarray
    words_left: np.ndarray


def prune_lattice(lat: Lattice, word_id: Sequence[int], lattice_beam: float, where: str) -> PrunedLattice:
    """Forward-backward over ``am + fp_lm`` of the input (a lattice as read); arcs more than ``lattice_beam`` below the best
    path are dropped.

    Raises:
        LatticeFormatError: for a cycle, or when no path reaches the final state.
    """
    order = topological_order(lat, where)
    out = out_arcs(lat)
    weight = lat.am + (lat.fp_lm if lat.fp_lm is not None else 0.0)
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


