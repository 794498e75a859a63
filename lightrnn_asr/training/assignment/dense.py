"""The dense solvers: the exact matching (scipy), the published greedy heuristic, and block-coordinate
descent by exact row and column re-placements."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.training.assignment.common import CHUNK, check_tables, line_sweeps

__all__ = ["EXACT_MAX_ENTRIES", "solve_alternating", "solve_exact", "solve_greedy"]

#: Largest dense cost matrix (in float64 entries) :func:`solve_exact` accepts: 2 GiB.
EXACT_MAX_ENTRIES = 2**28


def solve_exact(
    row_loss: torch.Tensor, col_loss: torch.Tensor, n_rows: int, n_cols: int, init: WordTable | None = None
) -> WordTable:
    """Exact minimum-weight matching of |V| words to R*C cells.

    Builds the dense ``(|V|, R*C)`` cost matrix and solves it with
    ``scipy.optimize.linear_sum_assignment`` (rectangular: every word gets a
    distinct cell, cells may stay empty). Time is cubic, memory
    ``8 * |V| * R * C`` bytes: fine up to a few thousand words. ``init`` is
    ignored (the optimum does not depend on the start).

    Raises:
        ValueError: on inconsistent shapes, or when the dense problem would
            exceed :data:`EXACT_MAX_ENTRIES` entries (use another solver).
    """
    check_tables(row_loss, col_loss, n_rows, n_cols)
    v = row_loss.shape[0]
    if v * n_rows * n_cols > EXACT_MAX_ENTRIES:
        raise ValueError(
            f"the exact solver needs a {v} x {n_rows * n_cols} dense cost matrix; "
            "too large, choose another solver"
        )
    cost = (row_loss.double().numpy()[:, :, None] + col_loss.double().numpy()[:, None, :]).reshape(v, -1)
    words, cells = linear_sum_assignment(cost)
    cell = np.empty(v, dtype=np.int64)
    cell[words] = cells
    return WordTable(torch.from_numpy(cell), n_rows, n_cols)


def _regret(table: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """``mean_k table[w, k] - min_k table[w, k]`` for ``words`` (float64): what a word risks losing."""
    out = torch.empty(words.numel(), dtype=torch.float64)
    for s in range(0, words.numel(), CHUNK):
        c = table[words[s : s + CHUNK]].double()
        out[s : s + CHUNK] = c.mean(1) - c.min(1).values
    return out


def solve_greedy(
    row_loss: torch.Tensor, col_loss: torch.Tensor, n_rows: int, n_cols: int, init: WordTable | None = None
) -> WordTable:
    """The greedy heuristic of the LightRNN reference code, as a baseline.

    Words are taken in decreasing order of regret (mean row loss minus the
    best row loss: the words with most to lose first, as the reference code's
    priority queue does); each takes its cheapest row that still has room
    (capacity C). Then, in every row, its words in decreasing order of
    column regret each take their cheapest free column. ``O(|V| sqrt|V|)``
    time, one Python step per word; ``init`` is ignored.
    """
    check_tables(row_loss, col_loss, n_rows, n_cols)
    v = row_loss.shape[0]
    words = torch.arange(v)
    room = np.full(n_rows, n_cols, dtype=np.int64)
    full = np.zeros(n_rows, dtype=bool)
    row = np.empty(v, dtype=np.int64)
    for w in torch.argsort(_regret(row_loss, words), descending=True).tolist():
        cost = row_loss[w].double().numpy()
        r = int(np.argmin(np.where(full, np.inf, cost)))
        row[w] = r
        room[r] -= 1
        full[r] = room[r] == 0
    cell = np.empty(v, dtype=np.int64)
    col_regret = _regret(col_loss, words).numpy()
    for r in range(n_rows):
        members = np.flatnonzero(row == r)
        taken = np.zeros(n_cols, dtype=bool)
        costs = col_loss[torch.from_numpy(members)].double().numpy()
        for i in np.argsort(-col_regret[members], kind="stable"):
            c = int(np.argmin(np.where(taken, np.inf, costs[i])))
            taken[c] = True
            cell[members[i]] = r * n_cols + c
    return WordTable(torch.from_numpy(cell), n_rows, n_cols)



def solve_alternating(
    row_loss: torch.Tensor,
    col_loss: torch.Tensor,
    n_rows: int,
    n_cols: int,
    init: WordTable | None = None,
    max_sweeps: int = 20,
    tol: float = 1e-9,
) -> WordTable:
    """Block-coordinate descent whose every step is an exact assignment.

    Starting from ``init`` (the current allocation; the row-major one when
    ``None``), a sweep first re-places, for every column, the words of that
    column among its R cells (an exact ``linear_sum_assignment`` on
    ``row_loss``, the column term being constant), then, for every row, the
    words of that row among its C cells (on ``col_loss``). Every step is
    optimal for its block, so the total cost never increases; sweeps stop
    when one gains less than ``tol`` relative.

    Returns:
        A local optimum: no single column and no single row can be re-arranged
        for less cost. Not in general the global optimum (see :func:`solve_exact`).
    """
    check_tables(row_loss, col_loss, n_rows, n_cols)
    v = row_loss.shape[0]
    cell = init.cell.clone() if init is not None else torch.arange(v)
    return WordTable(line_sweeps(row_loss, col_loss, cell, n_rows, n_cols, max_sweeps, tol), n_rows, n_cols)


