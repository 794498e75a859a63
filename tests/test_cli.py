import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lightrnn_asr.cli import main
from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.formats.nbest import read_nbest, read_text
from lightrnn_asr.lm.checkpoint import load_checkpoint

DATA = Path(__file__).parent / "data"
# an lm_scale at which the tiny LM of the `model` fixture (trained on the six prompts 100 times; the
# recogniser's "bank" is out of its vocabulary) decides between the lattices' paths
LM_DECIDES = 100.0


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny LightRNN trained on in-domain text: the six reference prompts among toy sentences."""
    from helpers import toy_sentences

    d = tmp_path_factory.mktemp("lm")
    refs = [" ".join(w) for w in read_text(DATA / "asterisk_dev_sample.ref").values()]
    (d / "train.txt").write_text("\n".join(refs * 100 + toy_sentences(300)) + "\n")
    (d / "valid.txt").write_text("\n".join(refs) + "\n")
    run("train", "--train-text", d / "train.txt", "--valid-text", d / "valid.txt", "--out-dir", d / "exp",
        "--embed-dim", 16, "--hidden-dim", 32, "--num-layers", 1, "--rounds", 4, "--lr", 0.01, "--max-tokens", 300,
        "--patience", 3, "--device", "cpu", "--threads", 1)  # one thread: the same model whatever ran before
    return d


def test_prepare_text(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("Press 1 for Sales.  Then wait!\n\nA second\nparagraph, here.\n")
    out = tmp_path / "out.txt"
    run("prepare-text", raw, "--out", out)
    assert out.read_text().splitlines() == ["press one for sales", "then wait", "a second paragraph here"]
    raw.write_text("Line ONE, with 2 words?\n\n\nline two\r\nline\tthree \n")
    run("prepare-text", raw, "--lines", "--out", out)
    assert out.read_text().splitlines() == ["line one with two words", "line two", "line three"]
    raw.write_text("\n\nFirst para\n  goes on.\n \n\nSecond.")  # blank-ish lines, no final newline
    run("prepare-text", raw, "--out", out)
    assert out.read_text().splitlines() == ["first para goes on", "second"]


def test_train_outputs_and_ppl_and_score(model):
    exp = model / "exp"
    assert {p.name for p in exp.iterdir()} >= {"best.pt", "last.pt", "history.json", "vocab.txt", "perplexity.png"}
    res = json.loads(run("ppl", "--model", exp / "best.pt", "--text", model / "valid.txt", "--json",
                         "--device", "cpu").output)
    assert 1.0 < res["perplexity"] < 20.0 and res["oov_rate"] == 0.0  # uniform: |V| = 52
    lines = run("score", "--model", exp / "best.pt", "--text", model / "valid.txt", "--device", "cpu").output.splitlines()
    assert len(lines) == 6
    assert all(float(line.split("\t")[0]) < 0 for line in lines)


def test_sentence_scores_keeps_kaldis_contract(model, tmp_path):
    """rnnlm/compute_sentence_scores.sh: 'id w1 w2 ...' in, 'id cost' out in input order, cost = -log P(W </s>)
    in nats; Kaldi's upper-case words are looked up lower-cased, an unknown word as <unk>."""
    import torch

    from lightrnn_asr.scoring.sentences import score_sentences

    ck = load_checkpoint(model / "exp" / "best.pt")
    sents = {"utt2-1": "THANK YOU FOR YOUR PATIENCE", "utt1-1": "do not disturb", "utt1-2": "", "utt1-3": "do not zzz"}
    (tmp_path / "text").write_text("".join(f"{u} {w}\n" for u, w in sents.items()))
    run("sentence-scores", "--model", model / "exp" / "best.pt", "--device", "cpu", tmp_path / "text", tmp_path / "costs")
    lines = [line.split() for line in (tmp_path / "costs").read_text().splitlines()]
    assert [u for u, _ in lines] == list(sents)
    ids = [torch.tensor(ck.vocab.encode(w.lower().split())) for w in sents.values()]
    expected = -score_sentences(ck.model, ids)
    assert np.allclose([float(c) for _, c in lines], expected, atol=1e-3)
    assert all(float(c) > 0 for _, c in lines) and ck.vocab.encode(["zzz"]) == [ck.vocab.unk_id]


