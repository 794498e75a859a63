"""The one-step-per-word LightRNN: exact probabilities, the paper's factorisation, every scorer."""

import pytest
import torch

from lightrnn_asr.lm import LMConfig, WordTable, build_model, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.lightrnn_onestep import OneStepLightRNN
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.corpus import make_batch
from lightrnn_asr.text.vocabulary import Vocabulary

RECURRENCES = ("word-concat", "word-sum")
#: (recurrence, col_hidden_dim, input_shortlist, output_shortlist): both recurrences with the LSTM output as
#: the column state, word-sum with a column head of its own (K = 10, neither E = 8 nor H = 12), with it an own
#: input vector for the 9 most frequent words (ids 0-8; the tests' sentences use words on both sides of 9),
#: and both recurrences with an own output vector for the 6 most frequent (ids 0-5, </s> among them)
FORMS = [("word-concat", 0, 0, 0), ("word-sum", 0, 0, 0), ("word-sum", 10, 0, 0), ("word-sum", 10, 9, 0),
         ("word-concat", 0, 0, 6), ("word-sum", 10, 9, 6)]
FORM_ARGS = ("recurrence", "col_hidden_dim", "input_shortlist", "output_shortlist")


def tiny(recurrence, vocab_size=23, seed=0, table=None, layers=2, col_hidden_dim=0, input_shortlist=0,
         output_shortlist=0):
    torch.manual_seed(seed)
    table = table or WordTable.random(vocab_size, torch.Generator().manual_seed(seed))
    cfg = LMConfig(model_type="lightrnn", vocab_size=vocab_size, n_rows=table.n_rows, n_cols=table.n_cols,
                   embed_dim=8, hidden_dim=12, num_layers=layers, dropout=0.0, recurrence=recurrence,
                   col_hidden_dim=col_hidden_dim, input_shortlist=input_shortlist, output_shortlist=output_shortlist)
    model = build_model(cfg, table).eval()
    for p in model.parameters():  # larger weights than the default init, so that a wrong term shows
        p.data.normal_(0, 0.5, generator=torch.Generator().manual_seed(seed + 1))
    if input_shortlist:  # the padding row (words outside the shortlist) is zero, as nn.Embedding keeps it
        model.shortlist_embed.weight.data[input_shortlist] = 0
    return model, table


def stepwise(model, words):
    """Independent reference: one LSTM step per word by hand, the formula of the module docstring."""
    seq = [0, *words, 1]
    state, total = None, 0.0
    for prev, w in zip(seq[:-1], seq[1:]):
        r_prev, c_prev = model.row_embed.weight[model.word_row[prev]], model.col_embed.weight[model.word_col[prev]]
        x = torch.cat([r_prev, c_prev]) if model.config.recurrence == "word-concat" else r_prev + c_prev
        if prev < model.config.input_shortlist:
            x = x + model.shortlist_embed.weight[prev]
        out, state = model.trunk.lstm(x.view(1, 1, -1), state)
        h = out.view(-1)
        r, c = model.word_row[w], model.word_col[w]
        m = model.config.output_shortlist
        if m:  # one softmax over the m own output vectors and the rows; a shortlist word ends there
            head = torch.log_softmax(torch.cat([model.shortlist_head(h), model.row_head(h)]), -1)
            if w < m:
                total += head[w].item()
                continue
            total += head[m + r].item()
        else:
            total += torch.log_softmax(model.row_head(h), -1)[r].item()
        w_h = h if model.col_in is None else model.col_in.weight @ h + model.col_in.bias
        z = torch.tanh(w_h + model.row_to_col.weight @ model.row_embed.weight[r])
        col = model.col_head(z)
        if m:  # the columns of row r that hold a factorised word (id >= m), and only those
            held = [int(model.word_col[v]) for v in range(m, model.config.vocab_size) if model.word_row[v] == r]
            col = col[held]
            c = held.index(int(c))
        total += torch.log_softmax(col, -1)[c].item()
    return total


@pytest.mark.parametrize(FORM_ARGS, FORMS)
def test_the_word_distribution_sums_to_one_over_a_full_table(recurrence, col_hidden_dim, input_shortlist, output_shortlist):
    table = WordTable(torch.randperm(20, generator=torch.Generator().manual_seed(1)), 4, 5)
    model, _ = tiny(recurrence, 20, table=table, col_hidden_dim=col_hidden_dim, input_shortlist=input_shortlist,
                    output_shortlist=output_shortlist)
    total = sum(model.token_logprobs(torch.tensor([[0, 4, 9]]), torch.tensor([[4, 9, w]]))[0, -1].exp().item()
                for w in range(20))
    assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(FORM_ARGS, FORMS)
