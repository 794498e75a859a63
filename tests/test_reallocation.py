import itertools

import pytest
import torch

from lightrnn_asr.data import Corpus
from lightrnn_asr.model import LMConfig, LightRNN
from lightrnn_asr.reallocation import allocation_cost, loss_tables, reallocate, solve_exact
from lightrnn_asr.table import WordTable


def brute_force(row_loss, col_loss, n_rows, n_cols):
    v = row_loss.shape[0]
    best = float("inf")
    for cells in itertools.permutations(range(n_rows * n_cols), v):
        t = WordTable(torch.tensor(cells), n_rows, n_cols)
        best = min(best, allocation_cost(row_loss, col_loss, t))
    return best


@pytest.mark.parametrize("v,n_rows,n_cols,seed", [(4, 2, 2, 0), (4, 2, 2, 1), (5, 2, 3, 2), (6, 2, 3, 3), (5, 3, 2, 4)])
def test_exact_solver_matches_brute_force(v, n_rows, n_cols, seed):
    g = torch.Generator().manual_seed(seed)
    row_loss = torch.rand(v, n_rows, generator=g, dtype=torch.float64) * 10
    col_loss = torch.rand(v, n_cols, generator=g, dtype=torch.float64) * 10
    table = solve_exact(row_loss, col_loss, n_rows, n_cols)
    assert allocation_cost(row_loss, col_loss, table) == pytest.approx(brute_force(row_loss, col_loss, n_rows, n_cols))


def test_reallocation_never_increases_total_loss():
    g = torch.Generator().manual_seed(7)
    for _ in range(20):
        v = int(torch.randint(3, 40, (1,), generator=g))
        current = WordTable.random(v, g)
        row_loss = torch.rand(v, current.n_rows, generator=g, dtype=torch.float64)
        col_loss = torch.rand(v, current.n_cols, generator=g, dtype=torch.float64)
        new, before, after = reallocate(row_loss, col_loss, current)
        assert after <= before + 1e-9
        assert after == pytest.approx(allocation_cost(row_loss, col_loss, new))
        assert before == pytest.approx(allocation_cost(row_loss, col_loss, current))


def test_reallocate_keeps_current_table_when_solver_is_worse():
    current = WordTable.sequential(4)
    row_loss = torch.tensor([[0.0, 9], [0, 9], [9, 0], [9, 0]], dtype=torch.float64)
    col_loss = torch.tensor([[0.0, 9], [9, 0], [0, 9], [9, 0]], dtype=torch.float64)
    worst = WordTable(torch.tensor([3, 2, 1, 0]), 2, 2)
    table, before, after = reallocate(row_loss, col_loss, current, solver=lambda *a, **k: worst)
    assert table is current and before == after == 0.0


def test_loss_tables_match_explicit_sums():
    torch.manual_seed(0)
    table = WordTable.random(11, torch.Generator().manual_seed(0))
    model = LightRNN(LMConfig("lightrnn", 11, table.n_rows, table.n_cols, 6, 6, 1, 0.0), table).eval()
    sentences = [[3, 4, 5], [5, 5], [6, 3, 4, 7, 8]]
    row_loss, col_loss = loss_tables(model, Corpus.from_id_lists(sentences), max_tokens=7)
    assert row_loss.shape == (11, table.n_rows) and col_loss.shape == (11, table.n_cols)
    exp_row = torch.zeros_like(row_loss)
    exp_col = torch.zeros_like(col_loss)
    with torch.no_grad():
        for s in sentences:
            inputs, targets = torch.tensor([[0] + s]), torch.tensor([s + [1]])
            rl, cl = model.row_col_logprobs(inputs, targets)
            for t, w in enumerate(s + [1]):
                exp_row[w] -= rl[0, t].double()
                exp_col[w] -= cl[0, t].double()
    torch.testing.assert_close(row_loss, exp_row)
    torch.testing.assert_close(col_loss, exp_col)
    assert row_loss[9].abs().sum() == 0  # never a target: costs nothing anywhere
    # the current allocation's cost is the model's total NLL on the data
    total_nll = -sum(model.sentence_logprobs(torch.tensor([[0] + s]), torch.tensor([s + [1]]),
                                             torch.ones(1, len(s) + 1, dtype=torch.bool)).item() for s in sentences)
    assert allocation_cost(row_loss, col_loss, table) == pytest.approx(total_nll, rel=1e-5)


def test_exact_solver_rejects_bad_shapes():
    with pytest.raises(ValueError, match="do not match"):
        solve_exact(torch.zeros(4, 2), torch.zeros(4, 3), 2, 2)
    with pytest.raises(ValueError, match="cannot hold"):
        solve_exact(torch.zeros(5, 2), torch.zeros(5, 2), 2, 2)


def test_alternating_solver_is_monotone_bijective_and_near_exact():
    from lightrnn_asr.reallocation import solve_alternating

    g = torch.Generator().manual_seed(11)
    for v in (7, 30, 200):
        init = WordTable.random(v, g)
        counts = 50.0 / torch.arange(1, v + 1, dtype=torch.float64)  # Zipf-like loss magnitudes
        row_loss = torch.rand(v, init.n_rows, generator=g, dtype=torch.float64) * counts[:, None]
        col_loss = torch.rand(v, init.n_cols, generator=g, dtype=torch.float64) * counts[:, None]
        alt = solve_alternating(row_loss, col_loss, init.n_rows, init.n_cols, init=init)
        assert torch.unique(alt.cell).numel() == v
        c_init, c_alt = (allocation_cost(row_loss, col_loss, t) for t in (init, alt))
        c_exact = allocation_cost(row_loss, col_loss, solve_exact(row_loss, col_loss, init.n_rows, init.n_cols))
        assert c_exact - 1e-9 <= c_alt <= c_init
        assert c_alt <= 1.10 * c_exact  # random costs are its hardest case; real tables do better
        new, before, after = reallocate(row_loss, col_loss, init, solver="alternating")
        assert after == pytest.approx(c_alt) and before == pytest.approx(c_init)


def test_alternating_solver_finds_separable_optimum():
    # Each word has one clearly best row and one clearly best column, all distinct cells:
    # any row/column permutation of the start is undone within one sweep.
    from lightrnn_asr.reallocation import solve_alternating

    n = 4
    target = torch.randperm(n * n, generator=torch.Generator().manual_seed(2))
    row_loss = torch.ones(n * n, n, dtype=torch.float64)
    col_loss = torch.ones(n * n, n, dtype=torch.float64)
    row_loss[torch.arange(n * n), target // n] = 0
    col_loss[torch.arange(n * n), target % n] = 0
    start = WordTable(torch.arange(n * n), n, n)
    alt = solve_alternating(row_loss, col_loss, n, n, init=start)
    assert allocation_cost(row_loss, col_loss, alt) == 0.0
    assert torch.equal(alt.cell, target)
