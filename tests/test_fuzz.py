"""Property-based tests (hypothesis): readers never fail with anything but their own error (byte-order
marks and over-long lines included), and the word table stays a one-to-one allocation through reallocation and added words."""

import gzip
import math
import os
import re
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lightrnn_asr.formats.kaldi_lattice import read_kaldi_lattices, write_kaldi_lattices
from lightrnn_asr.formats.lattice import LatticeFormatError, read_htk, topological_order
from lightrnn_asr.formats.lattice_io import iter_lattices
from lightrnn_asr.formats.lattice_paths import lattice_nbest
from lightrnn_asr.formats.nbest import Hypothesis, NBestFormatError, read_nbest, read_text, write_nbest
from lightrnn_asr.lm import LightRNN, LMConfig
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training.openvocab import add_words
from lightrnn_asr.training.reallocation import SOLVERS, allocation_cost, reallocate
from lightrnn_asr.utils.io import utf8_lines

DATA = Path(__file__).parent / "data"
# FUZZ_EXAMPLES=5000 for a longer run (docs/studies/reliability.md); 300 by default keeps the suite quick
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 300)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# pieces N-best lines are made of, good and bad: numbers, non-numbers, NaN/inf, tabs, CR, odd Unicode
TOKENS = st.sampled_from(["utt1", "utt2", "-12.5", "3", "1e400", "nan", "-inf", "inf", "x1", "", " ", "\t",
                          "\r", "hello", "wörld", "\u00a0", "\ufeff", "日本", "0x1F", "--1", "1,5"])
LINE = st.lists(TOKENS, min_size=0, max_size=8).map("".join)


def valid_or_error(read, path, error):
    """``read(path)`` returns, or raises ``error`` whose message names ``path``; anything else fails."""
    try:
        return read(path)
    except error as e:
        assert str(path) in str(e)
        return None


@FUZZ
@given(lines=st.lists(LINE, min_size=0, max_size=12), crlf=st.booleans())
def test_nbest_reader_accepts_or_names_the_line(tmp_path, lines, crlf):
    path = tmp_path / "x.nbest"
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode("utf-8"))
    got = valid_or_error(read_nbest, path, NBestFormatError)
    if got is not None:  # whatever was accepted is well-formed
        for utt, hyps in got.items():
            assert utt and not any(c.isspace() for c in utt)
            assert all(math.isfinite(h.am) for h in hyps)


@FUZZ
@given(data=st.binary(max_size=200))
def test_nbest_reader_survives_arbitrary_bytes(tmp_path, data):
    path = tmp_path / "x.nbest"
    path.write_bytes(data)
    valid_or_error(read_nbest, path, NBestFormatError)


WORDS = st.text(alphabet=string.ascii_lowercase + "'éß", min_size=1, max_size=6)
SCORE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@FUZZ
@given(nbest=st.dictionaries(st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=8),
                             st.lists(st.tuples(st.lists(WORDS, max_size=5), SCORE, SCORE), min_size=1, max_size=4),
                             min_size=1, max_size=4))
def test_nbest_write_read_round_trip(tmp_path, nbest):
    hyps = {u: [Hypothesis(tuple(w), am, lm) for w, am, lm in v] for u, v in nbest.items()}
    write_nbest(tmp_path / "x.nbest", hyps)
    got = read_nbest(tmp_path / "x.nbest")
    assert list(got) == list(hyps)
    for u in hyps:
        assert [h.words for h in got[u]] == [h.words for h in hyps[u]]
        assert [(h.am, h.fp_lm) for h in got[u]] == [(h.am, h.fp_lm) for h in hyps[u]]  # exact


HTK = (DATA / "asterisk-do-not-disturb.slf").read_bytes()


@st.composite
def mutated(draw, source: bytes):
    """``source`` with a few bytes deleted, replaced or inserted, a line dropped or repeated, or an HTK
    link's end node changed."""
    data = bytearray(source)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "replace", "insert", "drop_line", "dup_line", "relink"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "relink":  # an HTK link to another node: cycles, unreachable final states
            ends = [m.end() for m in re.finditer(rb"\bE=", bytes(data))]
            if ends:
                j = ends[draw(st.integers(0, len(ends) - 1))]
                k = j + len(re.match(rb"\d*", bytes(data[j:])).group())
                data[j:k] = str(draw(st.integers(0, 40))).encode()
        elif kind == "delete":
            del data[i:i + draw(st.integers(1, 8))]
        elif kind == "replace":
            data[i:i + 1] = draw(st.sampled_from([b"x", b"9", b"-", b"=", b" ", b"\t", b"\n", b"\xff", b"nan", b"1e999"]))
        elif kind == "insert":
            data[i:i] = draw(st.sampled_from([b"J=0 S=0 E=0", b"I=9999", b"N=1 L=1\n", b" W=", b"\r\n"]))
        else:
            lines = bytes(data).split(b"\n")
            k = draw(st.integers(0, len(lines) - 1))
            lines = lines[:k] + lines[k + 1:] if kind == "drop_line" else lines[:k] + [lines[k]] + lines[k:]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def usable(lat):
    """A lattice a reader returned: arcs within range, acyclic (or rejected by name), finite scores."""
    assert ((0 <= lat.src) & (lat.src < lat.num_states)).all() and ((0 <= lat.dst) & (lat.dst < lat.num_states)).all()
    assert np.isfinite(lat.am).all() and np.isfinite(lat.fp_lm).all() and lat.lm is None
    try:
        topological_order(lat)
    except LatticeFormatError:
        return
    lattice_nbest(lat, 3)  # and N-best extraction runs on it


