"""A learnt bias per word on its column logit (LMConfig.word_bias): exact probabilities, every scorer,
reallocation's loss tables, add-words, compression and checkpoints."""

import pytest
import torch

from lightrnn_asr.lm import LMConfig, WordTable, build_model, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.compress import Compression, compress_model
from lightrnn_asr.lm.lightrnn import EMPTY_CELL_BIAS
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.corpus import make_batch
from lightrnn_asr.text.vocabulary import Vocabulary

FORMS = ("halfword", "word-sum")


def tiny(recurrence, vocab_size=23, seed=0):
    torch.manual_seed(seed)
    table = WordTable.random(vocab_size, torch.Generator().manual_seed(seed))  # 5 x 5: two empty cells
    cfg = LMConfig(model_type="lightrnn", vocab_size=vocab_size, n_rows=table.n_rows, n_cols=table.n_cols,
                   embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0, recurrence=recurrence, word_bias=True,
                   col_hidden_dim=0, input_shortlist=0, output_shortlist=0)
    model = build_model(cfg, table).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.5, generator=torch.Generator().manual_seed(seed + 1))
    return model, table


@pytest.mark.parametrize("recurrence", FORMS)
def test_probabilities_sum_to_one_and_the_bias_moves_only_its_word(recurrence):
    model, table = tiny(recurrence)
    x, y = torch.tensor([[0, 4, 9]] * 23), torch.tensor([[4, 9, w] for w in range(23)])
    lp = model.token_logprobs(x, y)[:, -1]
    assert lp.exp().sum().item() == pytest.approx(1.0, abs=2e-6)  # empty cells get e^-30 at most
    with torch.no_grad():
        model.word_bias[7] += 2.0
    lp2 = model.token_logprobs(x, y)[:, -1]
    same_row = (model.word_row == model.word_row[7]).nonzero()[:, 0].tolist()
    assert lp2[7] > lp[7] + 0.5
    for w in range(23):  # other rows' words do not move at all; the row of 7 shares its normaliser
        if w not in same_row:
            assert lp2[w].item() == pytest.approx(lp[w].item(), abs=1e-6)
        elif w != 7:
            assert lp2[w] < lp[w]
    grid = model.cell_bias()
    assert (grid.flatten()[~torch.isin(torch.arange(25), table.cell)] == EMPTY_CELL_BIAS).all()


@pytest.mark.parametrize("recurrence", FORMS)
def test_word_at_a_time_equals_sentences(recurrence):
    model, _ = tiny(recurrence)
    sents = [torch.tensor(s) for s in ([3, 5, 7], [8], [20, 21, 22, 4])]
    expected = score_sentences(model, sents, max_tokens=100)
    for s, e in zip(sents, expected):
        state, total = model.initial_state(1), 0.0
        for w in [*s.tolist(), 1]:
            lp, partial = model.score_words(state, torch.tensor([w]))
            state = model.advance(partial, torch.tensor([w]))
            total += lp.item()
        assert total == pytest.approx(float(e), abs=1e-4)


@torch.no_grad()
def test_loss_tables_price_a_word_with_its_own_bias():
    model, _ = tiny("word-sum")
    inputs, targets, _ = make_batch([torch.tensor([3, 5, 7])], 0, 1)
    row_lp, col_lp = model.row_col_logprobs(inputs, targets)
    # in its own column: the word's real log P_col
    own_col = model.word_col[targets]
    own = col_lp.gather(-1, own_col[..., None])[..., 0]
    real = model.token_logprobs(inputs, targets) - row_lp.gather(-1, model.word_row[targets][..., None])[..., 0]
    torch.testing.assert_close(own, real, atol=1e-5, rtol=0)
    # in any other column: the head's logit there plus the word's own bias (not the bias of the word
    # sitting there), so differences between columns are the head's alone
    raw = model.col_head(model._col_hidden(model.trunk(model._word_inputs(inputs)), model.word_row[targets]))
    diff = col_lp - own[..., None]
    torch.testing.assert_close(diff, raw - raw.gather(-1, own_col[..., None]), atol=1e-5, rtol=0)


def test_checkpoint_compression_and_old_configs(tmp_path):
    model, table = tiny("word-sum")
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *[f"w{i}" for i in range(20)]], [0, 1, 0, *range(20, 0, -1)])
    save_checkpoint(tmp_path / "m.pt", model, vocab, table)
    loaded = load_checkpoint(tmp_path / "m.pt").model
    x, y = torch.tensor([[0, 4, 9]]), torch.tensor([[4, 9, 1]])
    torch.testing.assert_close(loaded.token_logprobs(x, y), model.token_logprobs(x, y))
    q = compress_model(loaded, Compression(int8=True))
    assert (q.token_logprobs(x, y) - model.token_logprobs(x, y)).abs().max() < 0.1
    save_checkpoint(tmp_path / "q.pt", q, vocab, table)
    torch.testing.assert_close(load_checkpoint(tmp_path / "q.pt").model.token_logprobs(x, y), q.token_logprobs(x, y))
    assert not LMConfig.from_dict({k: v for k, v in model.config.to_dict().items() if k != "word_bias"}).word_bias
    with pytest.raises(ValueError, match="word_bias"):
        LMConfig(model_type="adaptive", vocab_size=100, n_rows=0, n_cols=0, embed_dim=8, hidden_dim=8, word_bias=True)


