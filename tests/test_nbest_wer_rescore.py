import numpy as np
import pytest
import torch

from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer, format_alignment, utterance_errors
from lightrnn_asr.formats.nbest import Hypothesis, NBestFormatError, read_nbest, read_text, write_nbest
from lightrnn_asr.lm import LanguageModel
from lightrnn_asr.scoring.nbest import Scales, one_best, oracle, score_nbest
from lightrnn_asr.scoring.tuning import tune_scales


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p


def test_read_nbest_both_forms_crlf_and_empty_hypothesis(tmp_path):
    p = write(tmp_path, "a.nbest", b"u1\t-10.5\thello world\r\nu1\t-11\t\r\nu2\t-3e2\tyes\r\n")
    nb = read_nbest(p)
    assert list(nb) == ["u1", "u2"]
    assert nb["u1"] == [Hypothesis(("hello", "world"), -10.5), Hypothesis((), -11.0)]
    assert nb["u2"][0].am == -300.0
    p = write(tmp_path, "b.nbest", "u1\t-1\t-2.5\ta b\n")
    assert read_nbest(p)["u1"] == [Hypothesis(("a", "b"), -1.0, -2.5)]
    write_nbest(tmp_path / "c.nbest", read_nbest(p))
    assert read_nbest(tmp_path / "c.nbest") == read_nbest(p)


@pytest.mark.parametrize("content,message", [
    ("u1\t-1\n", r"bad.nbest:1: expected 3 or 4 TAB-separated fields"),
    ("u1\t-1\tok\nu1 -2 missing tabs\n", r"bad.nbest:2: expected 3 or 4"),
    ("u1\tminus\twords\n", r"bad.nbest:1: am_score 'minus' is not a number"),
    ("u1\tnan\twords\n", r"bad.nbest:1: am_score 'nan' is not finite"),
    ("u1\t-1\tinf\twords\n", r"bad.nbest:1: lm_score 'inf' is not finite"),
    ("u1\t-1\ta\nu2\t-1\tb\nu1\t-2\tc\n", r"bad.nbest:3: lines of utterance 'u1' are not consecutive"),
    ("u1\t-1\ta\nu1\t-1\t-2\tb\n", r"bad.nbest:2: 4 fields, but earlier lines have 3"),
    ("\t-1\ta\n", r"bad.nbest:1: utterance id '' is empty"),
    ("", r"bad.nbest: no hypothesis in file"),
])
def test_malformed_nbest_names_file_and_line(tmp_path, content, message):
    p = write(tmp_path, "bad.nbest", content)
    with pytest.raises(NBestFormatError, match=message):
        read_nbest(p)


def test_invalid_utf8_names_line(tmp_path):
    p = write(tmp_path, "bad.nbest", b"u1\t-1\tok\nu2\t-1\tcaf\xe9\n")
    with pytest.raises(NBestFormatError, match=r"bad.nbest:2: not valid UTF-8"):
        read_nbest(p)


def test_read_text_rejects_duplicates(tmp_path):
    p = write(tmp_path, "text", "a x y\nb\na z\n")
    with pytest.raises(NBestFormatError, match="text:3: duplicate utterance id 'a'"):
        read_text(p)


def test_wer_against_hand_computed_alignment():
    refs = {"u1": "the cat sat on the mat".split(), "u2": "hello world".split(), "u3": []}
    hyps = {"u1": "the cat sat on mat too".split(), "u2": "hello there world".split(), "u3": ["uh"]}
    # u1: 'the' deleted, 'too' inserted (Levenshtein distance 2); u2: one insertion; u3: one insertion
    assert utterance_errors(refs["u1"], hyps["u1"]) in {(1, 1, 0), (0, 0, 2)}
    assert sum(utterance_errors(refs["u1"], hyps["u1"])) == 2
    res = compute_wer(refs, hyps)
    assert (res.ref_words, res.errors, res.utterances) == (8, 4, 3)
    assert res.kaldi_line() == f"%WER 50.00 [ 4 / 8, {res.ins} ins, {res.dels} del, {res.subs} sub ]"
    assert res.ins + res.dels + res.subs == 4
    text = format_alignment("u2", refs["u2"], hyps["u2"])
    assert text.splitlines()[2].split()[2:] == ["C", "I", "C"]
    with pytest.raises(ValueError, match="1 reference utterances have no hypothesis"):
        compute_wer(refs, {"u1": [], "u2": []})
    with pytest.raises(ValueError, match="have no reference"):
        compute_wer({"u1": ["a"]}, {"u1": ["a"], "zz": []})


