import itertools

import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lightrnn_asr.lm.table import WordTable, table_shape
from lightrnn_asr.training.assignment import (
    lower_bound,
    solve_alternating,
    solve_exact,
    solve_greedy,
    solve_rows_then_columns,
    solve_transport,
)
from lightrnn_asr.training.assignment.transport import _min_cost_matching, _transport
from lightrnn_asr.training.reallocation import allocation_cost


def brute_force(row_loss, col_loss, n_rows, n_cols):
    v = row_loss.shape[0]
    best = float("inf")
    for cells in itertools.permutations(range(n_rows * n_cols), v):
        t = WordTable(torch.tensor(cells), n_rows, n_cols)
        best = min(best, allocation_cost(row_loss, col_loss, t))
    return best


def zipf_tables(v, seed, kind):
    """Loss tables with Zipf-scaled magnitudes: uniform noise, or an LM-like shared row/column preference."""
    g = torch.Generator().manual_seed(seed)
    n_rows, n_cols = table_shape(v)
    counts = (50.0 / torch.arange(1, v + 1, dtype=torch.float64))[:, None]
    if kind == "uniform":
        return (torch.rand(v, n_rows, generator=g, dtype=torch.float64) * counts,
                torch.rand(v, n_cols, generator=g, dtype=torch.float64) * counts, n_rows, n_cols)
    row_pref = torch.rand(n_rows, generator=g, dtype=torch.float64) * 3
    col_pref = torch.rand(n_cols, generator=g, dtype=torch.float64) * 3
    return (counts * (row_pref + torch.randn(v, n_rows, generator=g, dtype=torch.float64)),
            counts * (col_pref + torch.randn(v, n_cols, generator=g, dtype=torch.float64)), n_rows, n_cols)


def separable_tables(n, seed, other=None):
    """n*n words on an n x n grid, each with one clearly best row and column, all distinct cells.

    Returns ``(row_loss, col_loss, target)``; non-best entries are 1, or ``other`` (a tensor) when given.
    """
    target = torch.randperm(n * n, generator=torch.Generator().manual_seed(seed))
    row_loss = torch.ones(n * n, n, dtype=torch.float64) if other is None else other[0].clone()
    col_loss = torch.ones(n * n, n, dtype=torch.float64) if other is None else other[1].clone()
    row_loss[torch.arange(n * n), target // n] = 0
    col_loss[torch.arange(n * n), target % n] = 0
    return row_loss, col_loss, target


@pytest.mark.parametrize("v,n_rows,n_cols,seed", [(4, 2, 2, 0), (4, 2, 2, 1), (5, 2, 3, 2), (6, 2, 3, 3), (5, 3, 2, 4)])
def test_exact_solver_matches_brute_force(v, n_rows, n_cols, seed):
    g = torch.Generator().manual_seed(seed)
    row_loss = torch.rand(v, n_rows, generator=g, dtype=torch.float64) * 10
    col_loss = torch.rand(v, n_cols, generator=g, dtype=torch.float64) * 10
    table = solve_exact(row_loss, col_loss, n_rows, n_cols)
    assert allocation_cost(row_loss, col_loss, table) == pytest.approx(brute_force(row_loss, col_loss, n_rows, n_cols))


@pytest.mark.parametrize("solver", [solve_exact, solve_greedy, solve_alternating, solve_transport,
                                    solve_rows_then_columns])
def test_solvers_reject_bad_shapes(solver):
    with pytest.raises(ValueError, match="do not match"):
        solver(torch.zeros(4, 2), torch.zeros(4, 3), 2, 2)
    with pytest.raises(ValueError, match="cannot hold"):
        solver(torch.zeros(5, 2), torch.zeros(5, 2), 2, 2)
    with pytest.raises(ValueError, match="floating-point"):
        solver(torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, 2), 2, 2)


@pytest.mark.parametrize("kind", ["uniform", "lm"])
@pytest.mark.parametrize("v", [7, 60, 400])
def test_transport_is_near_exact_and_beats_the_baselines(v, kind):
    row_loss, col_loss, n_rows, n_cols = zipf_tables(v, v, kind)
    init = WordTable.random(v, torch.Generator().manual_seed(v))
    stats = {}
    tables = {
        "exact": solve_exact(row_loss, col_loss, n_rows, n_cols),
        "greedy": solve_greedy(row_loss, col_loss, n_rows, n_cols),
        "alternating": solve_alternating(row_loss, col_loss, n_rows, n_cols, init=init),
        "transport": solve_transport(row_loss, col_loss, n_rows, n_cols, init=init, stats=stats),
    }
    cost = {name: allocation_cost(row_loss, col_loss, t) for name, t in tables.items()}
    for t in tables.values():
        assert torch.unique(t.cell).numel() == v
    scale = row_loss.abs().sum() + col_loss.abs().sum()
    slack = 1e-9 * float(scale)
    assert stats["lower_bound"] <= cost["exact"] + slack
    assert cost["exact"] <= min(cost.values()) + slack
    assert cost["transport"] <= cost["exact"] + 2e-3 * abs(cost["exact"]) + slack
    assert cost["transport"] <= min(cost["greedy"], cost["alternating"]) + slack
    assert stats["costs"][0] == pytest.approx(allocation_cost(row_loss, col_loss, init))
    assert all(b < a for a, b in zip(stats["costs"], stats["costs"][1:]))  # only improving steps are kept


