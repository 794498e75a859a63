import gzip
from pathlib import Path

import numpy as np
import pytest

from lightrnn_asr.formats.kaldi_lattice import (
    read_fst_lattice,
    read_kaldi_lattices,
    read_words,
    write_fst_lattice,
    write_kaldi_lattices,
)
from lightrnn_asr.formats.lattice import FillerMap, LatticeFormatError, read_htk
from lightrnn_asr.formats.lattice_paths import lattice_nbest

DATA = Path(__file__).parent / "data"

WORDS = "<eps> 0\n<unk> 1\n!SIL 2\nthank 3\nyou 4\nyew 5\n"
# utterance a: a Lattice (transition ids in, words out) with two final states carrying weights;
# utterance b: a CompactLattice (word, graph,acoustic,transition-ids), final weight One
ARCHIVE = """a
0\t1\t11\t3\t1.5,10
1\t2\t12\t0\t0,5
2\t3\t13\t4\t2,7
2\t4\t14\t5\t1,9
3\t0.5,0
4\t0,1.25

b
0 1 3 1,4,1_2_3
1 2 4 0.5,3,4_5
2 0,0,
"""


@pytest.fixture
def words(tmp_path):
    (tmp_path / "words.txt").write_text(WORDS)
    return read_words(tmp_path / "words.txt")


def test_kaldi_text_archive_by_hand(tmp_path, words):
    (tmp_path / "lat.txt.gz").write_bytes(gzip.compress(ARCHIVE.encode()))
    lats = read_kaldi_lattices(tmp_path / "lat.txt.gz", words)
    assert list(lats) == ["a", "b"]
    a = lats["a"]
    # two final states with weights: a new final state 5 reached by epsilon arcs carrying them
    assert (a.num_states, a.start, a.final, a.num_arcs) == (6, 0, 5, 6)
    assert a.symbols == ["thank", "<eps>", "you", "yew", "<eps>", "<eps>"]
    assert a.am.tolist() == [-10, -5, -7, -9, 0, -1.25] and a.fp_lm.tolist() == [-1.5, 0, -2, -1, -0.5, 0] and a.lm is None
    assert a.times.tolist() == pytest.approx([0, 0.01, 0.02, 0.03, 0.03, 0.03])  # one frame per transition id
    hyps = lattice_nbest(a, 5)
    assert [h.words for h in hyps] == [("thank", "you"), ("thank", "yew")]
    assert [(h.am, h.fp_lm) for h in hyps] == [(-22.0, -4.0), (-25.25, -2.5)]  # each path's scores apart
    b = lats["b"]
    assert (b.num_states, b.final, b.symbols) == (3, 2, ["thank", "you"])  # final weight One: no new state
    assert b.times.tolist() == pytest.approx([0, 0.03, 0.05])  # three, then two transition ids
    assert b.am.tolist() == [-4, -3] and b.fp_lm.tolist() == [-1, -0.5]


def test_kaldi_archive_and_openfst_round_trips_keep_a_real_lattice(tmp_path):
    src = read_htk(DATA / "asterisk-queue-thankyou.slf")
    fillers = FillerMap()
    vocab = sorted({fillers(s) for s in src.symbols} - {None})
    (tmp_path / "words.txt").write_text("<eps> 0\n" + "".join(f"{w} {i}\n" for i, w in enumerate(vocab, 1)))
    words = read_words(tmp_path / "words.txt")
    expected = lattice_nbest(src, 30)
    write_kaldi_lattices(tmp_path / "lat.txt", {"utt": src}, words, fillers)
    text = (tmp_path / "lat.txt").read_text()
    assert "!NULL" not in text and "-0," not in text  # fillers are epsilon (label 0)
    write_fst_lattice(tmp_path / "utt.fst", src, words, fillers)
    # words as labels, no symbol table: fillers kept by name
    write_kaldi_lattices(tmp_path / "named.txt", {"utt": src})
    for back in (read_kaldi_lattices(tmp_path / "lat.txt", words)["utt"], read_fst_lattice(tmp_path / "utt.fst", words),
                 read_kaldi_lattices(tmp_path / "named.txt")["utt"]):
        assert (back.num_states, back.num_arcs) == (src.num_states, src.num_arcs)
        got = lattice_nbest(back, 30)
        assert [h.words for h in got] == [h.words for h in expected]
        assert np.allclose([h.am for h in got], [h.am for h in expected], rtol=0, atol=2e-3)  # float32


@pytest.mark.parametrize("body, message", [
    ("u\n0 1 3 abc,4\n1\n", "x.txt:2: weight 'abc,4' has a non-numeric cost"),
    ("u\n0 1 3 1,inf\n1\n", "x.txt:2: weight '1,inf' is not finite"),
    ("u\n0 1 3 1;2\n1\n", "x.txt:2: weight '1;2' is not graph,acoustic"),
    ("u\n0 1 99 99 1,2\n1\n", "x.txt:2: label 99 is not in the symbol table"),
    ("u\n0 1 3 3 1,2\n", "x.txt:1: the lattice has no final state"),
    ("u\nzero 1 3 3 1,2\n1\n", "x.txt:2: expected integer state ids"),
    ("u\n0 1 3 3 1,2 7\n1\n", "x.txt:2: expected 'src dst .ilabel. olabel weight'"),
    ("u\n0 1 3 3 1,2\n1\n\nu\n0 0,0\n", "x.txt:5: utterance u appears twice"),
    ("u \x00\x01binary\n", "x.txt:1: expected an utterance id alone"),
    ("u\n\nv\n0 0,0\n", "x.txt:1: an empty lattice"),
    ("u\n0 1 3 3 1,2\n1 0 4 4 1,2\n1\n", "x.txt:1: the lattice has a cycle"),
    ("u\n0 -4 3 3 1,2\n1\n", "x.txt:2: negative state id"),
])
def test_malformed_kaldi_archives_name_file_and_line(tmp_path, words, body, message):
    (tmp_path / "x.txt").write_text(body)
    with pytest.raises(LatticeFormatError, match=message):
        read_kaldi_lattices(tmp_path / "x.txt", words)


def test_integer_labels_need_a_symbol_table_and_bad_files_are_refused(tmp_path, words):
    (tmp_path / "x.txt").write_text("u\n0 1 3 3 1,2\n1\n")
    with pytest.raises(LatticeFormatError, match="x.txt:2: integer label 3 but no words.txt"):
        read_kaldi_lattices(tmp_path / "x.txt")
    (tmp_path / "bad.fst").write_bytes(b"not an fst" * 10)
    with pytest.raises(LatticeFormatError, match="bad.fst: not an OpenFst lattice4"):
        read_fst_lattice(tmp_path / "bad.fst", words)
    (tmp_path / "w.txt").write_text("a b c\n")
    with pytest.raises(LatticeFormatError, match="w.txt:1: expected .word integer-id."):
        read_words(tmp_path / "w.txt")
    lat = read_kaldi_lattices(tmp_path / "x.txt", words)["u"]
    lat.symbols[0] = "zebra"
    with pytest.raises(ValueError, match="'zebra' is not in the symbol table"):
        write_kaldi_lattices(tmp_path / "y.txt", {"u": lat}, words)
    assert not (tmp_path / "y.txt").exists()