def test_bootstrap_ci_brackets_wer_and_compares_systems():
    refs = {f"u{i}": "a b c d".split() for i in range(30)}
    bad = {u: "a x c d".split() for u in refs}
    good = {u: ("a b c d".split() if i % 3 else "a x c d".split()) for i, u in enumerate(refs)}
    one = bootstrap_ci(refs, bad, replications=200)
    assert one["wer"] == pytest.approx(0.25)
    both = bootstrap_ci(refs, bad, good, replications=500)
    assert both["system2"]["ci95min"] <= both["system2"]["wer"] <= both["system2"]["ci95max"]
    assert both["p_s2_improv_over_s1"] > 0.95


def test_a_wer_interval_never_goes_below_zero():
    """Two utterances, one error in 27 words (the recipe's LibriVox test half): mean - 1.96 sd < 0."""
    refs = {"u1": ("w " * 14).split(), "u2": ("w " * 13).split()}
    hyps = {"u1": refs["u1"], "u2": ["x"] + refs["u2"][1:]}
    one = bootstrap_ci(refs, hyps, replications=500)
    assert one["ci95min"] == 0.0 and one["ci95max"] > one["wer"] > 0
    both = bootstrap_ci(refs, refs, hyps, replications=500)
    assert both["system1"]["ci95min"] == 0.0 and both["system2"]["ci95min"] == 0.0


class UnigramLM(LanguageModel):
    """A context-free LM with fixed word log-probs, enough to test rescoring arithmetic."""

    def __init__(self, logp):
        super().__init__()
        self.logp = torch.nn.Parameter(torch.tensor(logp), requires_grad=False)

    def token_logprobs(self, inputs, targets):
        return self.logp[targets]


def test_rescoring_arithmetic_tuning_and_oracle():
    from lightrnn_asr.text.vocabulary import Vocabulary

    vocab = Vocabulary(["<s>", "</s>", "<unk>", "right", "wrong"])
    lm = UnigramLM([0.0, -1.0, -5.0, -1.0, -4.0])
    nbest = {
        "u1": [Hypothesis(("wrong",), -10.0), Hypothesis(("right",), -11.0)],
        "u2": [Hypothesis(("wrong", "oov"), -20.0), Hypothesis(("right",), -22.0)],
    }
    refs = {"u1": ["right"], "u2": ["right"]}
    scored = score_nbest(lm, vocab, nbest, oov_penalty=-0.5, max_tokens=100)
    np.testing.assert_allclose(scored["u1"].lm, [-5.0, -2.0])
    np.testing.assert_allclose(scored["u2"].lm, [-4 - 5 - 1 - 0.5, -2.0])
    assert scored["u2"].n_oov.tolist() == [1, 0]
    assert one_best(scored, Scales(0.0)) == {"u1": ["wrong"], "u2": ["wrong", "oov"]}
    # u1 flips when lm_scale * 3 > 1, u2 when lm_scale * 8.5 > 2
    assert one_best(scored, Scales(0.3))["u1"] == ["wrong"] and one_best(scored, Scales(0.3))["u2"] == ["right"]
    assert one_best(scored, Scales(0.4)) == {"u1": ["right"], "u2": ["right"]}
    tuned = tune_scales(scored, refs, np.arange(0, 1.01, 0.1), [0.0])
    assert tuned.best_wer == 0.0 and 0.4 <= tuned.scales.lm_scale <= 1.0
    assert tuned.scales.lm_scale == pytest.approx(0.7)  # the median of the tied optimum 0.4 .. 1.0
    assert tuned.lm_scales[0] == 0.0 and tuned.sweep_wer[0] == pytest.approx(100 * 3 / 2)  # 1 sub + (1 sub + 1 ins)
    assert oracle(scored, refs) == {"u1": ["right"], "u2": ["right"]}
    # the word penalty alone can also prefer the shorter u2 hypothesis
    assert one_best(scored, Scales(0.0, word_penalty=-2.5))["u2"] == ["right"]