def test_transport_accepts_low_precision_tables():
    row_loss, col_loss, n_rows, n_cols = zipf_tables(300, 3, "lm")
    exact = allocation_cost(row_loss, col_loss, solve_exact(row_loss, col_loss, n_rows, n_cols))
    for dtype in (torch.float32, torch.bfloat16):
        t = solve_transport(row_loss.to(dtype), col_loss.to(dtype), n_rows, n_cols)
        assert allocation_cost(row_loss, col_loss, t) <= exact + 0.01 * abs(exact)


def test_greedy_gives_every_word_its_best_cell_when_there_is_no_conflict():
    n = 5
    noise = (torch.rand(n * n, n, dtype=torch.float64) + 1, torch.rand(n * n, n, dtype=torch.float64) + 1)
    row_loss, col_loss, target = separable_tables(n, 1, noise)
    for solver in (solve_greedy, solve_transport):
        assert torch.equal(solver(row_loss, col_loss, n, n).cell, target)


def test_greedy_gives_contested_row_to_the_word_with_most_to_lose():
    # two words, one row of room each: both prefer row 0, word 1 loses more elsewhere
    row_loss = torch.tensor([[0.0, 1.0], [0.0, 5.0]], dtype=torch.float64)
    col_loss = torch.zeros(2, 1, dtype=torch.float64)
    table = solve_greedy(row_loss, col_loss, 2, 1)
    assert table.row.tolist() == [1, 0]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cap", [8, 12, 30])  # 3 free slots (dummy bidders); 23 and 113 (asymmetric auction)
def test_transportation_auction_is_optimal(seed, cap):
    g = torch.Generator().manual_seed(seed)
    v, k = 37, 5
    counts = (20.0 / torch.arange(1, v + 1, dtype=torch.float64))[:, None]
    # a shared preference for the first lines makes them contested at every capacity
    table = (torch.rand(v, k, generator=g, dtype=torch.float64) + torch.arange(k) * 0.5) * counts
    choice, price, bound = _transport(table, cap, 1e-6)
    assert torch.bincount(choice, minlength=k).max() <= cap
    # the same problem as a dense assignment with every line repeated `cap` times
    dense = table.numpy().repeat(cap, axis=1)
    r, c = linear_sum_assignment(dense)
    optimum = dense[r, c].sum()
    assert float(table[torch.arange(v), choice].sum()) == pytest.approx(optimum, abs=v * 1e-6 + 1e-9)
    assert optimum - v * 1e-6 - 1e-9 <= bound <= optimum + 1e-9  # the dual bound is valid and tight
    assert price.shape == (k,) and bool((price >= 0).all())
    # stopped early, the last bidders take lines with room and the bound stays valid
    early, _, early_bound = _transport(table, cap, 1e-6, tail=0.3)
    assert (early >= 0).all() and torch.bincount(early, minlength=k).max() <= cap
    assert early_bound <= optimum + 1e-9
    assert float(table[torch.arange(v), early].sum()) >= optimum - 1e-9


def test_lower_bound_is_below_the_optimum_and_tight_without_conflicts():
    row_loss, col_loss, n_rows, n_cols = zipf_tables(200, 5, "uniform")
    exact = allocation_cost(row_loss, col_loss, solve_exact(row_loss, col_loss, n_rows, n_cols))
    assert lower_bound(row_loss, col_loss) <= exact
    # without conflicts the relaxation is exact
    rl, cl, _ = separable_tables(4, 3)
    assert lower_bound(rl, cl) == pytest.approx(0.0, abs=1e-3)


