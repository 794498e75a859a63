"""recipes/librispeech end to end on a small tree in LibriSpeech's real layout (CPU smoke config)."""

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

from librispeech_tree import PARTS, build

from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.formats.nbest import read_text

RECIPE = Path(__file__).parent.parent / "recipes" / "librispeech" / "prepare.sh"
# a word the first pass prefers that the LM text never has
CONFUSIONS = {"SHIP": "SHEEP", "RIVER": "LIVER", "HOUSE": "MOUSE", "LIGHT": "KITE", "SISTER": "BLISTER"}


def write_first_pass(refs: dict[str, dict[str, str]], out: Path) -> None:
    """N-best lists where the first pass (am + lm) often prefers a confusable, out-of-domain word."""
    rng = random.Random(1)
    out.mkdir()
    for part, utts in refs.items():
        lines = []
        for utt, text in utts.items():
            words = text.split()
            wrong = [CONFUSIONS.get(w, w) for w in words]
            hyps = [(wrong, -100.0, -20.0), (words, -101.0, -20.5), (words[:-1], -104.0, -19.0)]
            if wrong == words:
                hyps = hyps[1:]
            rng.shuffle(hyps)
            lines += [f"{utt}\t{am}\t{lm}\t{' '.join(w)}" for w, am, lm in hyps]
        (out / f"{part}.nbest").write_text("\n".join(lines) + "\n")


def run_recipe(tmp_path: Path, *first_pass: str) -> subprocess.CompletedProcess:
    """prepare.sh with the CPU smoke config on ``tmp_path/download``, data and exp under ``tmp_path``;
    ``first_pass``: ``--nbest-dir DIR`` or ``--k2-dir DIR``. The scripts of this Python's environment
    come first on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = ["bash", str(RECIPE), "--dl-dir", str(tmp_path / "download"), "--data-dir", str(tmp_path / "data"),
           "--exp-dir", str(tmp_path / "exp"), "--config", "cpu-smoke", *first_pass]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_librispeech_recipe_runs_end_to_end(tmp_path):
    refs = build(tmp_path / "download", lm_sentences=600)
    write_first_pass(refs, tmp_path / "nbest")
    res = run_recipe(tmp_path, "--nbest-dir", str(tmp_path / "nbest"))
    data, exp = tmp_path / "data", tmp_path / "exp"
    for part in PARTS:  # lhotse manifests and normalised references
        assert (data / "manifests" / f"librispeech_supervisions_{part}.jsonl.gz").is_file()
        assert read_text(data / part / "text") == {u: t.lower().split() for u, t in refs[part].items()}
    lm_text = (data / "lm" / "train.txt").read_text().splitlines()
    assert len(lm_text) == 600 and lm_text[0] == lm_text[0].lower() and "didn't" in " ".join(lm_text)
    assert (exp / "lm" / "lightrnn" / "best.pt").is_file()
    report = (exp / "report" / "wer_report.md").read_text()
    assert "### test-clean" in report and "### test-other" in report
    rows = json.loads((exp / "report" / "wer_report.json").read_text())["results"]
    for test in ("test-clean", "test-other"):
        ref = read_text(data / test / "text")
        first = compute_wer(ref, read_text(exp / "rescore" / f"{test}_first_pass.txt"))
        lightrnn = compute_wer(ref, read_text(exp / "rescore" / f"{test}_lightrnn.txt"))
        got = {r["system"]: r["wer"] for r in rows if r["test_set"] == test}
        assert got == {"first pass": first.wer, "LightRNN": lightrnn.wer}
        assert lightrnn.wer < first.wer  # the LM trained on the LM text undoes the out-of-domain confusions
    # idempotent: a second run trains nothing again (no round is logged) and succeeds
    assert re.search(r"round 0: \d+ epochs, train ppl", res.stderr)
    again = run_recipe(tmp_path, "--nbest-dir", str(tmp_path / "nbest"))
    assert "train ppl" not in again.stderr and "tuned on" not in again.stderr
