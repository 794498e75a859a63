"""The training schedule's options: rounds to convergence, a time budget, a token budget, a fresh optimizer after a
reallocation, the learning-rate decay; and the model options they go with (tied weights, a random
initial allocation)."""

import json
import time

import pytest
import torch

from lightrnn_asr.lm import LMConfig
from lightrnn_asr.lm.build import new_model
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import encode_corpus, length_batches, make_batch, read_sentences
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training import loop, reallocation
from lightrnn_asr.training.epoch import LossModule
from lightrnn_asr.training.loop import TrainConfig, train
from lightrnn_asr.training.reallocation import LossTableSums, loss_tables


def setup(toy_text):
    train_path, valid_path = toy_text
    vocab = Vocabulary.from_sentences(read_sentences(train_path))
    return vocab, encode_corpus(train_path, vocab), encode_corpus(valid_path, vocab)


def small_lightrnn(vocab, **kw):
    torch.manual_seed(0)
    return new_model("lightrnn", len(vocab), embed_dim=16, hidden_dim=16, num_layers=1, dropout=0.0, recurrence="word-sum",
                     **{"col_hidden_dim": 0, "input_shortlist": 0, "output_shortlist": 0, **kw})


def test_rounds_to_convergence_stop_at_the_first_epoch_without_improvement(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    model, table = small_lightrnn(vocab)
    cfg = TrainConfig(rounds=2, epochs_per_round=0, min_improvement=0.01, max_epochs_per_round=30, lr=1e-2,
                      max_tokens=400, patience=5)
    hist = train(model, vocab, table, tr, va, cfg, tmp_path, device="cpu")
    for rec in hist:
        ppls = [ep["valid_ppl"] for ep in rec["epochs"]]
        assert 1 < len(ppls) < 30  # converged within the round, in more than one epoch
        # every epoch but the last improved the round's best by >= 1 %; the last did not
        for k in range(1, len(ppls) - 1):
            assert ppls[k] <= min(ppls[:k]) * 0.99
        assert ppls[-1] > min(ppls[:-1]) * 0.99
    assert "realloc" in hist[0]
    best = load_checkpoint(tmp_path / "best.pt")
    best_ppl = min(ep["valid_ppl"] for rec in hist for ep in rec["epochs"])
    saved = [ep["valid_ppl"] for rec in json.loads(best.train_state["history"]) for ep in rec["epochs"]
             if "valid_ppl" in ep]
    assert min(saved) == pytest.approx(best_ppl)  # best.pt is the best epoch, not the last of a round


def test_time_budget_stops_mid_epoch_and_counts_reallocation(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    model, table = small_lightrnn(vocab)
    real_epoch = loop._train_epoch
    calls = []

    def slow_epoch(*args, **kwargs):  # every epoch takes 0.3 s of wall time
        calls.append(args[10])  # the deadline
        res = real_epoch(*args, **kwargs)
        time.sleep(0.3)
        res.seconds += 0.3
        return res

    loop._train_epoch = slow_epoch
    try:
        cfg = TrainConfig(rounds=50, lr=1e-2, max_tokens=400, patience=50, time_budget_s=4.0)
        hist = train(model, vocab, table, tr, va, cfg, tmp_path, device="cpu")
    finally:
        loop._train_epoch = real_epoch
    used = hist[-1]["elapsed_s"]
    epoch_s = max(r["train_seconds"] for r in hist)
    assert 4.0 <= used < 4.0 + epoch_s  # stopped in the round that spent the budget
    assert 2 <= len(hist) < 50 and "realloc" in hist[0]
    # training and reallocation seconds up to the last round's training, nothing else
    spent = sum(r["train_seconds"] for r in hist) + sum(r.get("realloc", {}).get("seconds", 0) for r in hist[:-1])
    assert used == pytest.approx(spent, rel=1e-9)
    assert "realloc" not in hist[-1] or hist[-1]["realloc"]["seconds"] > 0
    assert all(d is not None for d in calls)
    assert load_checkpoint(tmp_path / "last.pt").train_state["elapsed_s"] == pytest.approx(used)


def test_token_budget_stops_at_the_same_step_whatever_the_speed(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    epoch_tokens = tr.num_tokens
    budget = int(2.5 * epoch_tokens)
    runs = []
    for k, pause in enumerate((0.0, 0.2)):  # the second run is slower: the same stop all the same
        model, table = small_lightrnn(vocab)
        real_epoch = loop._train_epoch

        def slow_epoch(*args, **kwargs):
            res = real_epoch(*args, **kwargs)
            time.sleep(pause)
            return res

        loop._train_epoch = slow_epoch
        try:
            cfg = TrainConfig(rounds=50, lr=1e-2, max_tokens=400, patience=50, token_budget=budget)
            hist = train(model, vocab, table, tr, va, cfg, tmp_path / str(k), device="cpu")
        finally:
            loop._train_epoch = real_epoch
        runs.append((hist, {n: t.clone() for n, t in model.state_dict().items()}))
    (hist, weights), (hist2, weights2) = runs
    trained = sum(r["train_tokens"] for r in hist)
    assert budget <= trained < budget + 400  # the batch that reaches the budget is the last one
    assert len(hist) == 3 and [e["cut_short"] for r in hist for e in r["epochs"]] == [False, False, True]
    # a reallocation only where an epoch's tokens are left to recover from it
    assert "realloc" in hist[0] and "realloc" not in hist[1] and "realloc" not in hist[2]
    assert [r["valid_ppl"] for r in hist] == [r["valid_ppl"] for r in hist2]
    assert all(torch.equal(weights[n], weights2[n]) for n in weights)
    assert load_checkpoint(tmp_path / "0" / "last.pt").train_state["tokens_trained"] == trained


def test_deadline_cuts_an_epoch_short(toy_text):
    from lightrnn_asr.training.epoch import LossModule, grad_scaler, train_epoch
    from lightrnn_asr.utils.distributed import DistContext

    vocab, tr, _ = setup(toy_text)
    model, _ = small_lightrnn(vocab)
    opt = torch.optim.Adam(model.parameters())
    args = (model, LossModule(model), tr, opt, grad_scaler(False), TrainConfig(max_tokens=20),
            torch.Generator().manual_seed(0), torch.device("cpu"), "", DistContext())
    full = train_epoch(*args)
    cut = train_epoch(*args, deadline=time.perf_counter())  # already past: stops at the first check
    assert not full.cut_short and cut.cut_short
    assert 0 < cut.tokens < full.tokens


def test_reset_optimizer_after_reallocation(toy_text, tmp_path, monkeypatch):
    vocab, tr, va = setup(toy_text)
    made = []
    real_adam = torch.optim.Adam

    def counting_adam(params, lr):
        made.append(lr)
        return real_adam(params, lr=lr)

    monkeypatch.setattr(loop.torch.optim, "Adam", counting_adam)
    for reset, expected in ((False, 1), (True, 3)):  # 3 rounds, 2 reallocations
        made.clear()
        model, table = small_lightrnn(vocab)
        cfg = TrainConfig(rounds=3, lr=1e-2, max_tokens=400, patience=5, reset_optimizer=reset)
        hist = train(model, vocab, table, tr, va, cfg, tmp_path / str(reset), device="cpu")
        assert sum("realloc" in h for h in hist) == 2
        assert len(made) == expected
        assert all(lr == hist[0]["lr"] or lr < hist[0]["lr"] for lr in made)


def test_lr_decay_applies_to_rounds_without_improvement(toy_text, tmp_path, monkeypatch):
    vocab, tr, va = setup(toy_text)
    ppls = iter([10.0, 12.0, 11.0, 9.0])  # rounds 1 and 2 do not beat round 0
    monkeypatch.setattr(loop._Run, "valid_ppl", lambda self: next(ppls))
    model, _ = new_model("lstm", len(vocab), embed_dim=16, hidden_dim=16, num_layers=1, dropout=0.0)
    hist = train(model, vocab, None, tr, va, TrainConfig(rounds=4, lr=0.01, lr_decay=0.25, patience=5,
                                                         max_tokens=400), tmp_path, device="cpu")
    assert [h["lr"] for h in hist] == pytest.approx([0.01, 0.01, 0.0025, 0.000625])
    assert [h["improved"] for h in hist] == [True, False, False, True]


def test_tied_weights_share_one_tensor_and_survive_a_checkpoint(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    model, table = small_lightrnn(vocab, tie_weights=True)
    untied, _ = small_lightrnn(vocab)
    assert model.row_head.weight is model.row_embed.weight and model.col_head.weight is model.col_embed.weight
    assert model.num_parameters() == untied.num_parameters() - model.row_embed.weight.numel() - model.col_embed.weight.numel()
    train(model, vocab, table, tr, va, TrainConfig(rounds=2, lr=1e-2, max_tokens=400, patience=5), tmp_path, device="cpu")
    loaded = load_checkpoint(tmp_path / "last.pt").model
    assert loaded.config.tie_weights
    assert loaded.row_head.weight is loaded.row_embed.weight
    assert torch.equal(loaded.row_head.weight, model.row_embed.weight)
    with pytest.raises(ValueError, match="tie_weights"):
        LMConfig(model_type="lightrnn", vocab_size=10, n_rows=4, n_cols=4, embed_dim=16, hidden_dim=32,
                 tie_weights=True, recurrence="halfword")
    with pytest.raises(ValueError, match="tie_weights"):
        LMConfig(model_type="lstm", vocab_size=10, n_rows=0, n_cols=0, embed_dim=16, hidden_dim=16, tie_weights=True)


def test_initial_allocation():
    _, freq = new_model("lightrnn", 50, embed_dim=8, hidden_dim=8, num_layers=1, recurrence="halfword")
    _, rand = new_model("lightrnn", 50, embed_dim=8, hidden_dim=8, num_layers=1, allocation="random", seed=3, recurrence="halfword")
    _, rand2 = new_model("lightrnn", 50, embed_dim=8, hidden_dim=8, num_layers=1, allocation="random", seed=3, recurrence="halfword")
    assert torch.equal(freq.cell, torch.arange(50))
    assert torch.equal(rand.cell, rand2.cell) and not torch.equal(rand.cell, freq.cell)
    assert isinstance(WordTable(rand.cell, rand.n_rows, rand.n_cols), WordTable)
    with pytest.raises(ValueError, match="allocation"):
        new_model("lightrnn", 50, allocation="alphabetical", recurrence="halfword")
    assert isinstance(new_model("lightrnn", 50, embed_dim=8, hidden_dim=8, num_layers=1, recurrence="word-sum",
                                allocation="random", col_hidden_dim=0, input_shortlist=0, output_shortlist=0)[0], LightRNN)


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. torch's "duplicate parameters" in the fitting optimiser
def test_add_words_keeps_the_tie(toy_text):
    from lightrnn_asr.training.openvocab import add_words

    vocab, tr, va = setup(toy_text)
    model, table = small_lightrnn(vocab, tie_weights=True)
    model.eval()
    examples = [["the", "zorblat", "runs"], ["a", "zorblat", "sleeps"]] * 3
    grown, vocab2, table2, placed = add_words(model, vocab, table, ["zorblat", "quux"], examples, fit_steps=5)
    assert grown.row_head.weight is grown.row_embed.weight and grown.col_head.weight is grown.col_embed.weight
    assert len(vocab2) == len(vocab) + 2 and [p.word for p in placed] == ["zorblat", "quux"]
    assert table2.n_rows > table.n_rows  # the words with examples got rows of their own, fitted
    old = table.n_rows
    assert torch.equal(grown.row_embed.weight[:old], model.row_embed.weight)  # trained rows frozen, tie or not
    assert not torch.equal(grown.row_embed.weight[old:], grown.row_embed.weight[:old].mean(0).expand_as(
        grown.row_embed.weight[old:]))  # the new rows moved from their initial mean vector


@pytest.mark.parametrize("word_bias", [False, True])
def test_loss_tables_summed_in_training_steps_equal_a_pass(toy_text, word_bias):
    """Without dropout and without weight updates, the tables summed by the training steps are the
    tables of a pass over the text, and the step's loss is the model's loss."""
    vocab, tr, _ = setup(toy_text)
    model, table = small_lightrnn(vocab, word_bias=word_bias, table_scale=2.0 if word_bias else 1.0)
    if word_bias:
        model.init_word_bias(torch.tensor(vocab.counts))
    cfg = model.config
    sums = LossTableSums(cfg.vocab_size, cfg.n_rows, cfg.n_cols, torch.device("cpu"))
    step = LossModule(model)
    for idx in length_batches(tr.lengths(), 400):
        inputs, targets, mask = make_batch([tr.sentence(i) for i in idx.tolist()], 0, 1)
        assert float(step(inputs, targets, mask, sums)) == pytest.approx(float(model.loss(inputs, targets, mask)),
                                                                         rel=1e-5)
    row, col = sums.tables()
    ref_row, ref_col = loss_tables(model, tr, max_tokens=700)
    assert row.abs().sum() > 0 and col.abs().sum() > 0
    torch.testing.assert_close(row, ref_row, rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(col, ref_col, rtol=1e-4, atol=1e-2)


def test_training_loss_tables_replace_the_pass(toy_text, tmp_path, monkeypatch):
    vocab, tr, va = setup(toy_text)
    passes = []
    real_pass = reallocation.loss_tables
    monkeypatch.setattr(reallocation, "loss_tables", lambda *a, **k: passes.append(1) or real_pass(*a, **k))
    for mode, expected in (("pass", 2), ("training", 0)):
        passes.clear()
        model, table = small_lightrnn(vocab)
        cfg = TrainConfig(rounds=3, lr=1e-2, max_tokens=400, patience=5, loss_tables=mode)
        hist = train(model, vocab, table, tr, va, cfg, tmp_path / mode, device="cpu")
        assert sum("realloc" in h for h in hist) == 2 and len(passes) == expected
        # the tables came from this round's epoch: the solver lowered their cost
        assert all(h["realloc"]["cost_after"] <= h["realloc"]["cost_before"] for h in hist[:2])
        assert hist[0]["realloc"]["cost_before"] > 0
