"""Backward LMs (train --backward): trained on reversed sentences, scored right to left everywhere, and
interpolated with a forward LM in N-best rescoring (rescore --backward-model)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lightrnn_asr import load_checkpoint, perplexity, read_nbest, score_nbest, score_sentences
from lightrnn_asr.cli import main
from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.formats.nbest import read_text
from lightrnn_asr.scoring.nbest import with_backward_lm
from lightrnn_asr.text.corpus import encode_corpus
from lightrnn_asr.text.vocabulary import Vocabulary

DATA = Path(__file__).parent / "data"
NBEST = DATA / "asterisk_dev_sample.nbest"
REF = DATA / "asterisk_dev_sample.ref"


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def train_args(d: Path, out: str, *extra) -> list:
    return ["train", "--train-text", d / "train.txt", "--valid-text", d / "valid.txt", "--out-dir", d / out,
            "--embed-dim", 16, "--hidden-dim", 32, "--num-layers", 1, "--lr", 0.01, "--max-tokens", 300,
            "--patience", 3, "--device", "cpu", "--threads", 1, *extra]


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    """A forward and a backward tiny LightRNN of the same text: the six reference prompts among toy sentences."""
    from helpers import toy_sentences

    d = tmp_path_factory.mktemp("lms")
    refs = [" ".join(w) for w in read_text(REF).values()]
    (d / "train.txt").write_text("\n".join(refs * 100 + toy_sentences(300)) + "\n")
    (d / "valid.txt").write_text("\n".join(refs) + "\n")
    run(*train_args(d, "fwd", "--rounds", 4))
    run(*train_args(d, "bwd", "--rounds", 4, "--backward"))
    return d


def reversed_file(src: Path, dst: Path) -> Path:
    dst.write_text("".join(" ".join(reversed(line.split())) + "\n" for line in src.read_text().splitlines()))
    return dst


def test_encode_corpus_reverses_each_sentence_before_splitting(tmp_path):
    (tmp_path / "t.txt").write_text("a b c d e\nf g\n")
    vocab = Vocabulary.from_sentences([list("abcdefg")])
    corpus = encode_corpus(tmp_path / "t.txt", vocab, max_len=2, backward=True)
    pieces = [vocab.decode(corpus.sentence(i).tolist()) for i in range(len(corpus))]
    assert pieces == [["e", "d"], ["c", "b"], ["a"], ["g", "f"]]


def test_a_backward_lm_learns_and_scores_right_to_left(lms, tmp_path):
    ck = load_checkpoint(lms / "bwd" / "best.pt")
    assert ck.model.config.backward and ck.model.backward and not load_checkpoint(lms / "fwd" / "best.pt").model.backward
    # ppl reads the text right to left by itself: the same as the text reversed, read as it is
    res = json.loads(run("ppl", "--model", lms / "bwd" / "best.pt", "--text", lms / "valid.txt", "--json").output)
    rev = reversed_file(lms / "valid.txt", tmp_path / "rev.txt")
    as_read = perplexity(ck.model, encode_corpus(rev, ck.vocab), unk_id=ck.vocab.unk_id).perplexity
    wrong_way = perplexity(ck.model, encode_corpus(lms / "valid.txt", ck.vocab), unk_id=ck.vocab.unk_id).perplexity
    assert res["perplexity"] == pytest.approx(as_read, rel=1e-5)
    assert res["perplexity"] < 6 and wrong_way > 5 * res["perplexity"]  # it learnt the reversed prompts
    # score: log P of every line read right to left
    lines = run("score", "--model", lms / "bwd" / "best.pt", "--text", lms / "valid.txt").output.splitlines()
    ids = [torch.tensor(ck.vocab.encode(line.split()[::-1])) for line in (lms / "valid.txt").read_text().splitlines()]
    expect = score_sentences(ck.model, ids, bos_id=ck.vocab.bos_id, eos_id=ck.vocab.eos_id)
    np.testing.assert_allclose([float(x.split("\t")[0]) for x in lines], expect, atol=2e-4)


def test_nbest_scores_of_a_backward_lm_and_their_interpolation(lms):
    fwd, bwd = load_checkpoint(lms / "fwd" / "best.pt"), load_checkpoint(lms / "bwd" / "best.pt")
    nbest = read_nbest(NBEST)
    b = score_nbest(bwd.model, bwd.vocab, nbest)
    hyps = [h for hs in nbest.values() for h in hs]
    ids = [torch.tensor(bwd.vocab.encode(h.words[::-1])) for h in hyps]
    np.testing.assert_allclose(np.concatenate([s.lm for s in b.values()]),
                               score_sentences(bwd.model, ids, bos_id=bwd.vocab.bos_id, eos_id=bwd.vocab.eos_id),
                               atol=2e-4)
    f = score_nbest(fwd.model, fwd.vocab, nbest)
    both = with_backward_lm(f, b, 0.25)
    for u in nbest:
        np.testing.assert_allclose(both[u].lm, 0.75 * f[u].lm + 0.25 * b[u].lm)
        np.testing.assert_array_equal(both[u].am, f[u].am)
    with pytest.raises(ValueError, match="weight must be in"):
        with_backward_lm(f, b, 1.5)
    u = next(iter(nbest))
    with pytest.raises(ValueError, match="different hypotheses"):
        with_backward_lm(f, {**b, u: score_nbest(bwd.model, bwd.vocab, {u: nbest[u][::-1]})[u]})


def test_rescore_with_a_backward_lm(lms, tmp_path):
    common = ["rescore", NBEST, "--model", lms / "fwd" / "best.pt", "--device", "cpu"]
    run(*common, "--backward-model", lms / "bwd" / "best.pt", "--backward-weight", 0.25, "--lm-scale", 1,
        "--out", tmp_path / "x.txt", "--scores-out", tmp_path / "s.tsv")
    f = score_nbest(*(lambda c: (c.model, c.vocab))(load_checkpoint(lms / "fwd" / "best.pt")), read_nbest(NBEST))
    b = score_nbest(*(lambda c: (c.model, c.vocab))(load_checkpoint(lms / "bwd" / "best.pt")), read_nbest(NBEST))
    expect = np.concatenate([0.75 * f[u].lm + 0.25 * b[u].lm for u in f])
    got = [float(r.split("\t")[2]) for r in (tmp_path / "s.tsv").read_text().splitlines()[1:]]
    np.testing.assert_allclose(got, expect, atol=1e-3)
    # tuned on dev, the pair fixes the first pass as the forward LM does
    run(*common, "--backward-model", lms / "bwd" / "best.pt", "--dev", NBEST, REF,
        "--out", tmp_path / "both.txt")
    run("rescore", NBEST, "--lm-scale", 0, "--out", tmp_path / "am.txt")
    refs = read_text(REF)
    assert compute_wer(refs, read_text(tmp_path / "both.txt")).wer < compute_wer(refs, read_text(tmp_path / "am.txt")).wer


def test_backward_lm_errors(lms, tmp_path):
    common = ["rescore", NBEST, "--lm-scale", 1, "--out", tmp_path / "x.txt"]
    res = run(*common, "--model", lms / "fwd" / "best.pt", "--backward-model", lms / "fwd" / "best.pt", ok=False)
    assert res.exit_code == 1 and "fwd/best.pt: not a backward LM" in res.output
    res = run(*common, "--backward-model", lms / "bwd" / "best.pt", ok=False)
    assert res.exit_code == 2 and "give --model, and N-best lists" in res.output
    lats = tmp_path / "lats"
    lats.mkdir()
    shutil.copy(DATA / "asterisk-queue-thankyou.slf", lats)
    res = run("rescore", lats, "--input-type", "lattices", "--model", lms / "bwd" / "best.pt", "--lm-scale", 1, "--out",
              tmp_path / "x.txt", ok=False)
    assert res.exit_code == 1 and "a backward LM reads sentences right to left" in res.output
    assert "Traceback" not in res.output
    # resuming a run in the other direction
    shutil.copytree(lms / "fwd", tmp_path / "fwd")
    res = run(*train_args(lms, str(tmp_path / "fwd"), "--rounds", 5, "--backward", "--resume"), ok=False)
    assert res.exit_code == 1 and "is a forward LM but this run reads its text backward" in res.output


def test_add_words_fits_a_backward_lm_on_its_examples_read_right_to_left(lms, tmp_path):
    from lightrnn_asr import add_words

    examples = ["please hold for zorro", "zorro is not available", "thank you for calling zorro",
                "your call to zorro is important"] * 5
    (tmp_path / "ex.txt").write_text("\n".join(examples) + "\n")
    (tmp_path / "words.txt").write_text("zorro\n")
    run("add-words", "--model", lms / "bwd" / "best.pt", "--words", tmp_path / "words.txt", "--examples",
        tmp_path / "ex.txt", "--out", tmp_path / "named.pt")
    named = load_checkpoint(tmp_path / "named.pt")
    assert named.model.backward and "zorro" in named.vocab.words
    right = perplexity(named.model, encode_corpus(tmp_path / "ex.txt", named.vocab, backward=True)).perplexity
    ck = load_checkpoint(lms / "bwd" / "best.pt")  # the same fit on the examples in the wrong order
    model, vocab, _, _ = add_words(ck.model, ck.vocab, ck.table, ["zorro"], [s.split() for s in examples],
                                  fit_steps=100)
    wrong = perplexity(model, encode_corpus(tmp_path / "ex.txt", vocab, backward=True)).perplexity
    assert right < 0.9 * wrong, (right, wrong)
