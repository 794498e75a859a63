"""recipes/wsj end to end on a small tree in WSJ's real LDC layout with Kaldi N-best archives
(CPU smoke config), and the WSJ normalisation rules one by one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lhotse import load_manifest
from wsj_tree import SETS, build, lzw_compress, write_kaldi_nbest

from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.formats.nbest import read_nbest, read_text

RECIPES = Path(__file__).parent.parent / "recipes" / "wsj"
CONFUSIONS = {"BANK": "TANK", "PROFITS": "PROPHETS", "RATES": "WEIGHTS", "BONDS": "PONDS", "MERGER": "MURDER"}
sys.path.insert(0, str(RECIPES / "local"))
import wsj  # noqa: E402


def run_recipe(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = ["bash", str(RECIPES / "prepare.sh"), "--wsj0", str(tmp_path / "ldc" / "wsj0"),
           "--wsj1", str(tmp_path / "ldc" / "wsj1"), "--kaldi-nbest-dir", str(tmp_path / "kaldi"),
           "--data-dir", str(tmp_path / "data"), "--exp-dir", str(tmp_path / "exp"), "--config", "cpu-smoke", *extra]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_wsj_recipe_runs_end_to_end(tmp_path):
    refs = build(tmp_path / "ldc")
    write_kaldi_nbest(refs, tmp_path / "kaldi", CONFUSIONS)
    res = run_recipe(tmp_path)
    data, exp = tmp_path / "data", tmp_path / "exp"
    for name in SETS:
        recs = load_manifest(data / "manifests" / f"wsj_recordings_{name}.jsonl.gz")
        sups = load_manifest(data / "manifests" / f"wsj_supervisions_{name}.jsonl.gz")
        assert sorted(recs.ids) == sorted(refs[name])
        r = recs[sorted(refs[name])[1]]  # the shorten-compressed file: sizes from its header only
        assert (r.sampling_rate, r.num_samples) == (16000, int(16000 * 0.35))
        assert r.sources[0].type == "command" and r.sources[0].source.startswith("sph2pipe -f wav ")
        assert any("<NOISE>" in s.text for s in sups)  # [loud_breath] kept as a noise marker in the manifest
        assert read_text(data / name / "text") == refs[name]  # markup normalised away, noise removed
    lm_text = (data / "lm" / "train.txt").read_text().splitlines()
    assert len(lm_text) == 600 and not any(line.startswith("<") for line in lm_text)
    assert all(line == line.upper() and not line.endswith(".") for line in lm_text)
    assert any("MR. SMITH" in line for line in lm_text)  # a words.txt word keeps its period
    nbest = read_nbest(data / "nbest" / "test_eval92.nbest")
    assert sorted(nbest) == sorted(refs["test_eval92"])  # both jobs' archives
    assert not any("<NOISE>" in h.words for hyps in nbest.values() for h in hyps)
    report = (exp / "report" / "wer_report.md").read_text()
    assert "### test_eval92" in report and "### test_dev93" in report
    rows = json.loads((exp / "report" / "wer_report.json").read_text())["results"]
    for name in SETS:
        ref = read_text(data / name / "text")
        first = compute_wer(ref, read_text(exp / "rescore" / f"{name}_first_pass.txt"))
        lightrnn = compute_wer(ref, read_text(exp / "rescore" / f"{name}_lightrnn.txt"))
        assert (exp / "rescore" / f"wer_{name}_lightrnn").read_text() == lightrnn.compute_wer_report() + "\n"
        assert {r["system"]: r["wer"] for r in rows if r["test_set"] == name} == {"first pass": first.wer,
                                                                                   "LightRNN": lightrnn.wer}
        assert first.wer > 10 and lightrnn.wer < first.wer  # the NAB-trained LM undoes the confusions
    assert "%WER" in res.stdout
    again = run_recipe(tmp_path)  # idempotent
    assert "train ppl" not in again.stderr and "tuned on" not in again.stderr


def test_transcript_normalisation_follows_kaldi():
    dot = r"[loud_breath] Mr\. Smith <and> the I\. B\. M\. . deal [door_slam>] rose 5 %PERCENT [<click] ~ --DASH"
    assert wsj.normalize_transcript(dot) == ["<NOISE>", "MR.", "SMITH", "AND", "THE", "I.", "B.", "M.", "DEAL",
                                             "ROSE", "5", "PERCENT", "-DASH"]
    assert wsj.normalize_transcript("[phone_ring/] yes [/phone_ring] .POINT") == ["YES", "POINT"]


def test_nab_text_splits_sentences_on_periods_of_non_words(tmp_path):
    (tmp_path / "words.txt").write_text("<eps> 0\nMR. 1\nU.S. 2\n")
    text = "<art.870102-0001>\n<p>\nMr. Jones rose. The U.S. fell.\n</p>\nNo period here\n"
    res = subprocess.run([sys.executable, str(RECIPES / "local" / "wsj.py"), "nab", "--words",
                          str(tmp_path / "words.txt")], input=text, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["MR. JONES ROSE", "THE U.S. FELL", "NO PERIOD HERE"]


def test_lzw_writer_is_read_by_gzip():
    data = b"".join(b"line %d of the wall street journal\n" % i for i in range(5000))
    out = subprocess.run(["gzip", "-dc"], input=lzw_compress(data), capture_output=True, check=True).stdout
    assert out == data


@pytest.mark.parametrize("mutation, message", [
    (lambda p: p.write_text(p.read_text().replace("11_14_1:", "11_14_1 ", 1)), "not an index line"),
    (lambda p: p.write_text(p.read_text() + "11_14_1:wsj0/si_et_20/440/440c0299\n"), "does not exist"),
])
def test_bad_index_files_are_named(tmp_path, mutation, message):
    build(tmp_path / "ldc", lm_sentences=30)
    ndx = tmp_path / "ldc/wsj0/11-13.1/wsj0/doc/indices/test/nvp/si_et_20.ndx"
    mutation(ndx)
    res = subprocess.run([sys.executable, str(RECIPES / "local" / "wsj.py"), "manifests", "--wsj0",
                          str(tmp_path / "ldc/wsj0"), "--wsj1", str(tmp_path / "ldc/wsj1"), "--out",
                          str(tmp_path / "m"), "test_eval92"], capture_output=True, text=True)
    assert res.returncode != 0 and str(ndx) in res.stderr and message in res.stderr
