"""NeMo's beams TSV (eval_beamsearch_ngram.py -> eval_neural_rescorer.py): read into N-best lists with
the right utterance ids, written back, and every malformed file refused naming its line."""

import json
from pathlib import Path

import pytest
from helpers import run_cli

from lightrnn_asr.formats.nbest import Hypothesis, NBestFormatError, read_nbest
from lightrnn_asr.formats.nemo_beams import read_nemo_beams, write_nemo_beams

DATA = Path(__file__).parent / "data"


@pytest.fixture
def sentences():
    """Real sentences (the synthetic dev set's references: Austen, public domain)."""
    return [line.split()[1:] for line in (DATA / "synthetic_dev_trigram.ref").read_text().splitlines()][:6]


def beams_file(path, sentences, beam_size):
    """Three utterances of ``beam_size`` beams each, scores falling within an utterance."""
    lines = [f"{' '.join(sentences[(u + b) % len(sentences)])}\t{-10.0 * (u + 1) - b}\n"
             for u in range(3) for b in range(beam_size)]
    path.write_text("".join(lines))
    return lines


def test_fixed_beam_size_with_manifest_ids(tmp_path, sentences):
    beams_file(tmp_path / "beams.tsv", sentences, 2)
    (tmp_path / "manifest.json").write_text("".join(
        json.dumps({"audio_filepath": f"/data/wav/spk1-{u}.wav", "duration": 1.0, "text": "x"}) + "\n"
        for u in ("a", "b", "c")))
    nbest = read_nemo_beams(tmp_path / "beams.tsv", beam_size=2, manifest=tmp_path / "manifest.json")
    assert list(nbest) == ["spk1-a", "spk1-b", "spk1-c"]
    assert nbest["spk1-b"] == [Hypothesis(tuple(sentences[1]), -20.0), Hypothesis(tuple(sentences[2]), -21.0)]
    plain = read_nemo_beams(tmp_path / "beams.tsv", beam_size=2)
    assert list(plain) == ["utt000001", "utt000002", "utt000003"]


def test_varying_counts_need_a_group_file_and_round_trip(tmp_path, sentences):
    nbest = {"u1": [Hypothesis(tuple(sentences[0]), -1.5), Hypothesis((), -7.25)],
             "u2": [Hypothesis(tuple(sentences[3]), -3.0)]}
    with pytest.raises(ValueError, match="group file"):
        write_nemo_beams(tmp_path / "b.tsv", nbest)
    write_nemo_beams(tmp_path / "b.tsv", nbest, groups=tmp_path / "groups.txt")
    assert (tmp_path / "groups.txt").read_text() == "u1 2\nu2 1\n"
    assert read_nemo_beams(tmp_path / "b.tsv", groups=tmp_path / "groups.txt") == nbest
    write_nemo_beams(tmp_path / "r.tsv", {"u2": nbest["u2"]}, scores={"u2": [4.5]})
    assert (tmp_path / "r.tsv").read_text() == f"{' '.join(sentences[3])}\t4.5\n"


@pytest.mark.parametrize("content, size, message", [
    ("a b\t-1\nc d\n", 1, r"b.tsv:2: expected 'text<TAB>score'"),
    ("a b\t-1\nc d\tlow\n", 1, r"b.tsv:2: score 'low'"),
    ("a b\t-1\nc d\tnan\n", 1, r"b.tsv:2: score 'nan' is not finite"),
    ("a\t-1\nb\t-2\nc\t-3\n", 2, r"b.tsv:3: 3 hypotheses are not a multiple of the beam size 2"),
])
def test_malformed_files_are_refused_naming_the_line(tmp_path, content, size, message):
    (tmp_path / "b.tsv").write_text(content)
    with pytest.raises(NBestFormatError, match=message):
        read_nemo_beams(tmp_path / "b.tsv", beam_size=size)


def test_groups_and_manifest_must_agree_with_the_beams(tmp_path, sentences):
    beams_file(tmp_path / "b.tsv", sentences, 2)
    (tmp_path / "g.txt").write_text("u1 2\nu2 2\nu3 1\n")
    with pytest.raises(NBestFormatError, match="add up to 5 hypotheses, .* has 6"):
        read_nemo_beams(tmp_path / "b.tsv", groups=tmp_path / "g.txt")
    (tmp_path / "g.txt").write_text("u1 2\nu1 2\nu3 2\n")
    with pytest.raises(NBestFormatError, match="'u1' given twice"):
        read_nemo_beams(tmp_path / "b.tsv", groups=tmp_path / "g.txt")
    (tmp_path / "m.json").write_text(json.dumps({"audio_filepath": "a.wav"}) + "\n")
    with pytest.raises(NBestFormatError, match="m.json: 1 utterances, .* has 3"):
        read_nemo_beams(tmp_path / "b.tsv", beam_size=2, manifest=tmp_path / "m.json")
    (tmp_path / "m.json").write_text("{not json\n")
    with pytest.raises(NBestFormatError, match="m.json:1: not a JSON object"):
        read_nemo_beams(tmp_path / "b.tsv", beam_size=2, manifest=tmp_path / "m.json")


def test_the_command_writes_an_nbest_file_rescore_reads(tmp_path, sentences):
    lines = beams_file(tmp_path / "beams.tsv", sentences, 3)
    run_cli("import-nemo-beams", tmp_path / "beams.tsv", "--beam-size", 3, "--out", tmp_path / "x.nbest")
    nbest = read_nbest(tmp_path / "x.nbest")
    assert [len(h) for h in nbest.values()] == [3, 3, 3]
    assert [h.am for h in nbest["utt000002"]] == [-20.0, -21.0, -22.0]
    assert " ".join(nbest["utt000003"][0].words) == lines[6].split("\t")[0]
    from click.testing import CliRunner

    from lightrnn_asr.cli import main

    res = CliRunner().invoke(main, ["import-nemo-beams", str(tmp_path / "beams.tsv"), "--beam-size", "4",
                                    "--out", str(tmp_path / "y.nbest")])
    assert res.exit_code == 1 and "beams.tsv:9: 9 hypotheses are not a multiple of the beam size 4" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "y.nbest").exists()
