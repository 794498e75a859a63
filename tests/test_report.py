import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lightrnn_asr.cli import main
from lightrnn_asr.evaluation.report import compare_systems
from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.formats.nbest import read_text, write_text

DATA = Path(__file__).parent / "data"


def test_report_tables_wer_intervals_and_sizes_of_several_systems(tmp_path):
    refs = read_text(DATA / "asterisk_dev_sample.ref")
    first = read_text(DATA / "asterisk_dev_sample.first_pass")
    better = dict(first, **{"asterisk-agent-loggedoff": refs["asterisk-agent-loggedoff"]})  # one line fixed
    write_text(tmp_path / "better.txt", better)
    half = dict(list(refs.items())[:3])  # a second "test set": the first three utterances
    write_text(tmp_path / "half.ref", half)
    write_text(tmp_path / "half.hyp", {u: first[u] for u in half})
    args = ["report", "--title", "Asterisk sample",
            "--ref", "dev", str(DATA / "asterisk_dev_sample.ref"), "--ref", "half", str(tmp_path / "half.ref"),
            "--hyp", "dev", "first pass", str(DATA / "asterisk_dev_sample.first_pass"),
            "--hyp", "dev", "LightRNN", str(tmp_path / "better.txt"),
            "--hyp", "half", "first pass", str(tmp_path / "half.hyp"),
            "--model", "LightRNN", str(DATA / "tiny_lightrnn.pt"),
            "--out", str(tmp_path / "r.md"), "--plot", str(tmp_path / "r.png"), "--json", str(tmp_path / "r.json"),
            "--replications", "500"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r.md").read_text()
    w_first, w_better = compute_wer(refs, first), compute_wer(refs, better)
    assert w_better.errors < w_first.errors
    assert f"| first pass | {w_first.wer:.2f} | {w_first.errors} ({w_first.ins} / {w_first.dels} / {w_first.subs}) |" in md
    assert f"| LightRNN | {w_better.wer:.2f} |" in md and "P(better than first pass)" in md
    assert "### half (3 utterances" in md and "| LightRNN | 1,350 | 0.01 |" in md
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [(r["test_set"], r["system"]) for r in rows] == [("dev", "first pass"), ("dev", "LightRNN"),
                                                            ("half", "first pass")]
    lo, hi = rows[1]["ci95"]
    assert lo <= rows[1]["wer"] <= hi and rows[0]["p_better_than_baseline"] is None
    assert 0.5 < rows[1]["p_better_than_baseline"] <= 1.0  # one utterance fixed, none broken


def test_report_names_what_does_not_match(tmp_path):
    first = read_text(DATA / "asterisk_dev_sample.first_pass")
    write_text(tmp_path / "short.txt", dict(list(first.items())[:4]))
    res = CliRunner().invoke(main, ["report", "--ref", "dev", str(DATA / "asterisk_dev_sample.ref"),
                                    "--hyp", "dev", "broken", str(tmp_path / "short.txt"),
                                    "--out", str(tmp_path / "r.md")])
    assert res.exit_code == 1 and "dev / broken: 2 reference utterances have no hypothesis" in res.output
    refs = {"dev": read_text(DATA / "asterisk_dev_sample.ref")}
    with pytest.raises(ValueError, match="test set 'test' has hypotheses but no references"):
        compare_systems(refs, {"test": {"x": first}})