@FUZZ
@given(data=mutated(HTK))
def test_htk_reader_accepts_or_names_the_file(tmp_path, data):
    path = tmp_path / "x.slf"
    path.write_bytes(data)
    lat = valid_or_error(read_htk, path, LatticeFormatError)
    if lat is not None:
        usable(lat)


@pytest.fixture(scope="module")
def kaldi_archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("ark") / "lat.txt"
    write_kaldi_lattices(path, {"utt": read_htk(DATA / "asterisk-do-not-disturb.slf")})
    return path.read_bytes()


@FUZZ
@given(st.data())
def test_kaldi_reader_accepts_or_names_the_file(tmp_path, kaldi_archive, data):
    path = tmp_path / "x.txt"
    path.write_bytes(data.draw(mutated(kaldi_archive)))
    lats = valid_or_error(read_kaldi_lattices, path, LatticeFormatError)
    for lat in (lats or {}).values():
        usable(lat)


@settings(max_examples=60, deadline=None)
@given(vocab_size=st.integers(2, 40), seed=st.integers(0, 2**31 - 1), solver=st.sampled_from(sorted(SOLVERS)),
       subset=st.booleans())
def test_reallocation_keeps_a_bijection_and_never_costs_more(vocab_size, seed, solver, subset):
    g = torch.Generator().manual_seed(seed)
    table = WordTable.random(vocab_size, g)
    words = torch.randperm(vocab_size, generator=g)[: max(1, vocab_size // 2)].sort().values if subset else None
    n = vocab_size if words is None else len(words)
    row_loss = torch.rand(n, table.n_rows, generator=g, dtype=torch.float64) * 10
    col_loss = torch.rand(n, table.n_cols, generator=g, dtype=torch.float64) * 10
    new, before, after = reallocate(row_loss, col_loss, table, solver, words=words)
    # WordTable's constructor refuses shared or out-of-range cells; check it all the same
    assert new.cell.numel() == vocab_size and torch.unique(new.cell).numel() == vocab_size
    assert int(new.cell.max()) < new.n_rows * new.n_cols
    assert after <= before + 1e-9
    sub = new if words is None else WordTable(new.cell[words], new.n_rows, new.n_cols)
    assert allocation_cost(row_loss, col_loss, sub) == pytest.approx(after, rel=1e-9, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(base=st.integers(4, 30), extra=st.integers(1, 30), seed=st.integers(0, 1000))
def test_added_words_get_free_cells_and_old_words_keep_theirs(base, extra, seed):
    words = [f"w{i}" for i in range(base)]
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *words], [0, 1, 0] + [1] * base)
    table = WordTable.random(len(vocab), torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=4, hidden_dim=4, num_layers=1, dropout=0.0, recurrence="halfword"), table).eval()
    new_words = [f"n{i}" for i in range(extra)]
    model2, vocab2, table2, placements = add_words(model, vocab, table, new_words)
    assert len(vocab2) == len(vocab) + extra and table2.cell.numel() == len(vocab2)
    assert torch.unique(table2.cell).numel() == len(vocab2)  # one-to-one, the grid grown where needed
    old = table.cell // table.n_cols, table.cell % table.n_cols
    assert torch.equal(table2.cell[: len(vocab)] // table2.n_cols, old[0])
    assert torch.equal(table2.cell[: len(vocab)] % table2.n_cols, old[1])
    assert len(placements) == extra


@FUZZ
@given(data=mutated(HTK))
def test_every_lattice_a_command_reads_has_a_path_and_gives_hypotheses(tmp_path, data):
    path = tmp_path / "x.slf"
    path.write_bytes(data)
    got = valid_or_error(lambda p: list(iter_lattices(p)), path, LatticeFormatError)
    for _, lat in got or []:
        topological_order(lat)  # acyclic
        assert lat.start != lat.final and lattice_nbest(lat, 3)  # a path from the start to the final state


@FUZZ
@given(lines=st.lists(LINE, min_size=0, max_size=8))
def test_a_byte_order_mark_changes_nothing_a_reader_returns(tmp_path, lines):
    data = "\n".join(lines).encode("utf-8")
    assume(not data.startswith(b"\xef\xbb\xbf"))  # the plain file must not start with one itself
    plain, marked = tmp_path / "plain.nbest", tmp_path / "marked.nbest"
    plain.write_bytes(data)
    marked.write_bytes(b"\xef\xbb\xbf" + data)
    for read in (read_nbest, read_text):
        outcome = []
        for path in (plain, marked):
            try:
                outcome.append(read(path))
            except NBestFormatError as e:
                outcome.append(str(e).replace(str(path), "FILE"))
        assert outcome[0] == outcome[1]


@FUZZ
@given(lengths=st.lists(st.integers(0, 40), min_size=1, max_size=6), limit=st.integers(1, 30),
       crlf=st.booleans(), gz=st.booleans())
def test_lines_over_the_byte_limit_are_refused_by_file_and_line(tmp_path, lengths, limit, crlf, gz):
    end = b"\r\n" if crlf else b"\n"
    data = end.join(b"w" * n for n in lengths)
    path = tmp_path / ("x.txt.gz" if gz else "x.txt")
    path.write_bytes(gzip.compress(data) if gz else data)
    sizes = [n + len(end) if k < len(lengths) - 1 else n for k, n in enumerate(lengths)]
    first_long = next((k for k, n in enumerate(sizes) if n > limit and (n or k < len(lengths) - 1)), None)
    try:
        got = list(utf8_lines(path, max_bytes=limit))
    except ValueError as e:
        assert first_long is not None and f"{path}:{first_long + 1}: line longer than" in str(e)
    else:
        assert first_long is None and [line for _, line in got] == ["w" * n for n in lengths][:len(got)]
