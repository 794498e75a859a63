"""Compression (int8, low-rank LSTM), its checkpoints, and the TorchScript export."""

import copy

import pytest
import torch
from click.testing import CliRunner

from lightrnn_asr.cli import main
from lightrnn_asr.lm import LMConfig, build_model
from lightrnn_asr.lm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.compress import Compression, LowRankLSTM, compress_model, compressed_state, state_bytes
from lightrnn_asr.lm.export import export_torchscript
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import make_batch
from lightrnn_asr.text.vocabulary import Vocabulary

VOCAB = Vocabulary.from_sentences([[f"w{i}" for i in range(60)]])


def make(kind, hidden=32, layers=2, seed=0):
    """``kind``: a model type, or ``lightrnn-word`` for the one-step LightRNN."""
    torch.manual_seed(seed)
    v = len(VOCAB)
    model_type, recurrence = ("lightrnn", "word-concat") if kind == "lightrnn-word" else (kind, "halfword")
    table = WordTable.random(v, torch.Generator().manual_seed(seed)) if model_type == "lightrnn" else None
    cfg = LMConfig(model_type=model_type, vocab_size=v, n_rows=table.n_rows if table else 0,
                   n_cols=table.n_cols if table else 0, embed_dim=hidden, hidden_dim=hidden, num_layers=layers,
                   dropout=0.0, recurrence=recurrence, col_hidden_dim=0, input_shortlist=0, output_shortlist=0)
    return build_model(cfg, table).eval(), table


def batch(seed=1, lengths=(7, 1, 12, 0, 5)):
    g = torch.Generator().manual_seed(seed)
    return make_batch([torch.randint(3, len(VOCAB), (n,), generator=g) for n in lengths], 0, 1)


def test_full_rank_factorisation_reproduces_the_lstm():
    lstm = torch.nn.LSTM(6, 5, 2, batch_first=True)
    x, h0, c0 = torch.randn(3, 4, 6), torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    want, (wh, wc) = lstm(x, (h0, c0))
    got, (gh, gc) = LowRankLSTM.from_lstm(lstm, 6)(x, (h0, c0))  # rank 6: full for both matrices
    for a, b in ((got, want), (gh, wh), (gc, wc)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_low_rank_is_the_best_rank_r_approximation_and_smaller():
    lstm = torch.nn.LSTM(16, 16, 1, batch_first=True)
    low = LowRankLSTM.from_lstm(lstm, 4)
    layer = low.layers[0]
    w = lstm.weight_hh_l0.detach()
    approx = layer.hh_u.weight @ layer.hh_v.weight
    s = torch.linalg.svdvals(w)
    # Eckart-Young: the error is the norm of the dropped singular values
    assert torch.linalg.matrix_norm(w - approx).item() == pytest.approx(s[4:].norm().item(), rel=1e-4)
    assert sum(p.numel() for p in low.parameters()) == 4 * (16 + 64) * 2 + 64 < sum(
        p.numel() for p in lstm.parameters())
    with pytest.raises(ValueError, match="rank"):
        LowRankLSTM(16, 16, 1, 17)
    assert LowRankLSTM(6, 5, 1, 6).layers[0].hh_v.out_features == 5


@pytest.mark.parametrize("kind", ["lightrnn", "lstm", "lightrnn-word"])
@pytest.mark.parametrize("compression", [Compression(0, True), Compression(8, False), Compression(8, True)],
                         ids=lambda c: c.name)
def test_compressed_checkpoint_and_torchscript_give_the_same_scores(tmp_path, kind, compression):
    model, table = make(kind)
    x = batch()
    ref = model.sentence_logprobs(*x)
    small = compress_model(copy.deepcopy(model), compression)
    with torch.inference_mode():
        got = small.sentence_logprobs(*x)
    # compression changes scores a little, not a lot (random weights: a loose bound)
    assert 0 < (got - ref).abs().max() < 0.25
    path = tmp_path / "small.pt"
    save_checkpoint(path, small, VOCAB, table)
    assert set(torch.load(path, weights_only=True)) >= {"compression", "state_dict"}  # plain tensors only
    ck = load_checkpoint(path)
    assert ck.model.compression == compression
    with torch.inference_mode():
        assert torch.equal(ck.model.sentence_logprobs(*x), got)  # int8 integers restored exactly
    export_torchscript(ck.model, tmp_path / "small.ts")
    scripted = torch.jit.load(str(tmp_path / "small.ts"))
    # other batch and length than the trace's example: the graph is not specialised to it
    for other in (x, batch(seed=2, lengths=(30, 2)), batch(seed=3, lengths=(4,))):
        with torch.inference_mode():
            torch.testing.assert_close(scripted(*other), ck.model.sentence_logprobs(*other), rtol=0, atol=1e-4)


def test_int8_is_four_times_smaller_in_weights():
    model, _ = make("lightrnn", hidden=64, layers=1)
    fp32 = state_bytes(compressed_state(model))
    small = compress_model(copy.deepcopy(model), Compression(0, True))
    assert small.num_parameters() == model.num_parameters()
    assert fp32 / state_bytes(compressed_state(small)) > 3.5
    with pytest.raises(ValueError, match="already compressed"):
        compress_model(small, Compression(0, True))


def test_float_export_matches_and_adaptive_export_is_refused(tmp_path):
    model, _ = make("lightrnn")
    export_torchscript(model, tmp_path / "m.ts")
    x = batch()
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "m.ts"))(*x), model.sentence_logprobs(*x))
    adaptive, _ = make("adaptive", hidden=64)
    with pytest.raises(ValueError, match="adaptive"):
        export_torchscript(adaptive, tmp_path / "a.ts")


