"""Solvers for the word-to-cell assignment of bootstrap reallocation.

The problem (Li et al., NeurIPS 2016, Section 3.3): place |V| words into
distinct cells of an R x C grid minimising

    sum_w row_loss[w, r(w)] + col_loss[w, c(w)]

with ``row_loss`` ``(|V|, R)`` and ``col_loss`` ``(|V|, C)`` (nats; any float
dtype, float32 or bfloat16 halve the memory of float64 at |V| = 1M, where each
table has 10^9 entries). Every solver has the signature
``(row_loss, col_loss, n_rows, n_cols, init=None) -> WordTable``:

- :func:`solve_exact`: the dense minimum-weight matching (scipy), cubic;
  the reference for a few thousand words.
- :func:`solve_greedy`: the published heuristic's idea (the reference C++
  code of the LightRNN authors): words with most to lose choose first, each
  takes its cheapest row with room, then, row by row, its cheapest free column.
- :func:`solve_alternating`: block-coordinate descent from the current
  allocation, each block (one column's or one row's words) re-placed exactly.
- :func:`solve_transport`: the scalable solver. The cost separates into a row
  part and a column part, so relaxing the cell constraint into "at most C
  words per row" and "at most R words per column" gives two transportation
  problems (solved by a vectorised auction, Bertsekas' algorithm with
  epsilon-scaling and Jacobi bidding). Their dual prices pick for every word
  a few candidate rows and columns; the exact minimum-cost matching over
  the candidate cells (a min-cost flow, OR-tools) is the new allocation.

:func:`lower_bound` gives a certificate for large problems where the exact
optimum cannot be computed: the row and column transportation problems are
each a relaxation, so the sum of their optima is <= the optimum.
"""

from lightrnn_asr.training.assignment.common import allocation_cost
from lightrnn_asr.training.assignment.dense import EXACT_MAX_ENTRIES, solve_alternating, solve_exact, solve_greedy
from lightrnn_asr.training.assignment.transport import lower_bound, solve_rows_then_columns, solve_transport

__all__ = ["EXACT_MAX_ENTRIES", "allocation_cost", "lower_bound", "solve_alternating", "solve_exact", "solve_greedy",
           "solve_rows_then_columns", "solve_transport"]