def test_rescore_tunes_scales_and_lowers_wer(model, tmp_path):
    refs = read_text(DATA / "asterisk_dev_sample.ref")
    nbest = DATA / "asterisk_dev_sample.nbest"
    run("rescore", nbest, "--lm-scale", 0, "--out", tmp_path / "am.txt")
    res = run("rescore", nbest, "--model", model / "exp" / "best.pt", "--dev", nbest,
              DATA / "asterisk_dev_sample.ref", "--out", tmp_path / "lm.txt", "--scores-out",
              tmp_path / "scores.tsv", "--plot", tmp_path / "sweep.png", "--device", "cpu")
    scales = json.loads(res.output.strip().splitlines()[-1])
    assert scales["lm_scale"] > 0
    assert "asterisk_dev_sample.nbest: lm_scale" in res.output and "weight combinations" in res.output
    am_wer = compute_wer(refs, read_text(tmp_path / "am.txt")).wer
    lm_wer = compute_wer(refs, read_text(tmp_path / "lm.txt")).wer
    assert lm_wer < am_wer
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    rows = (tmp_path / "scores.tsv").read_text().splitlines()
    assert rows[0].startswith("utt_id\tam_score\tlm_logprob") and len(rows) == 1 + sum(1 for _ in open(nbest))


def test_wer_command(tmp_path):
    out = run("wer", "--ref", DATA / "asterisk_dev_sample.ref", "--hyp", DATA / "asterisk_dev_sample.first_pass",
              "--hyp2", DATA / "asterisk_dev_sample.ref", "--alignments", tmp_path / "ali.txt",
              "--replications", 200).output
    # by hand: 32 reference words; errors per prompt 0 + 2 + 4 + 1 + 5 + 1 (2 ins, 2 del, 9 sub)
    assert "%WER 40.62 [ 13 / 32, 2 ins, 2 del, 9 sub ]" in out
    assert "%WER 0.00 [ 0 / 32, 0 ins, 0 del, 0 sub ]" in out
    assert "95% CI" in out and "better than" in out
    ali = (tmp_path / "ali.txt").read_text().splitlines()
    assert len(ali) == 18 and ali[0].startswith("asterisk-queue-thankyou ref")


def test_nbest_oracle(tmp_path):
    out = run("nbest-oracle", "--nbest", DATA / "asterisk_dev_sample.nbest", "--ref", DATA / "asterisk_dev_sample.ref",
              "--out", tmp_path / "o.txt").output
    refs = read_text(DATA / "asterisk_dev_sample.ref")
    oracle_wer = compute_wer(refs, read_text(tmp_path / "o.txt"))
    assert f"oracle: {oracle_wer.kaldi_line()}" in out
    top1 = {u: list(h[0].words) for u, h in read_nbest(DATA / "asterisk_dev_sample.nbest").items()}
    assert oracle_wer.errors < compute_wer(refs, top1).errors  # the oracle can only beat the top hypothesis


def test_lattice_to_nbest(tmp_path):
    run("lattice-to-nbest", DATA / "asterisk-queue-thankyou.slf", "-n", 20, "--out", tmp_path / "n.txt")
    lines = (tmp_path / "n.txt").read_text().splitlines()
    utt, am, words = lines[0].split("\t")
    assert len(lines) == 20 and (utt, words) == ("asterisk-queue-thankyou", "bank you for your patients")
    assert float(am) == pytest.approx(-418.487876, abs=1e-6)  # the best path's arcs summed in float64


def test_bad_input_gives_one_line_error(tmp_path, model):
    bad = tmp_path / "bad.nbest"
    bad.write_text("u1\t-1\tok\nu1\toops\tbad\n")
    res = run("rescore", bad, "--lm-scale", 1, "--out", tmp_path / "o.txt", ok=False)
    assert res.exit_code == 1 and "bad.nbest:2: am_score 'oops' is not a number" in res.output
    assert "Traceback" not in res.output
    broken = tmp_path / "broken.pt"
    shutil.copy(model / "exp" / "best.pt", broken)
    broken.write_bytes(broken.read_bytes()[:1000])
    res = run("ppl", "--model", broken, "--text", model / "valid.txt", ok=False)
    assert res.exit_code == 1 and "broken.pt: not a lightrnn-asr checkpoint" in res.output
    res = run("rescore", DATA / "asterisk_dev_sample.nbest", "--out", tmp_path / "o.txt", ok=False)
    assert res.exit_code == 2 and "--dev DEV_INPUT DEV_REF" in res.output
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("asterisk-queue-thankyou thank you\n")
    res = run("wer", "--ref", DATA / "asterisk_dev_sample.ref", "--hyp", hyp, ok=False)
    assert res.exit_code == 1 and "5 reference utterances have no hypothesis" in res.output
    (tmp_path / "empty.txt").write_text("\n\n")
    res = run("train", "--train-text", tmp_path / "empty.txt", "--valid-text", model / "valid.txt",
              "--out-dir", tmp_path / "e", ok=False)
    assert res.exit_code == 1 and "empty.txt: no word left after the vocabulary cut-off" in res.output
    res = run("train", "--train-text", model / "train.txt", "--valid-text", tmp_path / "empty.txt",
              "--out-dir", tmp_path / "e", "--rounds", 1, ok=False)
    assert res.exit_code == 1 and "empty.txt: no sentence in file" in res.output


