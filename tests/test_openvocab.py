import math

import pytest
import torch
from click.testing import CliRunner

from lightrnn_asr.cli import main
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import make_batch
from lightrnn_asr.text.vocabulary import Vocabulary, write_vocab
from lightrnn_asr.training.openvocab import add_words


def train_without_dog(d, output_shortlist):
    """A tiny LightRNN trained in ``d`` while "dog" was out of its vocabulary (it read and predicted <unk>);
    ``(d, checkpoint, example sentences with "dog")``."""
    from helpers import toy_sentences

    sentences = toy_sentences(1200, 0)
    (d / "train.txt").write_text("\n".join(sentences) + "\n")
    (d / "valid.txt").write_text("\n".join(toy_sentences(40, 1)) + "\n")
    counts: dict[str, int] = {}
    for s in sentences:
        for w in s.split():
            counts[w] = counts.get(w, 0) + 1
    del counts["dog"]
    write_vocab(d / "vocab.txt", Vocabulary.from_counts(counts))
    result = CliRunner().invoke(main, [
        "train", "--train-text", str(d / "train.txt"), "--valid-text", str(d / "valid.txt"), "--out-dir",
        str(d / "exp"), "--vocab", str(d / "vocab.txt"), "--embed-dim", "16", "--hidden-dim", "32",
        "--num-layers", "1", "--rounds", "2", "--lr", "0.01", "--max-tokens", "400", "--device", "cpu",
        "--output-shortlist", str(output_shortlist)])
    assert result.exit_code == 0, result.output
    examples = [s.split() for s in toy_sentences(60, 2) if "dog" in s.split()]
    return d, load_checkpoint(d / "exp" / "best.pt"), examples


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """:func:`train_without_dog` with the paper's output layer (``trained_output_shortlist`` below has an
    output shortlist)."""
    return train_without_dog(tmp_path_factory.mktemp("openvocab"), 0)


def sentence_logprob(model, vocab, sentences):
    inputs, targets, mask = make_batch([torch.tensor(vocab.encode(s)) for s in sentences], 0, 1)
    with torch.no_grad():
        return float(model.sentence_logprobs(inputs, targets, mask).sum())


def test_new_word_takes_a_free_cell_and_nothing_else_changes(trained):
    _, ck, examples = trained
    model, vocab, table, placements = add_words(ck.model, ck.vocab, ck.table, ["dog"], examples)
    assert len(vocab) == len(ck.vocab) + 1 and vocab.id("dog") == len(ck.vocab)
    assert torch.equal(table.cell[:-1], ck.table.cell) and table.cell[-1] not in set(ck.table.cell.tolist())
    assert (table.n_rows, table.n_cols) == (ck.table.n_rows, ck.table.n_cols)
    for k, v in ck.model.state_dict().items():  # word_slot (the input shortlist): one entry per word
        assert torch.equal(model.state_dict()[k][: len(v)] if k == "word_slot" else model.state_dict()[k], v)
    others = [s.split() for s in ["the cat sees the ball today", "a bird calls her sister"]]
    assert sentence_logprob(model, vocab, others) == pytest.approx(sentence_logprob(ck.model, ck.vocab, others))
    p = placements[0]
    assert p.method == "examples" and (p.row, p.col) == (int(table.row[-1]), int(table.col[-1]))
    # train's default input shortlist covers this tiny vocabulary; the new word, read as history, keeps
    # <unk>'s own input vector (what the model read for it in training) on top of its new cell's vectors
    assert ck.model.config.input_shortlist == len(ck.vocab)
    dog, unk = torch.tensor([vocab.id("dog")]), torch.tensor([vocab.unk_id])
    with torch.no_grad():
        own = [model._word_inputs(w) - model.row_embed(model.word_row[w]) - model.col_embed(model.word_col[w])
               for w in (dog, unk)]
    assert float(own[1].abs().sum()) > 0 and torch.allclose(own[0], own[1], atol=1e-6)


