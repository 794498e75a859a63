"""The first-pass n-gram LM (lightrnn_asr.lm.ngram.NgramLM) scores in nats with ARPA back-off, through
pocketsphinx, on a hand-written bigram LM (tests/data/tiny.arpa) whose scores are known by hand."""

import math
from pathlib import Path

import pytest

from lightrnn_asr.lm.ngram import NgramLM

ARPA = Path(__file__).parent / "data" / "tiny.arpa"
LN10 = math.log(10)
TOL = 2e-4  # pocketsphinx keeps integer scores in base 1.0001


@pytest.fixture(scope="module")
def lm():
    return NgramLM(ARPA)


def test_explicit_ngrams_and_back_off_in_nats(lm):
    assert lm.order == 3
    assert lm.logprob("b", ["<s>", "a"]) == pytest.approx(-0.1 * LN10, abs=TOL)  # the trigram
    assert lm.logprob("b", ["c", "a"]) == pytest.approx((-0.4) * LN10, abs=TOL)  # no (c, a) history: the bigram
    assert lm.logprob("b", ["a"]) == pytest.approx(-0.4 * LN10, abs=TOL)  # a listed bigram
    assert lm.logprob("c", ["a"]) == pytest.approx((-0.2 - 1.2) * LN10, abs=TOL)  # back-off(a) + P(c)
    assert lm.logprob("c", ["b"]) == pytest.approx((-0.1 - 1.2) * LN10, abs=TOL)
    assert lm.logprob("a", []) == pytest.approx(-0.5 * LN10, abs=TOL)  # unigram
    # only the last order - 1 words of the history count
    assert lm.logprob("b", ["c", "b", "<s>", "a"]) == lm.logprob("b", ["<s>", "a"])


def test_sentences_start_after_s_and_end_with_end_of_sentence(lm):
    # P(a | <s>) P(b | <s> a) P(</s> | a b): the last backs off, back-off(a b) + P(</s> | b)
    assert lm.sentence_logprob(["a", "b"]) == pytest.approx((-0.3 - 0.1 - 0.05 - 0.2) * LN10, abs=3 * TOL)
    assert lm.sentence_logprob([]) == pytest.approx(lm.logprob("</s>", ["<s>"]))
    # the lattice-rescoring function (history, word) and the N-best bigram (prev, word) are the same scores
    assert lm(["c", "a"], "b") == lm.logprob("b", ["c", "a"])
    assert lm.bigram("a", "b") == lm.logprob("b", ["a"])


def test_unknown_words_and_files(lm, tmp_path):
    with pytest.raises(ValueError, match=r"tiny.arpa: the word 'zebra' is not in the n-gram LM"):
        lm.logprob("zebra", ["a"])
    assert NgramLM(ARPA, oov_logprob=-20.0).logprob("zebra", ["a"]) == -20.0
    with pytest.raises(FileNotFoundError, match="no such n-gram LM file"):
        NgramLM(tmp_path / "missing.arpa")
    (tmp_path / "bad.arpa").write_text("not a language model\n")
    with pytest.raises(ValueError, match=r"bad.arpa: not an n-gram LM"):
        NgramLM(tmp_path / "bad.arpa")
