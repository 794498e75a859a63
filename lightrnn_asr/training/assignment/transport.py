"""The scalable solvers: transportation relaxations solved by a vectorised auction, their dual bound,
and the exact min-cost matching over the candidate cells the duals pick (see the package docstring)."""

from __future__ import annotations

import time

import numpy as np
import torch
from ortools.graph.python import min_cost_flow

from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.training.assignment.common import CHUNK, assign_lines, cell_costs, check_tables, line_sweeps, table_cost

__all__ = ["lower_bound", "solve_rows_then_columns", "solve_transport"]


# long: one auction with epsilon-scaling; its phases share the bids, prices and assignment in place
def _transport(
    table: torch.Tensor,
    capacity: int,
    eps: float,
    phases: int = 3,
    theta: float = 10.0,
    max_iter: int = 20000,
    tail: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The transportation problem: every word one of K lines, at most ``capacity`` words per line.

    ``K * capacity - |V|`` dummy words with zero costs make it symmetric.
    Bertsekas' forward auction (minimisation form) with Jacobi bidding and
    epsilon-scaling; a line's ``capacity`` slots are sold as a class whose
    price is its cheapest slot, and a bid is set against the best *other*
    line (Bertsekas and Castanon's treatment of similar objects, which avoids
    price wars between identical slots). ``phases`` phases with epsilon
    ``eps * theta**j``, each ending when every word holds a slot; at the
    start of a phase every slot takes its class price again.

    Jacobi bidding resolves a chain of evictions one link a round, so a
    phase ends in a long tail of rounds with a handful of bidders. A phase
    stops once at most ``tail * n`` bidders are left (or after ``max_iter``
    rounds): an early phase only hands its prices on, and after the last
    one the remaining words take, one by one, the line of least reduced cost
    ``table[w] + price`` that has room. That word's choice is then not
    certified, but the bound below holds for any prices.

    Args:
        table: ``(|V|, K)`` costs of each word on each line.
        eps: final epsilon (nats).
        tail: fraction of bidders left when a phase stops (0: run to the end).

    Returns:
        ``(choice, price, bound)``: ``(|V|,)`` int64 line of every word;
        ``(K,)`` float64 line prices (dual variables); a lower bound (nats)
        on the optimum of the transportation problem (:func:`_dual_bound`).
    """
    v, k_objs = table.shape
    n = k_objs * capacity  # words plus dummies (ids >= v)
    if n - v > v // 8:
        # Many free slots (a vocabulary from a word list: few words occur in the text). Dummy
        # bidders would all chase the cheapest line, one line per round; instead solve the
        # asymmetric problem: no dummies, one phase from zero prices, which keeps the
        # slots no word wants at the lowest price, as optimality requires (Bertsekas, "Network Optimization", 1998: asymmetric assignment).
        n, phases = v, 1
    price = torch.zeros(k_objs, capacity, dtype=torch.float64)
    owner = torch.full((k_objs, capacity), -1, dtype=torch.long)
    held = torch.full((n,), -1, dtype=torch.long)
    for phase in range(phases):
        e = eps * theta ** (phases - 1 - phase)
        # the dual variable is one price per line (class); held bids above it are not carried over
        price[:] = price.amin(dim=1, keepdim=True)
        owner.fill_(-1)
        held.fill_(-1)
        todo = torch.arange(n)
        pi1 = price[:, 0].clone()  # every line's class price: its cheapest slot
        for _ in range(max_iter):
            if todo.numel() <= tail * n:
                break
            cls1 = torch.empty(todo.numel(), dtype=torch.long)
            bid = torch.empty(todo.numel(), dtype=torch.float64)
            for s in range(0, todo.numel(), CHUNK):
                idx = todo[s : s + CHUNK]
                cost = table[idx.clamp(max=v - 1)].double()
                cost[idx >= v] = 0.0
                vals = cost + pi1[None, :]
                if k_objs > 1:
                    top = vals.topk(2, dim=1, largest=False)
                    v1, v2, k1 = top.values[:, 0], top.values[:, 1], top.indices[:, 0]
                else:
                    v1, k1 = vals[:, 0], torch.zeros_like(idx)
                    v2 = v1 + 1e3 * e
                cls1[s : s + CHUNK] = k1
                bid[s : s + CHUNK] = pi1[k1] + (v2 - v1) + e
            # resolve: per line, bidders in decreasing bid take its slots in increasing price
            order = torch.argsort(bid, descending=True)
            order = order[torch.sort(cls1[order], stable=True).indices]
            c_sorted, b_sorted, who = cls1[order], bid[order], todo[order]
            # only the lines bid on are sorted: late rounds have few bidders, and sorting
            # all K * capacity prices every round dominated the run time
            lines, line_of = torch.unique_consecutive(c_sorted, return_inverse=True)
            sorted_price, slot_order = price[lines].sort(dim=1)
            first = torch.ones_like(c_sorted, dtype=torch.bool)
            first[1:] = c_sorted[1:] != c_sorted[:-1]
            pos = torch.arange(c_sorted.numel())
            rank = pos - torch.cummax(torch.where(first, pos, torch.zeros_like(pos)), 0).values
            rank_c = rank.clamp(max=capacity - 1)
            ok = (rank < capacity) & (b_sorted > sorted_price[line_of, rank_c])
            acc_c, acc_w, acc_b = c_sorted[ok], who[ok], b_sorted[ok]
            slot = slot_order[line_of[ok], rank_c[ok]]
            evicted = owner[acc_c, slot]
            evicted = evicted[evicted >= 0]
            held[evicted] = -1
            owner[acc_c, slot] = acc_w
            price[acc_c, slot] = acc_b
            held[acc_w] = acc_c
            pi1[lines] = price[lines].amin(1)
            todo = torch.cat([who[~ok], evicted])
    choice, line_price = held[:v], price.amin(1)
    _place_rest(table, choice, line_price, capacity)
    return choice, line_price, _dual_bound(table, line_price, capacity, n - v)


def _place_rest(table: torch.Tensor, choice: torch.Tensor, price: torch.Tensor, capacity: int) -> None:
    """Words with ``choice < 0`` take, one by one, the line of least ``table[w] + price`` with room (in place)."""
    rest = (choice < 0).nonzero()[:, 0]
    if rest.numel() == 0:
        return
    load = torch.bincount(choice[choice >= 0], minlength=price.numel())
    for w in rest.tolist():
        reduced = (table[w].double() + price).masked_fill(load >= capacity, float("inf"))
        k = int(reduced.argmin())
        choice[w] = k
        load[k] += 1


def _dual_bound(table: torch.Tensor, price: torch.Tensor, capacity: int, n_dummies: int) -> float:
    """The Lagrangian lower bound of a transportation problem for line prices ``price`` (nats).

    ``sum_w min_k (table[w, k] + price_k) + n_dummies * min_k price_k -
    capacity * sum_k price_k``: relaxing "at most ``capacity`` words per line"
    with multipliers ``price >= 0`` (or "exactly", with ``n_dummies`` zero-cost
    words filling the free slots, for prices of any sign) gives a problem
    that every word solves on its own. Valid for any such prices; tight at
    the auction's optimal ones up to its epsilon slack.
    """
    total = 0.0
    for s in range(0, table.shape[0], CHUNK):
        total += float((table[s : s + CHUNK].double() + price).amin(1).sum())
    return total + n_dummies * float(price.min()) - capacity * float(price.sum())


def solve_rows_then_columns(
    row_loss: torch.Tensor,
    col_loss: torch.Tensor,
    n_rows: int,
    n_cols: int,
    init: WordTable | None = None,
    sweeps: int = 0,
    rel_eps: float = 1e-3,
    tail: float = 1e-4,
    stats: dict | None = None,
) -> WordTable:
    """Reallocation for the largest vocabularies (|V| ~ 1M): rows by transportation, columns per row.

    1. Rows: the row transportation problem (every word a row, at most C
       words per row, cost ``row_loss``), by the vectorised auction of
       :func:`solve_transport`, stopped when a fraction ``tail`` of bidders
       is left (those take the cheapest row with room).
    2. Columns: inside every row, its words are matched to the C columns
       exactly (one ``linear_sum_assignment`` per row, in parallel).
    3. Optionally, ``sweeps`` sweeps of :func:`solve_alternating`: rows
       re-placed inside every column, then columns inside every row, each
       step exact (at |V| = 1M a sweep took 47 s on 2 cores and
       gains little: steps 1-2 already leave every row's columns optimal).

    Unlike :func:`solve_transport` it builds no candidate graph and solves
    no column relaxation, so its time is one auction plus ``1 + 2 * sweeps``
    rounds of ``sqrt|V|`` independent ``sqrt|V| x sqrt|V|`` assignment
    problems, and its memory the two tables plus ``O(|V|)``. The result is
    never worse than ``init``.

    Args:
        init: the current allocation (row-major when ``None``).
        sweeps: alternating sweeps after step 2.
        rel_eps: auction precision, relative to the mean per-word cost range.
        tail: fraction of the auction's bidders left unresolved (placed greedily).
        stats: when given, receives ``costs`` (nats after each step; the first is
            ``init``'s) and ``seconds`` (the row auction, the column assignments,
            each sweep).

    Raises:
        ValueError: on inconsistent shapes.
    """
    check_tables(row_loss, col_loss, n_rows, n_cols)
    v = row_loss.shape[0]
    start = (init.cell if init is not None else torch.arange(v)).to(torch.long)
    costs = [table_cost(row_loss, col_loss, start, n_cols)]
    clock = [time.perf_counter()]
    row = _transport(row_loss, n_cols, _epsilon(row_loss, rel_eps), tail=tail)[0]
    clock.append(time.perf_counter())
    cell = row * n_cols + assign_lines(col_loss, row, n_rows)
    clock.append(time.perf_counter())
    costs.append(table_cost(row_loss, col_loss, cell, n_cols))
    for _ in range(sweeps):
        cell = line_sweeps(row_loss, col_loss, cell, n_rows, n_cols, 1, 0.0)
        clock.append(time.perf_counter())
        costs.append(table_cost(row_loss, col_loss, cell, n_cols))
    if stats is not None:
        stats.update(costs=costs, seconds=[round(b - a, 2) for a, b in zip(clock, clock[1:])])
    if costs[-1] >= costs[0]:
        return WordTable(start.clone(), n_rows, n_cols)
    return WordTable(cell, n_rows, n_cols)


def _epsilon(table: torch.Tensor, rel: float) -> float:
    """Auction epsilon: ``rel`` times the mean over words of a word's cost range.

    One epsilon for all words converges much faster than one per word and
    gives the same total slack ``|V| * eps = rel * sum_w range_w``.
    """
    total = 0.0
    for s in range(0, table.shape[0], CHUNK):
        c = table[s : s + CHUNK].double()
        total += float((c.amax(1) - c.amin(1)).sum())
    return max(rel * total / table.shape[0], 1e-12)


def _relaxation(row_loss: torch.Tensor, col_loss: torch.Tensor, rel_eps: float, tail: float = 0.0):
    """Row and column transportation problems: their prices and a lower bound on the allocation cost."""
    n_rows, n_cols = row_loss.shape[1], col_loss.shape[1]
    bound, prices = 0.0, []
    for table, capacity in ((row_loss, n_cols), (col_loss, n_rows)):
        _, price, part = _transport(table, capacity, _epsilon(table, rel_eps), tail=tail)
        bound += part
        prices.append(price)
    return prices[0], prices[1], bound


def lower_bound(row_loss: torch.Tensor, col_loss: torch.Tensor, rel_eps: float = 1e-5, tail: float = 0.0) -> float:
    """A lower bound on the optimal allocation cost (nats), for problems too big for :func:`solve_exact`.

    Any allocation puts at most C words in a row and at most R in a column, so
    the optimum is at least the optimum of the row transportation problem
    plus that of the column one. Each of those is bounded from below by the
    Lagrangian dual at the auction's prices, which is valid for any prices
    and within the auction's epsilon slack of the relaxation's optimum.
    ``rel_eps`` and ``tail`` (see :func:`solve_rows_then_columns`) trade
    tightness for time.
    """
    return _relaxation(row_loss, col_loss, rel_eps, tail)[2]


def _min_cost_matching(cost: torch.Tensor, cand: torch.Tensor, n_cells: int) -> torch.Tensor:
    """Exact minimum-cost matching of every word to a distinct cell over candidate edges.

    A min-cost flow (source -> word -> cell -> sink, unit capacities) solved
    by OR-tools' cost-scaling push-relabel ``SimpleMinCostFlow``, which needs
    integer costs: each word's costs are shifted to start at 0 (no matching's
    ranking changes) and scaled so that the largest is 2^36, a resolution of
    1.5e-11 relative (OR-tools multiplies costs by the node count, which must
    not overflow int64).

    Args:
        cost: ``(n, m)`` float64 cost of word ``i`` in cell ``cand[i, j]``; ``inf`` drops the edge.
        cand: ``(n, m)`` int64 candidate cells.

    Returns:
        ``(n,)`` int64 cell of every word.

    Raises:
        RuntimeError: when the solver finds no matching (cannot happen when
            every word's row includes a cell of a feasible allocation).
    """
    n, m = cost.shape
    keep = torch.isfinite(cost)
    shifted = cost - cost.masked_fill(~keep, float("inf")).amin(1, keepdim=True)
    top = float(shifted[keep].max()) if bool(keep.any()) else 0.0
    units = torch.round(shifted[keep] * (2.0**36 / top if top > 0 else 1.0)).to(torch.int64)
    words = torch.arange(n)[:, None].expand(n, m)[keep]
    cells = cand[keep]
    source, sink = n + n_cells, n + n_cells + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([np.full(n, source), words.numpy(), n + np.arange(n_cells)]),
        np.concatenate([np.arange(n), n + cells.numpy(), np.full(n_cells, sink)]),
        np.ones(n + cells.numel() + n_cells, dtype=np.int64),
        np.concatenate([np.zeros(n, dtype=np.int64), units.numpy(), np.zeros(n_cells, dtype=np.int64)]),
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[source], supplies[sink] = n, -n
    flow.set_nodes_supplies(np.arange(sink + 1), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    used = np.flatnonzero(flow.flows(np.arange(n, n + cells.numel())))
    cell = torch.empty(n, dtype=torch.long)
    cell[words[used]] = cells[used]
    return cell


def _candidate_matching(row_loss, col_loss, rows, cols, grid, grid_cost, cell, n_cols: int) -> torch.Tensor:
    """Exact matching over each word's candidate cells: the ``rows x cols`` grid (``grid``, with
    costs ``grid_cost``), its current cell, and the cells of its current row in ``cols`` and of its
    current column in ``rows``."""
    row, col = torch.div(cell, n_cols, rounding_mode="floor"), cell % n_cols
    # the current cell keeps the problem feasible, so the cost never rises
    near = torch.cat([cell[:, None], row[:, None] * n_cols + cols, rows * n_cols + col[:, None]], 1)
    cand = torch.cat([grid, near], 1)
    cost = torch.cat([grid_cost, cell_costs(row_loss, col_loss, near, n_cols)], 1)
    return _min_cost_matching(cost, cand, row_loss.shape[1] * n_cols)


def _top_k(table: torch.Tensor, price: torch.Tensor, k: int) -> torch.Tensor:
    """``(|V|, k)`` int64: for every word the k lines of least reduced cost ``table[w] + price``."""
    out = torch.empty(table.shape[0], k, dtype=torch.long)
    for s in range(0, table.shape[0], CHUNK):
        out[s : s + CHUNK] = (table[s : s + CHUNK].double() + price).topk(k, dim=1, largest=False).indices
    return out


def solve_transport(
    row_loss: torch.Tensor,
    col_loss: torch.Tensor,
    n_rows: int,
    n_cols: int,
    init: WordTable | None = None,
    k: int = 8,
    rounds: int = 3,
    max_sweeps: int = 2,
    tol: float = 1e-4,
    rel_eps: float = 1e-3,
    stats: dict | None = None,
) -> WordTable:
    """Near-optimal reallocation for huge vocabularies: relaxation duals, sparse exact matchings, sweeps.

    1. Relaxation: the row transportation problem (every word a row, at most
       C words per row, cost ``row_loss``) and the column one, solved by a
       vectorised auction (Bertsekas' algorithm, epsilon-scaling, Jacobi
       bids). Their prices ``alpha`` (rows) and ``beta`` (columns) are dual
       variables of a relaxation of the allocation problem; their optimal
       values add up to a lower bound.
    2. Candidates: for every word the ``k`` rows of least reduced cost
       ``row_loss[w, r] + alpha_r`` and the ``k`` columns of least
       ``col_loss[w, c] + beta_c``: their ``k^2`` cells, the word's current
       cell, and the candidate cells on its current row and column.
    3. The minimum-cost matching of words to cells over these edges, exactly,
       as a min-cost flow (OR-tools' ``SimpleMinCostFlow``). The current
       allocation is a feasible matching, so the cost never rises.
    4. ``rounds`` times: ``max_sweeps`` sweeps of exact whole-line
       re-placements (:func:`solve_alternating`'s step, which reaches cells
       outside the candidates), then step 3 again around the new allocation;
       stop when a round gains less than ``tol`` relative.

    Every step is exact for its sub-problem and accepted only when it lowers
    the cost. Time is dominated by the flow (``|V| (k + 1)^2`` edges) and the
    sweeps (``2 sqrt|V|`` assignment problems of ``sqrt|V|`` words each).
    Memory: the two tables plus about ``24 (k + 1)^2`` bytes per word.

    Args:
        init: the current allocation (row-major when ``None``).
        k: candidate rows and columns per word.
        rounds, max_sweeps, tol: the refinement of step 4 (``rounds=0`` skips it).
        rel_eps: auction precision, relative to the mean per-word cost range.
        stats: when given, receives ``lower_bound`` (nats, a certificate:
            no allocation costs less) and ``costs`` (nats after each accepted step).

    Raises:
        ValueError: on inconsistent shapes.
    """
    check_tables(row_loss, col_loss, n_rows, n_cols)
    v = row_loss.shape[0]
    alpha, beta, bound = _relaxation(row_loss, col_loss, rel_eps)
    rows = _top_k(row_loss, alpha, min(k, n_rows))
    cols = _top_k(col_loss, beta, min(k, n_cols))
    grid = (rows[:, :, None] * n_cols + cols[:, None, :]).reshape(v, -1)
    grid_cost = cell_costs(row_loss, col_loss, grid, n_cols)
    cell = (init.cell if init is not None else torch.arange(v)).to(torch.long)
    history = [table_cost(row_loss, col_loss, cell, n_cols)]
    round_start = history[-1]
    for step in range(2 * rounds + 1):
        if step % 2:  # exact block-coordinate sweeps: whole rows and columns, which the candidates lack
            new = line_sweeps(row_loss, col_loss, cell, n_rows, n_cols, max_sweeps, 0.0)
        else:  # exact matching over the candidate cells plus the current ones
            new = _candidate_matching(row_loss, col_loss, rows, cols, grid, grid_cost, cell, n_cols)
        cost = table_cost(row_loss, col_loss, new, n_cols)
        if cost < history[-1]:
            cell = new
            history.append(cost)
        if step % 2 == 0 and step:
            if round_start - history[-1] <= tol * max(1.0, abs(round_start)):
                break
            round_start = history[-1]
    if stats is not None:
        stats.update(lower_bound=bound, costs=history)
    return WordTable(cell, n_rows, n_cols)