def test_examples_choose_a_cell_as_good_as_the_fallback_and_better_than_chance(trained):
    _, ck, examples = trained
    with_examples = add_words(ck.model, ck.vocab, ck.table, ["dog"], examples)
    fallback = add_words(ck.model, ck.vocab, ck.table, ["dog"])
    assert fallback[3][0].method == "like" and "<unk>" in fallback[3][0].detail
    # the fallback's rule: a free cell in the row of <unk>, else in its column
    unk_row, unk_col = int(ck.table.row[ck.vocab.unk_id]), int(ck.table.col[ck.vocab.unk_id])
    taken = set(ck.table.cell.tolist())
    row_free = any(unk_row * ck.table.n_cols + c not in taken for c in range(ck.table.n_cols))
    if row_free:
        assert int(fallback[2].row[-1]) == unk_row and "row of" in fallback[3][0].detail
    else:
        assert int(fallback[2].col[-1]) == unk_col and "column of" in fallback[3][0].detail
    lp_examples = sentence_logprob(with_examples[0], with_examples[1], examples)
    lp_fallback = sentence_logprob(fallback[0], fallback[1], examples)
    # "dog" was trained as <unk>, so the examples confirm <unk>'s row; never worse than the fallback
    assert lp_examples >= lp_fallback
    # every other free cell in the table, tried one by one
    model, vocab, table = with_examples[0], with_examples[1], with_examples[2]
    free = sorted(set(range(table.n_rows * table.n_cols)) - set(ck.table.cell.tolist()))
    others = []
    for cell in free:
        model.set_table(WordTable(torch.cat([ck.table.cell, torch.tensor([cell])]), table.n_rows, table.n_cols))
        others.append(sentence_logprob(model, vocab, examples))
    assert lp_examples >= sorted(others)[len(others) // 2]  # better than the median free cell
    assert lp_examples >= max(others) - 0.05 * abs(max(others))


def test_full_table_grows_rows_and_keeps_old_words(trained):
    _, ck, examples = trained
    n_free = ck.table.n_rows * ck.table.n_cols - ck.table.vocab_size
    new = [f"name{i}" for i in range(n_free + 3)]
    model, vocab, table, placements = add_words(ck.model, ck.vocab, ck.table, new, like={"name0": "cat"})
    assert table.n_rows > ck.table.n_rows and table.n_cols == ck.table.n_cols
    assert torch.equal(table.row[: ck.table.vocab_size], ck.table.row)
    assert torch.equal(table.col[: ck.table.vocab_size], ck.table.col)
    assert placements[0].detail.startswith("row of 'cat'") or "column of 'cat'" in placements[0].detail
    others = [s.split() for s in ["the cat sees the ball today", "a bird calls her sister"]]
    before = sentence_logprob(ck.model, ck.vocab, others)
    after = sentence_logprob(model, vocab, others)
    n_tokens = sum(len(s) + 1 for s in others)
    # the added rows (mean vectors, the lowest bias) take a little mass: 0.067 nats a token here, 0.095 with the
    # highest bias
    assert 0 <= before - after < 0.08 * n_tokens


def test_bad_new_words_are_refused(trained):
    _, ck, _ = trained
    with pytest.raises(ValueError, match="already in the vocabulary"):
        add_words(ck.model, ck.vocab, ck.table, ["cat"])
    with pytest.raises(ValueError, match="listed twice"):
        add_words(ck.model, ck.vocab, ck.table, ["dog", "dog"])
    with pytest.raises(ValueError, match="like-word 'zebra'"):
        add_words(ck.model, ck.vocab, ck.table, ["dog"], like={"dog": "zebra"})


def test_add_words_command(trained, tmp_path):
    d, ck, examples = trained
    grid = ck.table.word_at()
    roomy = int((grid == -1).sum(1).argmax())  # "dog" may take one of its free cells; one stays free
    assert int((grid[roomy] == -1).sum()) >= 2
    like = ck.vocab.words[int(grid[roomy][grid[roomy] >= 0][0])]
    (tmp_path / "names.txt").write_text(f"dog\nfido {like}\n")
    (tmp_path / "ex.txt").write_text("\n".join(" ".join(s) for s in examples) + "\n")
    result = CliRunner().invoke(main, ["add-words", "--model", str(d / "exp" / "best.pt"), "--words",
                                       str(tmp_path / "names.txt"), "--examples", str(tmp_path / "ex.txt"),
                                       "--out", str(tmp_path / "new.pt")])
    assert result.exit_code == 0, result.output
    assert "dog\trow" in result.output and "fitted" in result.output and f"of '{like}'" in result.output
    new = load_checkpoint(tmp_path / "new.pt")
    assert new.vocab.words[-2:] == ["dog", "fido"]
    (tmp_path / "bad.txt").write_text("dog cat extra\n")
    result = CliRunner().invoke(main, ["add-words", "--model", str(d / "exp" / "best.pt"), "--words",
                                       str(tmp_path / "bad.txt"), "--out", str(tmp_path / "x.pt")])
    assert result.exit_code != 0 and "bad.txt:1" in result.output


def test_fitted_rows_beat_free_cells_on_new_sentences_and_leave_trained_weights(trained):
    from helpers import toy_sentences

    _, ck, examples = trained
    fitted = add_words(ck.model, ck.vocab, ck.table, ["dog"], examples, fit_steps=60, lr=0.05)
    free = add_words(ck.model, ck.vocab, ck.table, ["dog"], examples)
    model, vocab, table, placements = fitted
    assert placements[0].method == "fitted" and placements[0].row == ck.table.n_rows  # a row of its own
    assert torch.equal(table.cell[:-1], ck.table.cell)
    old, new = ck.model.state_dict(), model.state_dict()
    for k, v in old.items():
        if k.startswith(("row_embed", "row_head")):
            assert torch.equal(new[k][: ck.table.n_rows], v)  # trained rows untouched
        elif k == "word_slot":  # one entry per word
            assert torch.equal(new[k][: len(v)], v)
        else:
            assert torch.equal(new[k], v)
    unseen = [s.split() for s in toy_sentences(200, 9) if "dog" in s.split()][:20]
    assert sentence_logprob(model, vocab, unseen) > sentence_logprob(free[0], free[1], unseen) + 1.0


def test_copy_row_words_score_as_their_like_word_times_share_over_k(trained):
    """like_placement="copy-row": each new word reads exactly as its like-word and is predicted with
    P(like | h) * share / k in every context (k: new words like that word), in the grown model."""
    _, ck, _ = trained
    like_word = next(w for w in ("cat", "ball", "bird") if w in ck.vocab)
    new = ["dog", "puppy", "kitten"]
    model, vocab, table, placements = add_words(ck.model, ck.vocab, ck.table, new, like={w: like_word for w in new},
                                                like_placement="copy-row", share=0.5)
    assert table.n_rows == ck.table.n_rows + len(new)  # one row per copied word
    assert [p.method for p in placements] == ["copy-row"] * 3
    assert {int(table.col[vocab.id(w)]) for w in new} == {int(ck.table.col[ck.vocab.id(like_word)])}
    ids = [vocab.id(w) for w in [like_word, *new]]
    for ctx in (["the", "cat", "sees", "the"], ["a", "bird", "calls", "her"], ["the"]):
        # each candidate as the word after the context
        inputs, targets, _ = make_batch([torch.tensor(vocab.encode(ctx + [vocab.words[i]])) for i in ids], 0, 1)
        with torch.no_grad():
            lp = model.token_logprobs(inputs, targets)[:, len(ctx)]
        for j in range(1, len(ids)):
            assert float(lp[j] - lp[0]) == pytest.approx(math.log(0.5 / 3), abs=1e-4)
    # read as input, a copied word predicts exactly what its like-word predicts
    after = [[like_word, "sees", "the"], ["dog", "sees", "the"]]
    inputs, targets, mask = make_batch([torch.tensor(vocab.encode(s)) for s in after], 0, 1)
    with torch.no_grad():
        tok = model.token_logprobs(inputs, targets)
    assert torch.allclose(tok[0, 1:], tok[1, 1:], atol=1e-5)
    # the old words lose at most log(1 + share) nats a token (the copies' rows take share * P_row)
    others = [s.split() for s in ["the cat sees the ball today", "a bird calls her sister"]]
    inputs, targets, mask = make_batch([torch.tensor(ck.vocab.encode(s)) for s in others], 0, 1)
    with torch.no_grad():
        before = ck.model.token_logprobs(inputs, targets)
        after_lp = model.token_logprobs(inputs, targets)
    m = mask.bool()
    assert (after_lp <= before + 1e-5)[m].all() and (after_lp >= before - math.log(1.5) - 1e-5)[m].all()
    assert (after_lp < before - 1e-4)[m].any()


def test_copy_row_is_refused_with_a_bad_share(trained):
    _, ck, _ = trained
    with pytest.raises(ValueError, match="share"):
        add_words(ck.model, ck.vocab, ck.table, ["dog"], like_placement="copy-row", share=0.0)
    with pytest.raises(ValueError, match="like_placement"):
        add_words(ck.model, ck.vocab, ck.table, ["dog"], like_placement="nearby")


def test_add_words_command_copy_row(trained, tmp_path):
    d, ck, _ = trained
    like = next(w for w in ("cat", "ball", "bird") if w in ck.vocab)
    (tmp_path / "names.txt").write_text("fido\nrex\n")  # one like-word for all: --like
    result = CliRunner().invoke(main, ["add-words", "--model", str(d / "exp" / "best.pt"), "--words",
                                       str(tmp_path / "names.txt"), "--like", like, "--like-placement", "copy-row",
                                       "--out", str(tmp_path / "new.pt")])
    assert result.exit_code == 0, result.output
    assert result.output.count(f"copy-row: copy of '{like}'") == 2 and "1 of 2" in result.output
    new = load_checkpoint(tmp_path / "new.pt")
    assert new.table.n_rows == ck.table.n_rows + 2 and new.vocab.words[-2:] == ["fido", "rex"]


@pytest.fixture(scope="module")
def trained_output_shortlist(tmp_path_factory):
    """:func:`train_without_dog` with an output vector of their own for the 8 most frequent words (<unk> among
    them: "dog" was trained as <unk>)."""
    d, ck, examples = train_without_dog(tmp_path_factory.mktemp("openvocab_osl"), 8)
    assert ck.model.config.output_shortlist == 8 and ck.vocab.unk_id < 8
    return d, ck, examples


def next_word_logprobs(model, vocab, context):
    """``(|V|,)`` log P(w | context) of every word w (nats)."""
    ids = vocab.encode(context)
    v = len(vocab)
    inputs = torch.tensor([vocab.bos_id, *ids]).expand(v, -1)
    targets = torch.cat([torch.tensor(ids).expand(v, -1), torch.arange(v)[:, None]], 1)
    with torch.no_grad():
        return model.token_logprobs(inputs, targets)[:, -1]


def test_output_shortlist_new_words_get_a_cell_and_the_distribution_still_sums_to_one(trained_output_shortlist):
    d, ck, examples = trained_output_shortlist
    for kwargs in ({"examples": examples}, {}, {"examples": examples, "fit_steps": 5}):
        model, vocab, table, placements = add_words(ck.model, ck.vocab, ck.table, ["dog", "fido"], **kwargs)
        for ctx in (["the", "cat", "sees"], ["a"]):
            lp = next_word_logprobs(model, vocab, ctx)
            assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
            assert (lp[-2:] > -20).all()  # a factorised cell of their own, not a masked one
            # words of rows the new ones did not enter keep their probability, up to the new rows' share
            old = next_word_logprobs(ck.model, ck.vocab, ctx)
            new_rows = {int(table.row[-1]), int(table.row[-2])}
            keep = [w for w in range(8, len(ck.vocab)) if int(table.row[w]) not in new_rows]
            assert (lp[keep] <= old[keep] + 1e-5).all()
    # the fitted rows were fitted under the masks of the table they end in: the NLL the fit reports is the
    # final model's on the examples, up to its last step
    fitted = next(p for p in placements if p.method == "fitted")
    reported = float(fitted.detail.split("example NLL ")[1].split()[0])
    sents = [s for s in examples if any(w in ("dog", "fido") for w in s)]
    inputs, targets, mask = make_batch([torch.tensor(vocab.encode(s)) for s in sents], 0, 1)
    with torch.no_grad():
        nll = -float(model.sentence_logprobs(inputs, targets, mask).sum()) / int(mask.sum())
    assert nll == pytest.approx(reported, abs=0.03)  # (reported before the last of the fit's steps)
    # the fallback for <unk> (in the shortlist): the row whose head vector is nearest <unk>'s own output vector
    p = add_words(ck.model, ck.vocab, ck.table, ["dog"])[3][0]
    assert p.method == "like" and "predicted most like '<unk>'" in p.detail
    free = ck.table.word_at() == -1
    near = torch.nn.functional.cosine_similarity(ck.model.row_head.weight, ck.model.shortlist_head.weight[ck.vocab.unk_id][None])
    assert p.row == int(near.masked_fill(~free.any(1), float("-inf")).argmax())


def test_output_shortlist_copy_row_is_exact_for_a_shortlist_like_word_and_a_factorised_one(trained_output_shortlist):
    """A copy of a shortlist word's row takes its own output vector; a copy of a factorised word's row masks
    the cells that word's row masks: either way the copy is predicted with P(like | h) * share / k."""
    _, ck, _ = trained_output_shortlist
    for like_word in (ck.vocab.words[5], ck.vocab.words[-1]):  # in the shortlist (ids 0-7), factorised
        new = ["dog", "puppy"]
        model, vocab, _, _ = add_words(ck.model, ck.vocab, ck.table, new, like={w: like_word for w in new},
                                       like_placement="copy-row", share=0.5)
        for ctx in (["the", "cat", "sees", "the"], ["a"]):
            lp = next_word_logprobs(model, vocab, ctx)
            for w in new:
                assert float(lp[vocab.id(w)] - lp[vocab.id(like_word)]) == pytest.approx(math.log(0.5 / 2), abs=1e-4)
            old = next_word_logprobs(ck.model, ck.vocab, ctx)  # the old words lose what the copies' rows take
            assert (lp[: len(ck.vocab)] <= old + 1e-5).all() and (lp[: len(ck.vocab)] >= old - math.log(1.5)).all()