def test_add_words_keeps_old_words_and_gives_new_ones_a_rare_words_bias():
    from lightrnn_asr.training.openvocab import add_words

    model, table = tiny("word-sum")
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *[f"w{i}" for i in range(20)]], [0, 1, 0, *range(20, 0, -1)])
    x, y = torch.tensor([[0, 4, 9]]), torch.tensor([[4, 9, 1]])
    before = model.token_logprobs(x, y)
    examples = [["w1", "zork", "w2"], ["w3", "zork"]] * 3
    for fit_steps in (0, 5):
        grown, vocab2, table2, placed = add_words(model, vocab, table, ["zork", "quux", "blip"], examples,
                                                  fit_steps=fit_steps)
        assert grown.word_bias.numel() == len(vocab2) == 26
        torch.testing.assert_close(grown.word_bias[:23], model.word_bias)
        rare = model.word_bias[-2:].mean()  # the rarest tenth of 23 words: the last 2
        assert grown.word_bias[vocab2.id("quux")].item() == pytest.approx(rare.item())
        # the grown model's cell biases follow its final table
        at = grown.cell_word.clone()
        grown.set_table(table2)
        assert torch.equal(at, grown.cell_word)
        if fit_steps == 0:  # no new rows: old words' probabilities change only through new cells' mass
            after = grown.token_logprobs(x, y)
            assert (after - before).abs().max() < 0.5


def test_word_bias_starts_at_log_counts():
    model, _ = tiny("word-sum")
    counts = torch.arange(23)
    model.init_word_bias(counts)
    torch.testing.assert_close(model.word_bias.detach(), torch.log(counts.float() + 1))
    with pytest.raises(ValueError, match="23 counts"):
        model.init_word_bias(torch.ones(5))


def test_a_scaled_table_has_the_cells_asked_for_and_needs_the_word_bias():
    from lightrnn_asr.lm import table_shape
    from lightrnn_asr.lm.build import new_model

    assert table_shape(14848) == (122, 122)  # the paper's shape is unchanged
    for v, scale in ((14848, 2.0), (14848, 4.0), (23, 3.0), (1000, 1.5)):
        r, c = table_shape(v, scale)
        assert scale * v <= r * c < scale * v + c and abs(r - c) <= 1
    with pytest.raises(ValueError, match="scale must be >= 1"):
        table_shape(100, 0.5)
    with pytest.raises(ValueError, match="word_bias"):
        new_model("lightrnn", 100, embed_dim=8, hidden_dim=8, num_layers=1, table_scale=2.0, recurrence="halfword")
    with pytest.raises(ValueError, match="word_bias"):
        new_model("lstm", 100, embed_dim=8, hidden_dim=8, num_layers=1, table_scale=2.0)
    model, table = new_model("lightrnn", 100, embed_dim=8, hidden_dim=8, num_layers=1, recurrence="word-sum",
                             allocation="random", word_bias=True, table_scale=4.0, col_hidden_dim=0, input_shortlist=0, output_shortlist=0)
    assert (table.n_rows, table.n_cols) == (20, 20) and model.config.n_rows == 20
    assert model.cell_bias().eq(EMPTY_CELL_BIAS).sum().item() == 300


@pytest.mark.parametrize("recurrence", FORMS)
def test_a_mostly_empty_table_still_gives_the_words_all_the_mass(recurrence):
    torch.manual_seed(0)
    table = WordTable.random(23, torch.Generator().manual_seed(0), 10, 10)  # 77 of 100 cells empty
    cfg = LMConfig(model_type="lightrnn", vocab_size=23, n_rows=10, n_cols=10, embed_dim=8, hidden_dim=12,
                   num_layers=1, dropout=0.0, recurrence=recurrence, word_bias=True, col_hidden_dim=0,
                   input_shortlist=0, output_shortlist=0)
    model = build_model(cfg, table).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    x, y = torch.tensor([[0, 4, 9]] * 23), torch.tensor([[4, 9, w] for w in range(23)])
    # the words' probabilities sum to the row mass of the rows holding words (empty rows still take some)
    lp = model.token_logprobs(x, y)[:, -1]
    row_lp = model.row_col_logprobs(x, y)[0][0, -1]
    held = torch.unique(table.row)
    assert lp.exp().sum().item() == pytest.approx(row_lp[held].exp().sum().item(), abs=1e-5)


def test_train_on_a_scaled_table_reallocates_into_the_empty_cells(tmp_path):
    from click.testing import CliRunner
    from helpers import toy_sentences

    from lightrnn_asr.cli import main

    (tmp_path / "train.txt").write_text("\n".join(toy_sentences(300, 0)) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(toy_sentences(20, 1)) + "\n")
    out = tmp_path / "exp"
    base = ["train", "--train-text", str(tmp_path / "train.txt"), "--valid-text", str(tmp_path / "valid.txt"),
            "--out-dir", str(out), "--embed-dim", "8", "--hidden-dim", "8", "--num-layers", "1", "--rounds", "2",
            "--max-tokens", "400", "--device", "cpu", "--threads", "1"]
    result = CliRunner().invoke(main, [*base, "--table-scale", "2"])
    assert result.exit_code == 2 and "--table-scale" in result.output and "word_bias" in result.output
    result = CliRunner().invoke(main, [*base, "--table-scale", "3", "--word-bias", "--solver", "exact"])
    assert result.exit_code == 0, result.output
    ck = load_checkpoint(out / "best.pt")
    v = len(ck.vocab)
    assert ck.table.n_rows * ck.table.n_cols >= 3 * v and ck.model.config.n_rows == ck.table.n_rows
    sequential = torch.arange(v)
    assert not torch.equal(ck.table.cell, sequential)  # reallocated off the row-major start
    assert int(ck.table.cell.max()) >= v  # into cells the start left empty
