"""rescore's options: one INPUT with an --input-type, one --dev pair, one option per weight taking a value,
a grid or auto; the old spellings (--nbest, --dev-nbest/--dev-ref, --lm-scales, ...) still give the same
result, each with a one-line notice."""

import json
from pathlib import Path

from click.testing import CliRunner

from lightrnn_asr.cli import main

DATA = Path(__file__).parent / "data"
NBEST, REF, TINY = DATA / "asterisk_dev_trigram.nbest", DATA / "asterisk_dev_trigram.ref", DATA / "tiny_lightrnn.pt"


def rescore(*args):
    res = CliRunner().invoke(main, ["rescore", *map(str, args), "--device", "cpu"])
    return res


def test_the_old_spellings_give_the_same_result_with_a_notice(tmp_path):
    new = rescore(NBEST, "--model", TINY, "--dev", NBEST, REF, "--lm-scale", "0,0.5,1,2", "--word-penalty", "0,-1",
                  "--out", tmp_path / "new.txt")
    assert new.exit_code == 0, new.output
    old = rescore("--nbest", NBEST, "--model", TINY, "--dev-nbest", NBEST, "--dev-ref", REF, "--lm-scales", "0,0.5,1,2",
                  "--word-penalties", "0,-1", "--out", tmp_path / "old.txt")
    assert old.exit_code == 0, old.output
    assert (tmp_path / "new.txt").read_text() == (tmp_path / "old.txt").read_text()
    assert json.loads(new.stdout.splitlines()[-1]) == json.loads(old.stdout.splitlines()[-1])
    notices = [line for line in old.stderr.splitlines() if "is the old spelling of" in line]
    assert len(notices) == 5 and any("--dev-nbest is the old spelling of --dev DEV_INPUT DEV_REF" in n for n in notices)
    assert not [line for line in new.stderr.splitlines() if "old spelling" in line]


def test_a_weight_is_a_value_a_grid_or_auto(tmp_path):
    fixed = rescore(NBEST, "--model", TINY, "--lm-scale", "0.5", "--out", tmp_path / "a.txt")
    assert fixed.exit_code == 0 and json.loads(fixed.stdout.splitlines()[-1])["lm_scale"] == 0.5
    grid = rescore(NBEST, "--model", TINY, "--dev", NBEST, REF, "--lm-scale", "0.25,0.75", "--out", tmp_path / "b.txt")
    assert grid.exit_code == 0 and json.loads(grid.stdout.splitlines()[-1])["lm_scale"] in (0.25, 0.75)
    auto = rescore(NBEST, "--model", TINY, "--dev", NBEST, REF, "--lm-scale", "auto", "--out", tmp_path / "c.txt")
    assert auto.exit_code == 0, auto.output
    bad = rescore(NBEST, "--model", TINY, "--dev", NBEST, REF, "--lm-scale", "lots", "--out", tmp_path / "d.txt")
    assert bad.exit_code == 2 and "'lots' is not a number, a,b,c, start:stop:step or auto" in bad.output
    none = rescore(NBEST, "--model", TINY, "--out", tmp_path / "e.txt")
    assert none.exit_code == 2 and "--dev DEV_INPUT DEV_REF" in none.output
