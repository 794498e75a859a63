"""The recipe gives each LM the contact list its own way, chosen on dev: a name scored as its class's
like-word is scored exactly as that word, the hypotheses keep their own words, the offset per name is
added once per name, and every way tried is reported."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import load_script

from lightrnn_asr.formats.nbest import Hypothesis
from lightrnn_asr.lm.build import new_model
from lightrnn_asr.scoring.nbest import score_nbest
from lightrnn_asr.text.vocabulary import Vocabulary

EVALUATE = Path(__file__).resolve().parent.parent / "recipes" / "pocketsphinx" / "local" / "evaluate.py"
WORDS = "call john smith in london fanny said the weather is fine".split()


@pytest.fixture(scope="module")
def evaluate():
    return load_script(EVALUATE, "recipe_evaluate")


@pytest.fixture(scope="module")
def lm():
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *WORDS], [0, 10, 0, *range(len(WORDS), 0, -1)])
    torch.manual_seed(0)
    model, table = new_model("lightrnn", len(vocab), embed_dim=8, hidden_dim=8, num_layers=1, dropout=0.0,
                             recurrence="word-sum", col_hidden_dim=0, input_shortlist=0, output_shortlist=0)
    for p in model.parameters():  # larger than the default init, so that every word scores differently
        p.data.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))

    class Checkpoint:  # what load_checkpoint returns, as far as the recipe reads it
        pass

    ck = Checkpoint()
    ck.model, ck.vocab, ck.table = model.eval(), vocab, table
    return ck


def nbest(*sentences, am_step=1.0):
    return {"u1": [Hypothesis(tuple(s.split()), -am_step * i, -2.0) for i, s in enumerate(sentences)]}


def test_a_name_scored_as_its_like_word_scores_as_that_word_and_its_offset_counts_once(evaluate, lm):
    contacts = {"jessica": "first", "pratt": "last", "leeds": "place"}
    like = {w: evaluate.EXEMPLARS[c] for w, c in contacts.items()}
    lists = nbest("call jessica pratt", "the weather in leeds is fine", "call john smith")
    scored = evaluate.score_way((lm.model, lm.vocab, like), lists)["u1"]
    direct = score_nbest(lm.model, lm.vocab, nbest("call john smith", "the weather in london is fine",
                                                    "call john smith"))["u1"]
    assert scored.words == [("call", "jessica", "pratt"), ("the", "weather", "in", "leeds", "is", "fine"),
                            ("call", "john", "smith")]
    np.testing.assert_allclose(scored.lm, direct.lm, rtol=1e-6)
    as_unk = evaluate.score_way((lm.model, lm.vocab, None), lists)["u1"]
    assert as_unk.n_oov.tolist() == [2, 1, 0] and not np.allclose(as_unk.lm, scored.lm)
    offset = evaluate.with_offset({"u1": scored}, set(contacts), -3.0)["u1"]
    np.testing.assert_allclose(offset.lm, scored.lm - 3.0 * np.array([2, 1, 0]), rtol=1e-6)
    assert offset.words == scored.words


def test_the_way_with_the_lowest_dev_wer_is_chosen_and_every_way_is_reported(evaluate, lm, tmp_path):
    contacts = {"jessica": "first", "leeds": "place"}
    ways = evaluate.name_ways(lm, tmp_path, contacts)
    assert list(ways) == ["add-words, copied rows", "as the like-word", "as <unk>"]
    added_model, added_vocab, _ = ways["add-words, copied rows"]
    assert "jessica" in added_vocab and "leeds" in added_vocab
    dev = {"u1": nbest("call the", "call jessica", "call john", am_step=0.3)["u1"],
           "u2": nbest("the weather in london", "the weather in leeds", "the weather in the", am_step=0.3)["u1"],
           "u3": nbest("fine jessica", "fine said", "call fine", am_step=0.3)["u1"]}
    refs = {"u1": "call jessica".split(), "u2": "the weather in leeds".split(), "u3": "fine said".split()}
    label, way, penalty, tried = evaluate.choose_name_way(lm, tmp_path, contacts, dev, refs)
    assert set(tried) == set(ways) and label in tried
    chosen = evaluate.tune_scales(evaluate.with_offset(evaluate.score_way(way, dev), set(contacts), penalty), refs)
    assert chosen.best_wer == tried[label]["dev_wer"] == min(t["dev_wer"] for t in tried.values())
    worst = max(evaluate.tune_scales(evaluate.with_offset(evaluate.score_way(w, dev), set(contacts), o), refs).best_wer
                for w in ways.values() for o in evaluate.NAME_OFFSETS)
    assert worst > chosen.best_wer  # the grid matters on this dev set
    assert penalty == tried[label]["offset"] and penalty in evaluate.NAME_OFFSETS
    with pytest.raises(SystemExit, match="like-words"):
        lm_without = type(lm)()
        lm_without.model, lm_without.table = lm.model, lm.table
        lm_without.vocab = Vocabulary(["<s>", "</s>", "<unk>", *[w if w != "london" else "paris" for w in WORDS]],
                                      list(lm.vocab.counts))
        evaluate.name_ways(lm_without, tmp_path, contacts)


def test_the_report_names_each_lms_output_layer_settings(evaluate):
    from lightrnn_asr.lm.config import LMConfig

    light = LMConfig(model_type="lightrnn", vocab_size=70000, hidden_dim=200, embed_dim=200, col_hidden_dim=0,
                     output_shortlist=2000)
    assert evaluate.output_layer(light) == (f"{light.n_rows} x {light.n_cols} table, 2,000-word output shortlist, "
                                            "column head K = H = 200")
    light = LMConfig(model_type="lightrnn", vocab_size=70000, hidden_dim=200, embed_dim=200, col_hidden_dim=64,
                     output_shortlist=0)
    assert evaluate.output_layer(light).endswith("table, column head K = 64")
    adaptive = LMConfig(model_type="adaptive", vocab_size=70000, cutoffs=[2000, 10000, 40000])
    assert evaluate.output_layer(adaptive) == "adaptive softmax, cutoffs 2,000, 10,000, 40,000"
    assert evaluate.output_layer(LMConfig(model_type="bpe", vocab_size=70000, n_pieces=4000,
                                                   max_word_pieces=8)) == "softmax over 4,000 pieces"
    assert evaluate.output_layer(LMConfig(model_type="lstm", vocab_size=500)) == "full softmax over 500 words"