def test_train_with_a_word_list_gives_unseen_words_their_own_cells(tmp_path):
    from helpers import toy_sentences

    (tmp_path / "train.txt").write_text("\n".join(toy_sentences(300, 0)) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(toy_sentences(20, 1)) + "\n")
    (tmp_path / "list.txt").write_text("Zebra\nlion\ncat\n")
    out = tmp_path / "exp"
    result = CliRunner().invoke(main, [
        "train", "--train-text", str(tmp_path / "train.txt"), "--valid-text", str(tmp_path / "valid.txt"),
        "--out-dir", str(out), "--word-list", str(tmp_path / "list.txt"), "--embed-dim", "16", "--hidden-dim", "16",
        "--num-layers", "1", "--rounds", "2", "--max-tokens", "400", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "2 new words (3 read, 0 entries skipped" in result.output
    ck = load_checkpoint(out / "best.pt")
    assert ck.vocab.words[-2:] == ["zebra", "lion"] and ck.vocab.counts[-2:] == [0, 0]
    zebra, lion, unk = (int(ck.table.cell[ck.vocab.id(w)]) for w in ("zebra", "lion", "<unk>"))
    assert len({zebra, lion, unk}) == 3  # cells of their own, not <unk>'s
    (tmp_path / "s.txt").write_text("the zebra sees the lion\nthe cat sees the dog\n")
    result = CliRunner().invoke(main, ["score", "--model", str(out / "best.pt"), "--text", str(tmp_path / "s.txt")])
    assert result.exit_code == 0, result.output
    scores = [float(line.split("\t")[0]) for line in result.output.strip().splitlines()]
    assert all(math.isfinite(s) for s in scores) and scores[0] < scores[1]  # unseen words are unlikely


def test_rescore_lattices_with_the_lm_fixes_the_first_pass(model, tmp_path):
    lats = tmp_path / "lats"
    lats.mkdir()
    shutil.copy(DATA / "asterisk-queue-thankyou.slf", lats)
    ref = read_text(DATA / "asterisk_dev_sample.ref")["asterisk-queue-thankyou"]
    common = ["rescore", lats, "--input-type", "lattices", "--model", model / "exp" / "best.pt", "--device", "cpu",
              "--ngram-order", 3, "--max-histories", 4]
    run(*common, "--lm-scale", 0, "--prune-lm-scale", 0, "--out", tmp_path / "am.txt")
    assert read_text(tmp_path / "am.txt")["asterisk-queue-thankyou"] == "bank you for your patients".split()
    run(*common, "--lm-scale", LM_DECIDES, "--prune-lm-scale", LM_DECIDES, "--out", tmp_path / "lm.txt",
        "--scores-out", tmp_path / "s.tsv")
    assert read_text(tmp_path / "lm.txt")["asterisk-queue-thankyou"] == ref
    assert len((tmp_path / "s.tsv").read_text().splitlines()) > 10
    res = run("rescore", lats, "--input-type", "lattices", "--nbest", DATA / "asterisk_dev_sample.nbest", "--lm-scale",
              1, "--out", tmp_path / "x.txt", ok=False)
    assert res.exit_code == 2 and "give INPUT or --nbest/--lattices/--k2-lattices, not both" in res.output
    (lats / "broken.slf").write_text("VERSION=1.0\nN=2 L=1\nI=0 t=0\nI=1 t=1\nJ=0 S=0 E=7\n")
    res = run(*common, "--lm-scale", 1, "--out", tmp_path / "x.txt", ok=False)
    assert res.exit_code == 1 and "broken.slf:5: link S=0 E=7 refers to a missing node" in res.output


def test_rescore_kaldi_and_openfst_lattices_and_write_the_rescored_lattices(model, tmp_path):
    from lightrnn_asr.formats.kaldi_lattice import (
        read_fst_lattice,
        read_kaldi_lattices,
        read_words,
        write_fst_lattice,
        write_kaldi_lattices,
    )
    from lightrnn_asr.formats.lattice import FillerMap, read_htk
    from lightrnn_asr.formats.lattice_paths import lattice_nbest

    utt = "asterisk-queue-thankyou"
    src, fillers = read_htk(DATA / f"{utt}.slf"), FillerMap()
    vocab = sorted({fillers(s) for s in src.symbols} - {None})
    words_txt = tmp_path / "words.txt"
    words_txt.write_text("<eps> 0\n" + "".join(f"{w} {i}\n" for i, w in enumerate(vocab, 1)))
    words = read_words(words_txt)
    write_kaldi_lattices(tmp_path / "lat.txt", {utt: src}, words, fillers)
    (tmp_path / "fst").mkdir()
    write_fst_lattice(tmp_path / "fst" / f"{utt}.fst", src, words, fillers)
    ref = tuple(read_text(DATA / "asterisk_dev_sample.ref")[utt])
    common = ["rescore", "--model", model / "exp" / "best.pt", "--device", "cpu", "--ngram-order", 3,
              "--max-histories", 4, "--lm-scale", LM_DECIDES, "--prune-lm-scale", LM_DECIDES, "--words", words_txt]
    run(*common, "--lattices", tmp_path / "lat.txt", "--format", "kaldi", "--out", tmp_path / "k.txt",
        "--lattices-out", tmp_path / "k_out")
    run(*common, "--lattices", tmp_path / "fst", "--format", "fst", "--out", tmp_path / "f.txt",
        "--lattices-out", tmp_path / "f_out")
    run(*common, "--lattices", DATA / f"{utt}.slf", "--out", tmp_path / "h.txt", "--lattices-out", tmp_path / "h_out")
    for name in ("k.txt", "f.txt", "h.txt"):
        assert tuple(read_text(tmp_path / name)[utt]) == ref
    # the written lattices carry the new LM: their best path (am + graph score) is the rescored 1-best
    written = [read_kaldi_lattices(tmp_path / "k_out" / "lattices.txt", words)[utt],
               read_fst_lattice(tmp_path / "f_out" / f"{utt}.fst", words)]
    for lat in written:
        assert lattice_nbest(lat, 1)[0].words == ref
        assert lattice_nbest(lat, 1, fp_lm_scale=0.0)[0].words != ref  # acoustics alone get it wrong
    htk = read_htk(tmp_path / "h_out" / f"{utt}.slf")
    assert htk.lm is not None and htk.fp_lm is not None  # the new LM in l=, the first pass in n=
    res = run(*common[:-2], "--lattices", tmp_path / "fst", "--format", "fst", "--out", tmp_path / "x.txt", ok=False)
    assert res.exit_code != 0 and "--format fst needs --words" in res.output


def test_the_package_never_imports_k2_and_says_how_to_get_it(tmp_path):
    import subprocess
    import sys

    code = ("import sys, lightrnn_asr, lightrnn_asr.cli, lightrnn_asr.scoring.lattice; "
            "print('k2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    try:
        import k2  # noqa: F401
    except ImportError:
        (tmp_path / "lats.pt").write_bytes(b"")
        (tmp_path / "words.txt").write_text("<eps> 0\n")
        res = run("rescore", tmp_path / "lats.pt", "--input-type", "k2", "--words", tmp_path / "words.txt",
                  "--lm-scale", 0, "--out", tmp_path / "x", ok=False)
        assert res.exit_code == 2 and "pip install 'lightrnn-asr[k2]'" in res.output


def test_nbest_rescoring_streams_in_chunks_with_the_same_output(tmp_path):
    from lightrnn_asr.formats.nbest import Hypothesis, write_nbest
    from lightrnn_asr.scoring.nbest import Scales, one_best, score_nbest

    rng = np.random.default_rng(0)
    nbest = {f"utt{i:05d}": [Hypothesis(("a",) * int(rng.integers(0, 4)), float(rng.normal()))
                             for _ in range(3)] for i in range(4500)}  # three chunks of up to 2000
    write_nbest(tmp_path / "big.nbest", nbest)
    run("rescore", tmp_path / "big.nbest", "--lm-scale", 0, "--word-penalty", 0.5,
        "--out", tmp_path / "o.txt", "--scores-out", tmp_path / "s.tsv")
    expected = one_best(score_nbest(None, None, nbest), Scales(0.0, 0.5))
    assert read_text(tmp_path / "o.txt") == expected
    assert len((tmp_path / "s.tsv").read_text().splitlines()) == 1 + 3 * 4500
    run("rescore", tmp_path / "big.nbest", "--lm-scale", 0, "--word-penalty", 0.5,
        "--out", tmp_path / "o2.txt", "--scores-out", tmp_path / "s2.tsv")
    assert (tmp_path / "o2.txt").read_bytes() == (tmp_path / "o.txt").read_bytes()  # deterministic output
    assert (tmp_path / "s2.tsv").read_bytes() == (tmp_path / "s.tsv").read_bytes()
    (tmp_path / "empty.nbest").write_text("\n")
    res = run("rescore", tmp_path / "empty.nbest", "--lm-scale", 0, "--out", tmp_path / "e.txt",
              ok=False)
    assert res.exit_code == 1 and "empty.nbest: no hypothesis in file" in res.output
    assert not (tmp_path / "e.txt").exists() and not (tmp_path / "e.txt.tmp").exists()  # nothing half-written


def test_train_adaptive_softmax_lstm(model, tmp_path):
    out = tmp_path / "adaptive"
    run("train", "--train-text", model / "train.txt", "--valid-text", model / "valid.txt", "--out-dir", out,
        "--model-type", "adaptive", "--cutoffs", "10,30", "--embed-dim", 16, "--hidden-dim", 32, "--num-layers", 1,
        "--rounds", 2, "--lr", 0.01, "--max-tokens", 300, "--device", "cpu")
    ck = load_checkpoint(out / "best.pt")
    assert ck.model.config.model_type == "adaptive" and ck.model.config.cutoffs == [10, 30]
    res = json.loads(run("ppl", "--model", out / "best.pt", "--text", model / "valid.txt", "--json",
                         "--device", "cpu").output)
    assert 1.0 < res["perplexity"] < 20.0  # learnt the in-domain prompts (|V| = 52)
    res = run("train", "--train-text", model / "train.txt", "--valid-text", model / "valid.txt", "--out-dir",
              tmp_path / "bad", "--model-type", "adaptive", "--cutoffs", "30,10", ok=False)
    assert res.exit_code == 2 and "cutoffs" in res.output


def test_rescore_says_when_the_optimum_is_on_the_edge_of_a_given_grid(model, tmp_path):
    nbest, ref = DATA / "asterisk_dev_sample.nbest", DATA / "asterisk_dev_sample.ref"
    common = ["rescore", nbest, "--model", model / "exp" / "best.pt", "--dev", nbest, ref,
              "--device", "cpu", "--out", tmp_path / "1best.txt"]
    res = run(*common, "--lm-scale", "0,0.001", "--word-penalty", 0)
    assert ("Warning: the lowest dev WER is reached at the edge of the searched lm_scale range [0, 0.001]"
            in res.output) and "widen --lm-scale" in res.output
    res = run(*common)  # these 6 lists are flat over wide ranges: the automatic search's plateau may touch its edges
    assert json.loads(res.output.strip().splitlines()[-1])["lm_scale"] > 0.001


def test_progress_bars_stay_out_of_log_files(model, tmp_path):
    """With stderr redirected to a file (not a terminal), training, loss tables and lattice rescoring
    log their lines but draw no bar: no carriage returns."""
    import subprocess
    import sys

    log = tmp_path / "log.txt"
    lats = tmp_path / "lats"
    lats.mkdir()
    for name in ("asterisk-queue-thankyou.slf", "asterisk-do-not-disturb.slf"):
        shutil.copy(DATA / name, lats)
    cli = [sys.executable, "-m", "lightrnn_asr.cli"]
    with open(log, "w") as err:
        subprocess.run([str(a) for a in [*cli, "train", "--train-text", model / "train.txt", "--valid-text", model / "valid.txt",
                        "--out-dir", tmp_path / "exp", "--embed-dim", 8, "--hidden-dim", 8, "--rounds", 2,
                        "--device", "cpu"]], stderr=err, check=True)
        subprocess.run([str(a) for a in [*cli, "rescore", lats, "--input-type", "lattices", "--model",
                                         tmp_path / "exp" / "best.pt", "--lm-scale", 1,
                        "--device", "cpu", "--out", tmp_path / "1best.txt"]], stderr=err, stdout=subprocess.DEVNULL,
                       check=True)
    text = log.read_text()
    assert "tokens/s" in text and "reallocated" in text
    assert "\r" not in text