def test_int8_adaptive_model_scores_close_to_float():
    model, _ = make("adaptive", hidden=64)
    x = batch()
    small = compress_model(copy.deepcopy(model), Compression(0, True))
    with torch.inference_mode():
        assert (small.sentence_logprobs(*x) - model.sentence_logprobs(*x)).abs().max() < 0.1


def test_tampered_compressed_checkpoint_is_refused(tmp_path):
    model, table = make("lightrnn")
    path = tmp_path / "small.pt"
    save_checkpoint(path, compress_model(model, Compression(8, True)), VOCAB, table)
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["trunk.lstm.layers.0.hh_u.weight"]
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="bad.pt.*hh_u.weight"):
        load_checkpoint(tmp_path / "bad.pt")


def test_compress_cli(tmp_path):
    model, table = make("lightrnn")
    save_checkpoint(tmp_path / "lm.pt", model, VOCAB, table)
    text = tmp_path / "valid.txt"
    text.write_text("w1 w2 w3\nw4 w5\n")
    runner = CliRunner()
    res = runner.invoke(main, ["compress", "--model", str(tmp_path / "lm.pt"), "--int8", "--rank", "8",
                               "--out", str(tmp_path / "small.pt"), "--torchscript", str(tmp_path / "small.ts"),
                               "--valid-text", str(text)])
    assert res.exit_code == 0, res.output
    assert "rank8+int8" in res.output and "perplexity" in res.output
    assert load_checkpoint(tmp_path / "small.pt").model.compression == Compression(8, True)
    assert (tmp_path / "small.ts").stat().st_size > 0
    # the compressed model works wherever a checkpoint does
    res = runner.invoke(main, ["score", "--model", str(tmp_path / "small.pt"), "--text", str(text)])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 2, res.output
    (tmp_path / "names.txt").write_text("w1\n")
    res = runner.invoke(main, ["add-words", "--model", str(tmp_path / "small.pt"), "--words", str(tmp_path / "names.txt"),
                               "--out", str(tmp_path / "more.pt")])
    assert res.exit_code == 1 and "compressed model (rank8+int8) cannot be extended" in res.output, res.output
    res = runner.invoke(main, ["compress", "--model", str(tmp_path / "lm.pt"), "--rank", "-1", "--out", "x.pt"])
    assert res.exit_code == 2 and "rank" in res.output
    res = runner.invoke(main, ["compress", "--model", str(tmp_path / "lm.pt"), "--rank", "99", "--out", "x.pt"])
    assert res.exit_code == 1 and "rank" in res.output


@pytest.mark.parametrize("kind", ["lightrnn", "lightrnn-word"])
@pytest.mark.parametrize("compression", [Compression(0, True), Compression(8, True)], ids=lambda c: c.name)
def test_word_at_a_time_scoring_of_compressed_models(compression, kind):
    """Lattice rescoring reads one word at a time: it must agree with whole-sentence scoring."""
    model = compress_model(make(kind)[0], compression)
    sent = [0, 5, 7, 9, 3, 1]
    x = torch.tensor([sent])
    with torch.inference_mode():
        whole = model.token_logprobs(x[:, :-1], x[:, 1:])[0]
        state, steps = model.initial_state(1, bos_id=0), []
        for w in sent[1:]:
            lp, state = model.score_next(state, torch.tensor([w]))
            steps.append(lp[0])
    # dynamic int8 quantises activations with a scale per call, so a step and a whole sentence differ
    # a little (measured: up to 6e-4 nats)
    torch.testing.assert_close(torch.stack(steps), whole, rtol=0, atol=2e-3)