def test_sentence_scores_equal_the_recurrence_by_hand_batched_or_not(recurrence, col_hidden_dim, input_shortlist, output_shortlist):
    model, _ = tiny(recurrence, col_hidden_dim=col_hidden_dim, input_shortlist=input_shortlist,
                    output_shortlist=output_shortlist)
    sentences = [[5, 7, 9], [3], [], [11, 12, 13, 14, 15, 16]]
    batch = score_sentences(model, [torch.tensor(s, dtype=torch.long) for s in sentences])
    with torch.no_grad():
        ref = [stepwise(model, s) for s in sentences]
        alone = [float(model.sentence_logprobs(*make_batch([torch.tensor(s)], 0, 1))) for s in sentences]
    assert list(batch) == pytest.approx(ref, abs=1e-4)
    assert alone == pytest.approx(ref, abs=1e-4)


@pytest.mark.parametrize(FORM_ARGS, FORMS)
def test_word_at_a_time_scoring_equals_sentence_scoring(recurrence, col_hidden_dim, input_shortlist, output_shortlist):
    model, _ = tiny(recurrence, col_hidden_dim=col_hidden_dim, input_shortlist=input_shortlist,
                    output_shortlist=output_shortlist)
    sents = [[5, 7, 9, 2], [3, 3, 3, 3]]
    with torch.no_grad():
        state = model.initial_state(2, 0)
        total = torch.zeros(2)
        for t in range(5):
            words = torch.tensor([s[t] if t < 4 else 1 for s in sents])
            lp, state = model.score_next(state, words)
            total += lp
        ref = model.sentence_logprobs(*make_batch([torch.tensor(s) for s in sents], 0, 1))
    torch.testing.assert_close(total, ref, rtol=1e-5, atol=1e-4)


def test_the_column_depends_on_the_target_row_and_the_row_does_not_see_the_target():
    model, table = tiny("word-concat")
    inputs = torch.tensor([[0, 5]])
    words = [int((table.row == r).nonzero()[0]) for r in (0, 1)]
    row = [model.row_col_logprobs(inputs, torch.tensor([[5, w]]))[0][0, 1] for w in words]
    col = [model.row_col_logprobs(inputs, torch.tensor([[5, w]]))[1][0, 1] for w in words]
    torch.testing.assert_close(row[0], row[1])
    assert not torch.allclose(col[0], col[1])


def test_scoring_a_word_takes_no_lstm_step():
    model, _ = tiny("word-sum")
    calls = []
    model.trunk.lstm.register_forward_hook(lambda *a: calls.append(1))
    state = model.initial_state(3)
    calls.clear()
    model.score_words(state, torch.tensor([4, 5, 6]))
    assert not calls
    model.advance(state, torch.tensor([4, 5, 6]))
    assert len(calls) == 1


def test_the_recurrence_is_kept_in_the_checkpoint_and_old_configs_are_the_papers(tmp_path):
    model, table = tiny("word-sum")
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *(f"w{i}" for i in range(20))])
    save_checkpoint(tmp_path / "m.pt", model, vocab, table)
    ck = load_checkpoint(tmp_path / "m.pt")
    assert isinstance(ck.model, OneStepLightRNN) and ck.model.config.recurrence == "word-sum"
    x = [torch.tensor([5, 6, 7])]
    assert score_sentences(ck.model, x) == pytest.approx(score_sentences(model, x), abs=1e-6)
    old = {k: v for k, v in model.config.to_dict().items() if k != "recurrence"}
    assert LMConfig.from_dict(old).recurrence == "halfword"
    with pytest.raises(ValueError, match="recurrence"):
        LMConfig(model_type="lstm", vocab_size=20, n_rows=0, n_cols=0, embed_dim=8, hidden_dim=8, num_layers=1,
                 dropout=0.0, recurrence="word-sum")


def assert_checkpoint_keeps(tmp_path, model, table, field):
    """Saved and loaded, ``model`` (23 words) keeps its config ``field`` and its scores; a config without
    the field, an older checkpoint's, reads it as 0."""
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *(f"w{i}" for i in range(20))])
    save_checkpoint(tmp_path / "m.pt", model, vocab, table)
    ck = load_checkpoint(tmp_path / "m.pt")
    assert getattr(ck.model.config, field) == getattr(model.config, field) != 0
    x = [torch.tensor([5, 17, 3])]
    assert score_sentences(ck.model, x) == pytest.approx(score_sentences(model, x), abs=1e-6)
    old = {k: v for k, v in model.config.to_dict().items() if k != field}
    assert getattr(LMConfig.from_dict(old), field) == 0


