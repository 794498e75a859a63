import pytest
import torch

from lightrnn_asr.data import Corpus
from lightrnn_asr.model import LMConfig, LightRNN
from lightrnn_asr.reallocation import SOLVERS, allocation_cost, loss_tables, reallocate
from lightrnn_asr.table import WordTable


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_reallocation_never_increases_total_loss(solver):
    g = torch.Generator().manual_seed(7)
    for _ in range(10):
        v = int(torch.randint(3, 40, (1,), generator=g))
        current = WordTable.random(v, g)
        row_loss = torch.rand(v, current.n_rows, generator=g, dtype=torch.float64)
        col_loss = torch.rand(v, current.n_cols, generator=g, dtype=torch.float64)
        new, before, after = reallocate(row_loss, col_loss, current, solver)
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
