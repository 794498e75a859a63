"""Name error rate and the WER with and without names (evaluation.names; the report command's --names)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lightrnn_asr.cli import main
from lightrnn_asr.evaluation.names import name_errors, name_report, read_names
from lightrnn_asr.formats.nbest import read_nbest, read_text

DATA = Path(__file__).parent / "data"
NAMES = Path(__file__).parent.parent / "recipes" / "pocketsphinx" / "local" / "sense_and_sensibility_names.txt"


def test_name_errors_by_hand():
    refs = {"a": "elinor met marianne in london".split(), "b": "the house was quiet".split(),
            "c": "elinor smiled".split()}
    hyps = {"a": "elena met marianne in london".split(),  # elinor substituted
            "b": "the house was quiet marianne".split(),  # a name inserted: not a miss
            "c": "smiled".split()}  # elinor deleted
    ne = name_errors(refs, hyps, {"elinor", "marianne", "london"})
    assert (ne.name_tokens, ne.errors, ne.false_names, ne.utterances) == (4, 2, 1, 2)
    assert ne.ner == pytest.approx(50.0)
    assert ne.per_utterance == {"a": (3, 1), "c": (1, 1)}
    assert ne.missed == {"elinor": 2}
    lo, hi = ne.ci95(2000)
    assert lo <= 50.0 <= hi and hi - lo > 0  # two utterances with different rates: a real spread
    rep = name_report(refs, hyps, {"elinor", "marianne", "london"}, replications=200)
    assert rep["with_names"]["utterances"] == 2 and rep["with_names"]["words"] == 7
    assert rep["with_names"]["wer"] == pytest.approx(100 * 2 / 7)
    assert rep["without_names"]["wer"] == pytest.approx(100 * 1 / 4)


def test_a_name_right_in_the_wrong_place_is_still_found():
    refs = {"u": "yes elinor said".split()}
    ne = name_errors(refs, {"u": "elinor said".split()}, {"elinor"})  # deletion of "yes" only
    assert (ne.errors, ne.false_names) == (0, 0)


def test_ids_must_match():
    with pytest.raises(ValueError, match="no hypothesis"):
        name_errors({"a": ["x"], "b": ["y"]}, {"a": ["x"]}, {"x"})


def test_read_names_errors(tmp_path):
    empty = tmp_path / "names.txt"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(ValueError, match="names.txt: no names"):
        read_names(empty)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"ren\xe9e\n")
    with pytest.raises(ValueError, match="latin1.txt:1: not valid UTF-8"):
        read_names(bad)
    ok = tmp_path / "ok.txt"
    ok.write_text("Elinor Marianne  # the sisters\nLondon\n")
    assert read_names(ok) == {"elinor", "marianne", "london"}


def test_report_names_on_real_lists(tmp_path):
    """The real synthetic dev references (held-out novel) against pocketsphinx's 1-best with the trigram."""
    refs = read_text(DATA / "synthetic_dev_trigram.ref")
    nbest = read_nbest(DATA / "synthetic_dev_trigram.nbest")
    hyp_path = tmp_path / "first.txt"
    hyp_path.write_text("".join(f"{u} {' '.join(h[0].words)}\n" for u, h in nbest.items() if u in refs))
    out = tmp_path / "r.md"
    res = CliRunner().invoke(main, ["report", "--ref", "syn", str(DATA / "synthetic_dev_trigram.ref"),
                                    "--hyp", "syn", "first", str(hyp_path), "--names", str(NAMES), "--out", str(out),
                                    "--json", str(tmp_path / "r.json"), "--replications", "200"])
    assert res.exit_code == 0, res.output
    names = read_names(NAMES)
    hyps = read_text(hyp_path)
    expected = name_errors(refs, hyps, names)
    got = json.loads((tmp_path / "r.json").read_text())["names"]["syn"]["first"]
    assert got["name_tokens"] == expected.name_tokens > 0
    assert got["name_errors"] == expected.errors > 0  # pocketsphinx misses the novel's names
    with_names = [u for u, r in refs.items() if names & set(r)]
    assert got["with_names"]["utterances"] == len(with_names) and 0 < len(with_names) < len(refs)
    assert "name error rate" in out.read_text()
    bad = CliRunner().invoke(main, ["report", "--ref", "syn", str(DATA / "synthetic_dev_trigram.ref"),
                                    "--hyp", "syn", "first", str(hyp_path), "--names", str(tmp_path / "r.md"),
                                    "--out", str(tmp_path / "s.md")])
    assert bad.exit_code == 0  # any words are a names file; an empty one is refused:
    (tmp_path / "none.txt").write_text("\n")
    bad = CliRunner().invoke(main, ["report", "--ref", "syn", str(DATA / "synthetic_dev_trigram.ref"),
                                    "--hyp", "syn", "first", str(hyp_path), "--names", str(tmp_path / "none.txt"),
                                    "--out", str(tmp_path / "s.md")])
    assert bad.exit_code != 0 and "none.txt: no names" in bad.output


def test_ner_interval_resamples_utterances():
    from lightrnn_asr.evaluation.names import NameErrors

    # two utterances: all names right, all wrong; a resample is {x, x} (0 %), {y, y} (100 %) or one of each (50 %)
    ne = NameErrors(4, 2, 0, 2, {"x": (2, 0), "y": (2, 2)}, {})
    assert ne.ner == 50.0
    assert ne.ci95(4000) == (0.0, 100.0)
    assert NameErrors(0, 0, 0, 0, {}, {}).ci95() == (0.0, 0.0)


def test_a_set_without_names_says_so():
    from lightrnn_asr.evaluation.report import names_report

    refs = {"s": {"a": "the end".split()}, "t": {"b": "elinor left".split()}}
    hyps = {"s": {"first": {"a": "the end".split()}}, "t": {"first": {"b": "elena left".split()}}}
    md, data = names_report(refs, hyps, {"elinor"}, replications=50)
    assert "### s: names\n\nNo word of the names list occurs" in md
    assert "| first | 100.00 [100.0, 100.0] | 1/1 |" in md
    assert data["t"]["first"]["name_errors"] == 1 and data["s"]["first"]["name_tokens"] == 0


def test_paired_probability_of_fewer_name_errors():
    from lightrnn_asr.evaluation.names import p_fewer_name_errors

    refs = {f"u{i}": ["call", f"name{i}", "now"] for i in range(40)}
    names = {f"name{i}" for i in range(40)}
    worse = {u: ["call", "x", "now"] if i % 2 else r for i, (u, r) in enumerate(refs.items())}  # 20 errors
    better = {u: ["call", "x", "now"] if i % 10 == 1 else r for i, (u, r) in enumerate(refs.items())}  # 4, a subset
    assert p_fewer_name_errors(refs, worse, better, names, 2000) > 0.99
    assert p_fewer_name_errors(refs, better, worse, names, 2000) < 0.01
    assert p_fewer_name_errors(refs, worse, worse, names, 2000) == pytest.approx(0.5)
    # one utterance apart out of 40: far from certain
    one_off = dict(worse, u0=["call", "x", "now"])
    assert 0.5 < p_fewer_name_errors(refs, one_off, worse, names, 2000) < 0.95
