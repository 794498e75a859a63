import math
from pathlib import Path

import pytest

from lightrnn_asr.formats.lattice import FillerMap, LatticeFormatError, read_htk
from lightrnn_asr.formats.lattice_paths import lattice_nbest

DATA = Path(__file__).parent / "data"

# Hand-built: paths and their log-scores (natural log, a= only)
#   0 -<sil>- 1 -hello- 2 -world- 4 -!SENT_END- 5 : -1 -10 -5 -1 = -17   "hello world"
#   0 -hello- 2 -world- 4 -!SENT_END- 5           : -12 -5 -1   = -18   "hello world" (duplicate)
#   0 -<sil>- 1 -yellow(2)- 3 -world- 4 - 5       : -1 -9 -7 -1 = -18   "yellow world"
#   0 -<sil>- 1 -[NOISE]- 3 ...                   : -1 -15 -7 -1 = -24  "world"
SLF = """VERSION=1.0
# a comment
start=0
end=5
N=6\tL=8
I=0\tt=0.00\tW=!NULL
I=1\tt=0.10\tW=<sil>
I=2\tt=0.50\tW=hello
I=3\tt=0.50\tW=yellow(2)
I=4\tt=0.90\tW=world
I=5\tt=1.00\tW=!SENT_END
J=0\tS=0\tE=1\ta=-1.0
J=1\tS=1\tE=2\ta=-10.0
J=2\tS=1\tE=3\ta=-9.0
J=3\tS=0\tE=2\ta=-12.0
J=4\tS=2\tE=4\ta=-5.0
J=5\tS=3\tE=4\ta=-7.0
J=6\tS=4\tE=5\ta=-1.0
J=7\tS=1\tE=3\tW=[NOISE]\ta=-15.0
"""


def write(tmp_path, text, name="lat.slf"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_hand_built_lattice_nbest_is_distinct_and_scored_by_hand(tmp_path):
    lat = read_htk(write(tmp_path, SLF))
    assert (lat.num_states, lat.num_arcs, lat.start, lat.final) == (6, 8, 0, 5)
    assert lat.symbols[1] == "hello" and lat.symbols[7] == "[NOISE]"
    hyps = lattice_nbest(lat, 10)
    assert [(h.words, h.am) for h in hyps] == [
        (("hello", "world"), -17.0), (("yellow", "world"), -18.0), (("world",), -24.0)]
    assert [h.words for h in lattice_nbest(lat, 1)] == [("hello", "world")]
    keep_variants = lattice_nbest(lat, 10, FillerMap(strip_variants=False))
    assert keep_variants[1].words == ("yellow(2)", "world")


def test_log_base_is_converted_to_natural_log(tmp_path):
    lat = read_htk(write(tmp_path, SLF.replace("start=0", "base=10\nstart=0")))
    assert lattice_nbest(lat, 1)[0].am == pytest.approx(-17 * math.log(10), rel=1e-6)


@pytest.mark.parametrize("old,new,message", [
    ("N=6\tL=8", "N=6\tL=9", "header says N=6 L=9, file has 6 nodes and 8 links"),
    ("J=4\tS=2\tE=4", "J=4\tS=2\tE=40", r"lat.slf:16: link S=2 E=40 refers to a missing node"),
    ("a=-5.0", "a=five", r"lat.slf:16: a='five' is not a valid float"),
    ("J=4\tS=2", "J=4\tX", r"lat.slf:16: expected key=value, found 'X'"),
    ("end=5", "end=9", "end=9 is not a node"),
    ("N=6\tL=8\n", "", "no 'N=... L=...' size line"),
    ("start=0", "start=x1", "lat.slf: header: start='x1' is not a valid int"),
    ("start=0", "start=0\nbase=1", "lat.slf: header: base='1' is not a logarithm base"),
])
def test_malformed_lattices_name_file_and_line(tmp_path, old, new, message):
    assert old in SLF
    with pytest.raises(LatticeFormatError, match=message):
        read_htk(write(tmp_path, SLF.replace(old, new)))


def test_real_pocketsphinx_lattice():
    lat = read_htk(DATA / "asterisk-queue-thankyou.slf")
    hyps = lattice_nbest(lat, 100)
    assert len(hyps) == 50  # all the distinct word sequences this lattice has
    assert len({h.words for h in hyps}) == len(hyps)
    assert all(a.am >= b.am for a, b in zip(hyps, hyps[1:]))
    assert not any(w.startswith(("<", "!", "[")) or "(" in w for h in hyps for w in h.words)
    assert hyps[0].words == ("bank", "you", "for", "your", "patients")  # the acoustically best path
    assert ("thank", "you", "for", "your", "patience") in {h.words for h in hyps}  # the reference


def test_bigram_ranking_changes_order_not_acoustic_scores(tmp_path):
    lat = read_htk(write(tmp_path, SLF))
    logp = {("<s>", "yellow"): -0.1, ("yellow", "world"): -0.1, ("world", "</s>"): -0.1,
            ("<s>", "hello"): -3.0, ("hello", "world"): -3.0, ("<s>", "world"): -9.0}
    calls = []

    def bigram(prev, word):
        calls.append((prev, word))
        return logp[(prev, word)]

    hyps = lattice_nbest(lat, 10, bigram=bigram, bigram_scale=1.0)
    # ranking score: yellow world -18 - 0.3 = -18.3 beats hello world -17 - 6.1 = -23.1
    assert [h.words for h in hyps] == [("yellow", "world"), ("hello", "world"), ("world",)]
    # reported scores stay the exact acoustic ones
    assert [h.am for h in hyps] == pytest.approx([-18.0, -17.0, -24.0])
    assert set(calls) <= set(logp)  # only word pairs that occur in the lattice are asked for
    assert [h.words for h in lattice_nbest(lat, 10, bigram=bigram, bigram_scale=0.0)][0] == ("hello", "world")


def test_unreachable_and_dead_end_states_are_ignored_and_a_pathless_lattice_is_named(tmp_path):
    import numpy as np
    from click.testing import CliRunner

    from lightrnn_asr.cli import main
    from lightrnn_asr.formats.lattice import Lattice, write_htk

    # 0 -a-> 1 -b-> 3 (final); state 2 is unreachable (2 -c-> 3); state 4 is a dead end (1 -d-> 4)
    lat = Lattice(num_states=5, start=0, final=3, src=np.array([0, 1, 2, 1]), dst=np.array([1, 3, 3, 4]),
                  symbols=["a", "b", "c", "d"], am=np.array([-1.0, -1.0, -1.0, -1.0]), fp_lm=np.zeros(4),
                  times=np.full(5, np.nan))
    assert [(h.words, h.am) for h in lattice_nbest(lat, 5)] == [(("a", "b"), -2.0)]
    pathless = Lattice(num_states=3, start=0, final=2, src=np.array([0]), dst=np.array([1]), symbols=["a"],
                       am=np.array([-1.0]), fp_lm=np.zeros(1), times=np.full(3, np.nan))
    assert lattice_nbest(pathless, 5) == []
    (tmp_path / "lats").mkdir()
    write_htk(tmp_path / "lats" / "ok.slf", lat)
    write_htk(tmp_path / "lats" / "nopath.slf", pathless)
    res = CliRunner().invoke(main, ["lattice-to-nbest", str(tmp_path / "lats"), "--out", str(tmp_path / "n.txt")])
    assert res.exit_code == 1 and "nopath.slf: lattice 'nopath': no path from the start state" in res.output