def test_a_column_head_of_its_own_is_kept_in_the_checkpoint_and_checked(tmp_path):
    model, table = tiny("word-sum", col_hidden_dim=10)
    assert model.col_head.in_features == 10 and model.row_to_col.out_features == 10
    assert_checkpoint_keeps(tmp_path, model, table, "col_hidden_dim")
    for bad in ({"recurrence": "halfword"}, {"model_type": "adaptive", "n_rows": 0, "n_cols": 0,
                                             "recurrence": "halfword"}):
        with pytest.raises(ValueError, match="col_hidden_dim"):
            LMConfig(**{**model.config.to_dict(), **bad})
    with pytest.raises(ValueError, match="col_hidden_dim"):
        LMConfig(**{**model.config.to_dict(), "embed_dim": 12, "tie_weights": True, "col_hidden_dim": 10})
    tied = LMConfig(**{**model.config.to_dict(), "embed_dim": 12, "tie_weights": True, "col_hidden_dim": 12})
    tied_model = build_model(tied, table)
    assert tied_model.col_head.weight is tied_model.col_embed.weight


def test_an_input_shortlist_starts_as_the_shared_vectors_model_and_is_kept_in_the_checkpoint(tmp_path):
    table = WordTable.random(23, torch.Generator().manual_seed(0))
    models = []
    for n in (0, 9):
        torch.manual_seed(3)
        models.append(build_model(LMConfig(model_type="lightrnn", vocab_size=23, n_rows=table.n_rows,
                                           n_cols=table.n_cols, embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0,
                                           recurrence="word-sum", col_hidden_dim=10, input_shortlist=n,
                                           output_shortlist=0), table).eval())
    plain, short = models
    inputs, targets = torch.tensor([[0, 5, 17, 3]]), torch.tensor([[5, 17, 3, 1]])
    with torch.no_grad():  # the own vectors start at zero: the same model as without them
        torch.testing.assert_close(short.token_logprobs(inputs, targets), plain.token_logprobs(inputs, targets))
        short.shortlist_embed.weight[5] = 1.0  # word 5 (in the shortlist) read at step 2 changes steps 2 on only
        moved = short.token_logprobs(inputs, targets) - plain.token_logprobs(inputs, targets)
        assert moved[0, 0] == 0 and (moved[0, 1:].abs() > 1e-4).all()
    short.token_logprobs(inputs, targets).sum().backward()  # 17 reads the zero padding row, never trained
    grad = short.shortlist_embed.weight.grad
    assert grad[9].abs().sum() == 0 and grad[[0, 3, 5]].abs().min() > 0 and grad[[1, 2, 4, 6, 7, 8]].abs().sum() == 0
    assert short.num_parameters() - plain.num_parameters() == 10 * 8  # 9 words and the padding row, E = 8
    assert_checkpoint_keeps(tmp_path, short, table, "input_shortlist")
    for bad in ({"recurrence": "word-concat"}, {"recurrence": "halfword", "col_hidden_dim": 0},
                {"input_shortlist": 24}, {"input_shortlist": -1}):
        with pytest.raises(ValueError, match="input_shortlist"):
            LMConfig(**{**short.config.to_dict(), **bad})


def test_an_output_shortlist_sums_to_one_with_empty_cells_and_is_kept_in_the_checkpoint(tmp_path):
    model, table = tiny("word-sum", col_hidden_dim=10, output_shortlist=6)  # 23 words in 25 cells
    assert table.n_rows * table.n_cols > 23
    inputs = torch.tensor([[0, 4, 9]]).expand(23, -1)
    targets = torch.cat([torch.tensor([[4, 9]]).expand(23, -1), torch.arange(23)[:, None]], 1)
    with torch.no_grad():
        total = model.token_logprobs(inputs, targets)[:, -1].exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-6)  # no mass on the 2 empty cells nor on the 6 shortlist cells
    assert model.shortlist_head.weight.shape == (6, 12)
    assert_checkpoint_keeps(tmp_path, model, table, "output_shortlist")
    for bad in ({"recurrence": "halfword", "col_hidden_dim": 0}, {"word_bias": True}, {"output_shortlist": 24},
                {"output_shortlist": -2}):
        with pytest.raises(ValueError, match="output_shortlist"):
            LMConfig(**{**model.config.to_dict(), **bad})


