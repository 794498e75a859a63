import pytest
import torch

from lightrnn_asr.lm import LightRNN, LMConfig
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import Corpus
from lightrnn_asr.training.reallocation import SOLVERS, allocation_cost, loss_tables, occurring_words, reallocate


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
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=11, n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=6, hidden_dim=6, num_layers=1, dropout=0.0, recurrence="halfword"), table).eval()
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


@pytest.mark.parametrize("solver", ["exact", "transport"])
def test_reallocating_the_occurring_words_only_is_exact(solver):
    """Words absent from the text cost nothing anywhere: matching only the others loses nothing."""
    g = torch.Generator().manual_seed(3)
    v, active = 60, torch.tensor([0, 1, 4, 9, 10, 17, 23, 31, 42, 50, 51, 59])
    current = WordTable.random(v, g)
    row_loss = torch.zeros(v, current.n_rows, dtype=torch.float64)
    col_loss = torch.zeros(v, current.n_cols, dtype=torch.float64)
    row_loss[active] = torch.rand(active.numel(), current.n_rows, generator=g, dtype=torch.float64)
    col_loss[active] = torch.rand(active.numel(), current.n_cols, generator=g, dtype=torch.float64)
    full, _, full_cost = reallocate(row_loss, col_loss, current, "exact")
    sub, before, after = reallocate(row_loss[active], col_loss[active], current, solver, words=active)
    assert before == pytest.approx(allocation_cost(row_loss, col_loss, current))
    assert after == pytest.approx(allocation_cost(row_loss, col_loss, sub))  # a bijection of all 60 words
    assert after == pytest.approx(full_cost, rel=1e-6 if solver == "exact" else 1e-2)
    idle = torch.ones(v, dtype=torch.bool)
    idle[active] = False
    kept = idle & ~torch.isin(current.cell, sub.cell[active])
    assert torch.equal(sub.cell[kept], current.cell[kept])  # the others stay unless displaced
    with pytest.raises(ValueError, match="12 words for loss tables of 60 rows"):
        reallocate(row_loss, col_loss, current, solver, words=active)


def test_loss_tables_of_occurring_words_are_rows_of_the_full_tables():
    torch.manual_seed(0)
    table = WordTable.random(11, torch.Generator().manual_seed(0))
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=11, n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=6, hidden_dim=6, num_layers=1, dropout=0.0, recurrence="halfword"), table).eval()
    corpus = Corpus.from_id_lists([[3, 4, 5], [5, 5], [6, 3, 4, 7, 8]])
    words = occurring_words(corpus, 11)
    assert words.tolist() == [1, 3, 4, 5, 6, 7, 8]
    row_loss, col_loss = loss_tables(model, corpus, max_tokens=7)
    sub_row, sub_col = loss_tables(model, corpus, max_tokens=7, words=words)
    torch.testing.assert_close(sub_row, row_loss[words])
    torch.testing.assert_close(sub_col, col_loss[words])


def test_auto_solver_switches_to_rows_then_columns_for_large_problems(monkeypatch):
    import lightrnn_asr.training.reallocation as realloc

    calls = []
    monkeypatch.setattr(realloc, "solve_transport", lambda *a, **k: calls.append("transport") or k["init"])
    monkeypatch.setattr(realloc, "solve_rows_then_columns", lambda *a, **k: calls.append("rows") or k["init"])
    current = WordTable.random(50, torch.Generator().manual_seed(0))
    tables = torch.rand(50, current.n_rows), torch.rand(50, current.n_cols)
    reallocate(*tables, current, "auto")
    monkeypatch.setattr(realloc, "AUTO_ROWS_COLUMNS_FROM", 50)
    reallocate(*tables, current, "auto")
    assert calls == ["transport", "rows"]
