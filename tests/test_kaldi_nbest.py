"""Kaldi nbest-to-linear archives -> project N-best lists, and compute-wer-style output."""

import pytest
from click.testing import CliRunner

from lightrnn_asr.cli import main
from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.formats.kaldi_lattice import read_words
from lightrnn_asr.formats.kaldi_nbest import iter_kaldi_nbest
from lightrnn_asr.formats.nbest import NBestFormatError, read_nbest

WORDS = "<eps> 0\nthe 1\ncat 2\nsat 3\nhat 4\n<NOISE> 5\n#0 6\n"
ARCHIVES = {
    "words": "u1-1 1 2 3 \nu1-2 1 4 5 3\nu1-3\nu2-1 2 \n",
    "lmcost": "u1-1 10.5\nu1-2 11.25\nu1-3 3.0\nu2-1 7\n",
    "accost": "u1-1 100\nu1-2 98.5\nu1-3 200\nu2-1 50.0\n",
}


def write(tmp_path, archives=ARCHIVES, words=WORDS):
    (tmp_path / "words.txt").write_text(words)
    for name, text in archives.items():
        (tmp_path / name).write_text(text)
    return [tmp_path / n for n in ("words", "lmcost", "accost")], read_words(tmp_path / "words.txt")


def test_archives_become_hypotheses_with_scaled_acoustic_scores(tmp_path):
    paths, words = write(tmp_path)
    got = list(iter_kaldi_nbest(*paths, words, acwt=0.1, drop=["<NOISE>"]))
    assert [u for u, _ in got] == ["u1", "u2"]
    u1 = got[0][1]
    assert [h.words for h in u1] == [("the", "cat", "sat"), ("the", "hat", "sat"), ()]
    assert [h.am for h in u1] == pytest.approx([-10.0, -9.85, -20.0])
    assert [h.fp_lm for h in u1] == [-10.5, -11.25, -3.0]
    assert got[1][1][0].words == ("cat",) and got[1][1][0].am == pytest.approx(-5.0)
    kept = list(iter_kaldi_nbest(*paths, words))  # without drop the marker stays
    assert kept[0][1][1].words == ("the", "hat", "<NOISE>", "sat")


@pytest.mark.parametrize("archive, text, message", [
    ("lmcost", "u1-1 10.5\nu1-9 11.25\nu1-3 3.0\nu2-1 7\n", "keys differ"),
    ("accost", "u1-1 100\nu1-2 98.5\nu1-3 200\n", "accost: ends before"),
    ("words", "u1-1 1 2 3\nu1-2 1 4 5 3\nu1-3\nu2-1 2\nu2-2 9\n", "ends before"),
    ("words", "u1-1 1 2 3\nu1-2 1 4 77 3\nu1-3\nu2-1 2\n", "word id '77' is not in words.txt"),
    ("words", "u1-1 1 2 3\nu1-2 1 x 3\nu1-3\nu2-1 2\n", "word id 'x'"),
    ("accost", "u1-1 100\nu1-2 nan\nu1-3 200\nu2-1 50.0\n", "not finite"),
    ("accost", "u1-1 100\nu1-2 98.5 1\nu1-3 200\nu2-1 50.0\n", "expected 'key acoustic cost'"),
])
def test_bad_archives_are_named_with_file_and_line(tmp_path, archive, text, message):
    paths, words = write(tmp_path, {**ARCHIVES, archive: text})
    with pytest.raises(NBestFormatError, match=message):
        list(iter_kaldi_nbest(*paths, words))


@pytest.mark.parametrize("key", ["u1", "u1-0", "u1-x", "-1"])
def test_keys_must_be_utt_dash_n(tmp_path, key):
    archives = {name: text.replace("u1-1", key) for name, text in ARCHIVES.items()}
    paths, words = write(tmp_path, archives)
    with pytest.raises(NBestFormatError, match=r"words:1: key .* is not <utt_id>-<n>"):
        list(iter_kaldi_nbest(*paths, words))


def test_non_consecutive_utterances_are_refused(tmp_path):
    archives = {name: text + text.splitlines()[0].replace("u1-1", "u1-4") + "\n" for name, text in ARCHIVES.items()}
    paths, words = write(tmp_path, archives)
    with pytest.raises(NBestFormatError, match=r"words:5: .*'u1' are not consecutive"):
        list(iter_kaldi_nbest(*paths, words))


def test_cli_import_joins_jobs_and_rejects_a_repeated_utterance(tmp_path):
    paths, _ = write(tmp_path)
    job2 = tmp_path / "job2"
    job2.mkdir()
    for name in ARCHIVES:
        (job2 / name).write_text("u3-1 1 3\n" if name == "words" else "u3-1 1.5\n")
    args = ["import-kaldi-nbest", "--words", str(tmp_path / "words.txt"), "--acwt", "0.5", "--drop", "<NOISE>",
            "--out", str(tmp_path / "out.nbest")]
    for d in (tmp_path, job2):
        args += ["--words-ark", str(d / "words"), "--lm-costs", str(d / "lmcost"), "--ac-costs", str(d / "accost")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    nbest = read_nbest(tmp_path / "out.nbest")
    assert list(nbest) == ["u1", "u2", "u3"] and nbest["u3"][0].am == -0.75 and nbest["u3"][0].fp_lm == -1.5
    assert nbest["u1"][1].words == ("the", "hat", "sat")
    res = CliRunner().invoke(main, args[:-6] + args[-6:] + args[-6:])
    assert res.exit_code == 1 and "'u3' already read from another job" in res.output
    assert not list(tmp_path.glob("*.tmp"))
    res = CliRunner().invoke(main, args[:-2])  # job 2 without --ac-costs
    assert res.exit_code == 2 and "once per job" in res.output


def test_compute_wer_output_matches_kaldi(tmp_path):
    (tmp_path / "ref").write_text("a the cat sat\nb on the mat\nc a dog\n")
    (tmp_path / "hyp").write_text("a the cat sat\nb on a mat here\nc\n")
    res = CliRunner().invoke(main, ["wer", "--compute-wer", "--ref", str(tmp_path / "ref"),
                                    "--hyp", str(tmp_path / "hyp")])
    assert res.exit_code == 0, res.output
    # 1 sub + 1 ins in b, 2 del in c: 4 errors over 8 words, 2 of 3 sentences wrong
    assert res.output == ("%WER 50.00 [ 4 / 8, 1 ins, 2 del, 1 sub ]\n%SER 66.67 [ 2 / 3 ]\n"
                          "Scored 3 sentences, 0 not present in hyp.\n")
    r = compute_wer({"a": ["x"]}, {"a": ["x"]})
    assert (r.wrong_utterances, r.ser) == (0, 0.0)