def test_an_output_shortlist_gives_reallocation_what_a_move_would_give_and_nothing_for_shortlist_words():
    model, table = tiny("word-sum", col_hidden_dim=10, output_shortlist=6)
    inputs, targets = torch.tensor([[0, 3, 17]]), torch.tensor([[3, 17, 11]])  # 3: shortlist; 17, 11: factorised
    with torch.no_grad():
        row_lp, col_lp = model.row_col_logprobs(inputs, targets)
        loss, row_lp2, col_lp2 = model.loss_and_logprobs(inputs, targets, torch.ones(1, 3, dtype=torch.bool))
        lp = model.token_logprobs(inputs, targets)
    torch.testing.assert_close((row_lp2, col_lp2), (row_lp, col_lp))
    assert loss.item() == pytest.approx(-lp.mean().item(), abs=1e-5)
    assert row_lp[0, 0].abs().sum() == 0 and col_lp[0, 0].abs().sum() == 0  # the shortlist word: no cell preferred
    w = 11
    r, c = int(model.word_row[w]), int(model.word_col[w])
    assert (row_lp[0, 2, r] + col_lp[0, 2, c]).item() == pytest.approx(lp[0, 2].item(), abs=1e-5)
    # 11 swapped with another factorised word of its row (neither is read before it): exactly the column entry
    # of that word's cell (the column term is conditioned on the current row, as in the paper)
    v = next(v for v in range(6, 23) if v not in (w, 17) and int(model.word_row[v]) == r)
    cell = table.cell.clone()
    cell[[w, v]] = cell[[v, w]]
    model.set_table(WordTable(cell, table.n_rows, table.n_cols))
    with torch.no_grad():
        moved = model.token_logprobs(inputs, targets)[0, 2].item()
    assert int(model.word_col[w]) == int(table.col[v]) != c
    assert moved == pytest.approx((row_lp[0, 2, r] + col_lp[0, 2, int(table.col[v])]).item(), abs=1e-5)
    # the row entries are the rows' shares of the one softmax: with the shortlist words' they make 1
    with torch.no_grad():
        short = model.token_logprobs(inputs[:, :3].expand(6, -1), torch.tensor([[3, 17, x] for x in range(6)]))
    assert (row_lp[0, 2].exp().sum() + short[:, 2].exp().sum()).item() == pytest.approx(1.0, abs=1e-6)


def test_trained_with_reallocation_from_the_command_line_and_used_by_every_command(tmp_path):
    import json

    from helpers import run_cli as run
    from helpers import toy_text_files

    toy_text_files(tmp_path)
    run("train", "--train-text", tmp_path / "train.txt", "--valid-text", tmp_path / "valid.txt", "--out-dir",
        tmp_path / "exp", "--recurrence", "word-concat", "--col-hidden-dim", 24, "--embed-dim", 16, "--hidden-dim", 32, "--num-layers", 1,
        "--rounds", 3, "--lr", 0.01, "--max-tokens", 400, "--patience", 3, "--device", "cpu", "--threads", 1)
    history = json.loads((tmp_path / "exp" / "history.json").read_text())
    assert len(history) == 3 and "realloc" in history[0] and history[-1]["valid_ppl"] < history[0]["valid_ppl"]
    ck = load_checkpoint(tmp_path / "exp" / "best.pt")
    assert isinstance(ck.model, OneStepLightRNN) and ck.model.config.recurrence == "word-concat"
    assert ck.model.config.col_hidden_dim == 24
    res = json.loads(run("ppl", "--model", tmp_path / "exp" / "best.pt", "--text", tmp_path / "valid.txt", "--json"))
    assert res["perplexity"] < 20  # the toy grammar's 52 words: well below uniform
    (tmp_path / "names.txt").write_text("elinor\nmarianne the\n")
    run("add-words", "--model", tmp_path / "exp" / "best.pt", "--words", tmp_path / "names.txt", "--out",
        tmp_path / "more.pt")
    more = load_checkpoint(tmp_path / "more.pt")
    assert isinstance(more.model, OneStepLightRNN) and "elinor" in more.vocab
    run("compress", "--model", tmp_path / "more.pt", "--int8", "--out", tmp_path / "small.pt")
    nbest = "u1\t-10\tthe cat sees the ball\nu1\t-9\tthe cat sees the bal\n"
    (tmp_path / "x.nbest").write_text(nbest)
    run("rescore", tmp_path / "x.nbest", "--model", tmp_path / "small.pt", "--lm-scale", 1,
        "--out", tmp_path / "1best.txt")
    assert (tmp_path / "1best.txt").read_text().split() == "u1 the cat sees the ball".split()