def test_min_cost_matching_equals_dense_assignment():
    g = torch.Generator().manual_seed(0)
    n, cells = 12, 15
    cost = (torch.rand(n, cells, generator=g, dtype=torch.float64) - 0.5) * 1e-3  # below 1: integer costs need scaling
    cand = torch.arange(cells).expand(n, cells).clone()
    cost[0, 3] = float("inf")  # a dropped edge
    cell = _min_cost_matching(cost, cand, cells)
    assert torch.unique(cell).numel() == n and int(cell[0]) != 3
    dense = cost.numpy().copy()
    dense[0, 3] = 1e9
    r, c = linear_sum_assignment(dense)
    assert float(cost[torch.arange(n), cell].sum()) == pytest.approx(dense[r, c].sum(), rel=1e-9)


def test_alternating_solver_is_monotone_bijective_and_near_exact():
    g = torch.Generator().manual_seed(11)
    for v in (7, 30, 200):
        init = WordTable.random(v, g)
        row_loss, col_loss, n_rows, n_cols = zipf_tables(v, v + 1, "uniform")
        alt = solve_alternating(row_loss, col_loss, n_rows, n_cols, init=init)
        assert torch.unique(alt.cell).numel() == v
        c_init, c_alt = (allocation_cost(row_loss, col_loss, t) for t in (init, alt))
        c_exact = allocation_cost(row_loss, col_loss, solve_exact(row_loss, col_loss, n_rows, n_cols))
        assert c_exact - 1e-9 <= c_alt <= c_init
        assert c_alt <= 1.10 * c_exact  # random costs are its hardest case; real tables do better


def test_alternating_solver_finds_separable_optimum():
    # Each word has one clearly best row and one clearly best column, all distinct cells:
    # any row/column permutation of the start is undone within one sweep.
    n = 4
    row_loss, col_loss, target = separable_tables(n, 2)
    alt = solve_alternating(row_loss, col_loss, n, n, init=WordTable(torch.arange(n * n), n, n))
    assert allocation_cost(row_loss, col_loss, alt) == 0.0
    assert torch.equal(alt.cell, target)


@pytest.mark.parametrize("kind", ["uniform", "lm"])
@pytest.mark.parametrize("v", [60, 400, 900])
def test_rows_then_columns_is_valid_and_beats_greedy(v, kind):
    row_loss, col_loss, n_rows, n_cols = zipf_tables(v, v, kind)
    init = WordTable.random(v, torch.Generator().manual_seed(v))
    stats = {}
    table = solve_rows_then_columns(row_loss, col_loss, n_rows, n_cols, init=init, sweeps=1, stats=stats)
    assert torch.unique(table.cell).numel() == v and int(table.cell.max()) < n_rows * n_cols
    cost = allocation_cost(row_loss, col_loss, table)
    exact = allocation_cost(row_loss, col_loss, solve_exact(row_loss, col_loss, n_rows, n_cols))
    greedy = allocation_cost(row_loss, col_loss, solve_greedy(row_loss, col_loss, n_rows, n_cols))
    assert stats["costs"][0] == pytest.approx(allocation_cost(row_loss, col_loss, init))
    assert stats["costs"][-1] == pytest.approx(cost)
    assert stats["costs"][2] <= stats["costs"][1] + 1e-9  # a sweep never raises the cost
    assert exact - 1e-9 <= cost < greedy
    assert cost - exact <= 0.5 * (greedy - exact)  # closes more than half of greedy's gap to the optimum


def test_rows_then_columns_places_each_row_optimally():
    """After the row auction, every row's words sit in the columns that an exact per-row matching picks."""
    row_loss, col_loss, n_rows, n_cols = zipf_tables(400, 1, "lm")
    table = solve_rows_then_columns(row_loss, col_loss, n_rows, n_cols)
    for r in range(n_rows):
        members = (table.row == r).nonzero()[:, 0]
        _, cols = linear_sum_assignment(col_loss[members].numpy())
        assert float(col_loss[members, table.col[members]].sum()) == pytest.approx(
            float(col_loss[members, torch.from_numpy(cols)].sum()))


def test_rows_then_columns_keeps_a_better_start():
    rl, cl, target = separable_tables(4, 2)
    optimum = WordTable(target, 4, 4)
    table = solve_rows_then_columns(rl, cl, 4, 4, init=optimum)
    assert allocation_cost(rl, cl, table) == 0.0


def test_rows_then_columns_returns_the_start_when_it_finds_nothing_cheaper():
    row_loss, col_loss, n_rows, n_cols = zipf_tables(400, 2, "uniform")
    optimum = solve_exact(row_loss, col_loss, n_rows, n_cols)
    stats = {}
    table = solve_rows_then_columns(row_loss, col_loss, n_rows, n_cols, init=optimum, stats=stats)
    assert stats["costs"][-1] > stats["costs"][0]  # its own answer is worse than the optimum it started from
    assert torch.equal(table.cell, optimum.cell)