def test_an_input_shortlist_from_the_command_line_through_add_words_and_int8(tmp_path):
    from click.testing import CliRunner
    from helpers import toy_sentences

    from lightrnn_asr.cli import main

    (tmp_path / "train.txt").write_text("\n".join(toy_sentences(300, 0)) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(toy_sentences(40, 1)) + "\n")
    common = ["train", "--train-text", tmp_path / "train.txt", "--valid-text", tmp_path / "valid.txt",
              "--embed-dim", 16, "--hidden-dim", 16, "--num-layers", 1, "--rounds", 2, "--max-tokens", 400,
              "--device", "cpu", "--threads", 1]
    res = CliRunner().invoke(main, [str(a) for a in [*common, "--out-dir", tmp_path / "bad", "--recurrence", "halfword",
                                                     "--input-shortlist", 20]])
    assert res.exit_code == 2 and "--input-shortlist" in res.output and "word-sum" in res.output
    res = CliRunner().invoke(main, [str(a) for a in [*common, "--out-dir", tmp_path / "bad", "--recurrence", "halfword",
                                                     "--output-shortlist", 10]])
    assert res.exit_code == 2 and "--output-shortlist" in res.output and "one-step" in res.output
    res = CliRunner().invoke(main, [str(a) for a in [*common, "--out-dir", tmp_path / "exp", "--recurrence", "word-sum",
                                                     "--input-shortlist", 20, "--output-shortlist", 10]])
    assert res.exit_code == 0, res.output
    ck = load_checkpoint(tmp_path / "exp" / "best.pt")
    assert ck.model.config.input_shortlist == 20 and ck.model.shortlist_embed.weight[:20].abs().sum() > 0
    assert ck.model.config.output_shortlist == 10 and ck.model.shortlist_head.out_features == 10
    assert ck.model.shortlist_embed.weight[20].abs().sum() == 0
    (tmp_path / "names.txt").write_text("elinor\n")
    for args in (["add-words", "--model", tmp_path / "exp" / "best.pt", "--words", tmp_path / "names.txt", "--out",
                  tmp_path / "more.pt"], ["compress", "--model", tmp_path / "more.pt", "--int8", "--out", tmp_path / "small.pt"],
                 ["ppl", "--model", tmp_path / "small.pt", "--text", tmp_path / "valid.txt"]):
        res = CliRunner().invoke(main, [str(a) for a in args])
        assert res.exit_code == 0, res.output
    more = load_checkpoint(tmp_path / "more.pt").model
    assert more.config.input_shortlist == 20 and more.config.output_shortlist == 10
    with torch.no_grad():  # the added word is factorised: a cell of its own, and the distribution still sums to 1
        v = more.config.vocab_size
        lp = more.token_logprobs(torch.tensor([[0, 5]]).expand(v, -1), torch.stack([torch.full((v,), 5), torch.arange(v)], 1))
    assert lp[-1, -1] > -30 and lp[:, -1].exp().sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("recurrence", "col_hidden_dim", "output_shortlist", "word_bias"),
                         [("word-sum", 64, 40, False), ("word-sum", 0, 0, True), ("halfword", 0, 0, True)])
def test_a_training_step_gives_the_same_gradients_every_time_on_two_threads(recurrence, col_hidden_dim,
                                                                          output_shortlist, word_bias):
    """Gradients are sums over tokens that share a row; their order must not depend on thread scheduling,
    or two runs of the same training drift apart and reallocation later moves other words."""
    table = WordTable.random(400, torch.Generator().manual_seed(0))
    cfg = LMConfig(model_type="lightrnn", vocab_size=400, n_rows=table.n_rows, n_cols=table.n_cols, embed_dim=16,
                   hidden_dim=32, num_layers=1, dropout=0.0, recurrence=recurrence, col_hidden_dim=col_hidden_dim,
                   input_shortlist=40 if recurrence != "halfword" else 0, output_shortlist=output_shortlist,
                   word_bias=word_bias)
    torch.manual_seed(0)
    model = build_model(cfg, table).train()
    words = torch.randint(2, 400, (60, 50), generator=torch.Generator().manual_seed(1))
    inputs, targets, mask = make_batch(list(words), 0, 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = set()
        for _ in range(6):
            model.zero_grad(set_to_none=True)
            model.loss_and_logprobs(inputs, targets, mask)[0].backward()
            grads.add(tuple(p.grad.numpy().tobytes() for p in model.parameters() if p.grad is not None))
    finally:
        torch.set_num_threads(threads)
    assert len(grads) == 1
