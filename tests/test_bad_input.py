"""Bad input never passes silently: byte-order marks, endless lines, non-finite weights, runs written
over, resumed runs with other settings, cyclic or headless lattices, unwritable outputs, empty sets and
the temporary files of killed writers. Each case ends in correct output or in one line naming the file
(and line), never a traceback."""

import errno
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from helpers import toy_sentences

from lightrnn_asr.cli import main
from lightrnn_asr.evaluation.names import read_names
from lightrnn_asr.formats.lattice import LatticeFormatError, read_htk
from lightrnn_asr.formats.nbest import NBestFormatError, read_nbest, read_text
from lightrnn_asr.formats.symbols import read_symbol_pairs
from lightrnn_asr.lm.checkpoint import CheckpointError, load_checkpoint
from lightrnn_asr.text.corpus import MAX_SENTENCE_WORDS, encode_corpus, read_sentences
from lightrnn_asr.text.vocabulary import Vocabulary, read_new_words, read_vocab, read_word_list
from lightrnn_asr.utils.io import atomic_text, utf8_lines

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_lightrnn.pt"
BOM = b"\xef\xbb\xbf"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res, *needles):
    """The command failed with exit status 1 and one ``Error:`` line holding every needle."""
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def bom_copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(BOM + src.read_bytes())
    return dst


# --- byte-order marks: every reader gives what it gives for the same file without one ---

READERS = {
    "nbest": (read_nbest, DATA / "asterisk_dev_sample.nbest"),
    "text": (read_text, DATA / "asterisk_dev_sample.ref"),
    "sentences": (lambda p: list(read_sentences(p)), DATA / "synthetic_dev_trigram.ref"),
    "htk": (lambda p: read_htk(p).symbols, DATA / "asterisk-do-not-disturb.slf"),
    "names": (read_names, DATA / "asterisk_dev_sample.ref"),
    "word_list": (read_word_list, DATA / "asterisk_dev_sample.ref"),
}


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path, kind):
    read, path = READERS[kind]
    assert read(bom_copy(path, tmp_path / path.name)) == read(path)


def test_a_byte_order_mark_in_small_files(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(BOM + b"<s> 0\n</s> 0\n<unk> 0\nshe 3\n")
    assert read_vocab(vocab).words == ["<s>", "</s>", "<unk>", "she"]
    words = tmp_path / "words.txt"
    words.write_bytes(BOM + b"zorblax she\nquux\n")
    assert read_new_words(words) == (["zorblax", "quux"], {"zorblax": "she"})
    symbols = tmp_path / "symbols.txt"
    symbols.write_bytes(BOM + b"<eps> 0\nshe 1\n")
    assert read_symbol_pairs(symbols) == [("<eps>", 0), ("she", 1)]
    text = tmp_path / "train.txt"
    text.write_bytes(BOM + b"she said so\n")
    assert "she" in Vocabulary.from_sentences(read_sentences(text)).words
    assert not any("\ufeff" in w for w in Vocabulary.from_sentences(read_sentences(text)).words)
    # only at the start of a file: elsewhere it is a character like any other
    middle = tmp_path / "middle.txt"
    middle.write_bytes(b"a\n" + BOM + b"b\n")
    assert list(read_sentences(middle)) == [["a"], ["\ufeffb"]]


def test_rescore_and_tuning_read_files_with_a_byte_order_mark_as_without(tmp_path):
    nbest, ref = DATA / "asterisk_dev_trigram.nbest", DATA / "asterisk_dev_trigram.ref"
    outs = []
    for name, (n, r) in {"plain": (nbest, ref),
                         "bom": (bom_copy(nbest, tmp_path / "n"), bom_copy(ref, tmp_path / "r"))}.items():
        res = run("rescore", n, "--dev", n, r, "--model", TINY,
                  "--out", tmp_path / f"{name}.txt", "--device", "cpu")
        assert res.exit_code == 0, res.output
        outs.append((tmp_path / f"{name}.txt").read_text())
    assert outs[0] == outs[1] and len(outs[0].splitlines()) == 50


def test_prepare_text_drops_a_byte_order_mark(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_bytes(BOM + b"She said so.\n")
    assert run("prepare-text", raw, "--out", tmp_path / "o.txt").exit_code == 0
    assert (tmp_path / "o.txt").read_text() == "she said so\n"


# --- long lines: bounded memory, then a clear error ---

def test_a_line_longer_than_the_limit_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes(b"word " * 2_000_000)  # 10 MB, no line break
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"book.txt:1: line longer than 1,048,576 bytes"):
            list(utf8_lines(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * (1 << 20)  # one line's limit and change, not the 10 MB


def test_sentences_scored_whole_have_a_word_limit(tmp_path):
    long = tmp_path / "long.txt"
    long.write_text("short one\n" + " ".join(["the"] * (MAX_SENTENCE_WORDS + 1)) + "\n")
    one_line_error(run("ppl", "--model", TINY, "--text", long), "long.txt:2:", "5,001 words")
    one_line_error(run("score", "--model", TINY, "--text", long), "long.txt:2:")
    # training text is split by --max-len instead
    assert len(encode_corpus(long, Vocabulary.from_sentences([["the"]]), max_len=60)) == 1 + 84
    nbest = tmp_path / "x.nbest"
    nbest.write_text("u1\t-1\tthe\nu1\t-2\t" + " ".join(["the"] * (MAX_SENTENCE_WORDS + 1)) + "\n")
    with pytest.raises(NBestFormatError, match=r"x.nbest:2: a hypothesis of 5,001 words"):
        read_nbest(nbest)


# --- checkpoints ---

def test_a_checkpoint_with_nan_or_inf_weights_is_refused(tmp_path):
    payload = torch.load(TINY, weights_only=True)
    for value, name in ((float("nan"), "nan.pt"), (float("inf"), "inf.pt")):
        broken = {**payload, "state_dict": {k: v.clone() for k, v in payload["state_dict"].items()}}
        broken["state_dict"]["trunk.lstm.weight_hh_l0"][3, 2] = value
        torch.save(broken, tmp_path / name)
        with pytest.raises(CheckpointError, match=rf"{name}: .*trunk.lstm.weight_hh_l0 holds 1 NaN or infinite"):
            load_checkpoint(tmp_path / name)
    one_line_error(run("ppl", "--model", tmp_path / "nan.pt", "--text", DATA / "asterisk_dev_sample.ref"), "nan.pt")
    res = run("rescore", DATA / "asterisk_dev_sample.nbest", "--model", tmp_path / "inf.pt",
              "--lm-scale", 1, "--out", tmp_path / "o.txt")
    one_line_error(res, "inf.pt")
    assert not (tmp_path / "o.txt").exists()


def test_a_checkpoint_without_its_config_names_what_is_missing(tmp_path):
    payload = torch.load(TINY, weights_only=True)
    del payload["config"]
    torch.save(payload, tmp_path / "noconf.pt")
    with pytest.raises(CheckpointError, match=r"noconf.pt: invalid checkpoint: no 'config' entry"):
        load_checkpoint(tmp_path / "noconf.pt")


# --- training runs ---

@pytest.fixture
def tiny_text(tmp_path):
    train, valid = tmp_path / "train.txt", tmp_path / "valid.txt"
    train.write_text("\n".join(toy_sentences(200, 0)) + "\n")
    valid.write_text("\n".join(toy_sentences(20, 1)) + "\n")
    return ["--train-text", train, "--valid-text", valid, "--embed-dim", 8, "--hidden-dim", 8, "--num-layers", 1,
            "--max-tokens", 400, "--device", "cpu", "--threads", 1]


def test_train_never_replaces_a_run_without_resume_or_overwrite(tmp_path, tiny_text):
    out = tmp_path / "exp"
    assert run("train", *tiny_text, "--out-dir", out, "--rounds", 2).exit_code == 0
    before = {name: (out / name).read_bytes() for name in ("best.pt", "last.pt", "history.json", "vocab.txt")}
    one_line_error(run("train", *tiny_text, "--out-dir", out, "--rounds", 1, "--seed", 3),
                   f"{out} already holds a run", "--resume", "--overwrite")
    assert {name: (out / name).read_bytes() for name in before} == before
    res = run("train", *tiny_text, "--out-dir", out, "--rounds", 1, "--seed", 3, "--overwrite")
    assert res.exit_code == 0, res.output
    assert len(load_checkpoint(out / "last.pt").train_state["history"]) < len(before["history.json"])


@pytest.mark.parametrize("changed, needle", [(("--rounds", 5), "rounds 5 (saved: 2)"),
                                             (("--hidden-dim", 16), "hidden_dim 16 (saved: 8)"),
                                             (("--model-type", "lstm"), "model_type 'lstm' (saved: 'lightrnn')")])
def test_a_resumed_run_with_other_settings_says_which_and_stops(tmp_path, tiny_text, changed, needle):
    out = tmp_path / "exp"
    assert run("train", *tiny_text, "--out-dir", out, "--rounds", 2).exit_code == 0
    last = (out / "last.pt").read_bytes()
    args = [a for a in tiny_text]
    if changed[0] == "--hidden-dim":
        args[args.index("--hidden-dim") + 1] = changed[1]
        changed = ()
    one_line_error(run("train", *args, "--out-dir", out, "--rounds", 2, *changed, "--resume"), "last.pt", needle,
                   "--overwrite")
    assert (out / "last.pt").read_bytes() == last
    assert run("train", *tiny_text, "--out-dir", out, "--rounds", 2, "--resume").exit_code == 0  # the same: fine


# --- lattices ---

def _slf(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_lattice_commands_refuse_cycles_and_lattices_without_a_path(tmp_path):
    head = "VERSION=1.0\nstart=0\nend=2\nN=3\tL=3\nI=0\tt=0.00\tW=!NULL\nI=1\tt=0.10\tW=so\nI=2\tt=0.20\tW=!NULL\n"
    loop = _slf(tmp_path, "loop.slf", head + "J=0\tS=0\tE=1\ta=-1\nJ=1\tS=1\tE=1\ta=5\nJ=2\tS=1\tE=2\ta=-1\n")
    for cmd in (["lattice-to-nbest", loop, "--out", tmp_path / "n.txt"],
                ["rescore", loop, "--input-type", "lattices", "--model", TINY, "--lm-scale", 1, "--out", tmp_path / "o.txt"]):
        one_line_error(run(*cmd), "loop.slf", "cycle")
    cut = _slf(tmp_path, "cut.slf", head + "J=0\tS=0\tE=1\ta=-1\nJ=1\tS=2\tE=1\ta=5\nJ=2\tS=0\tE=1\ta=-1\n")
    one_line_error(run("lattice-to-nbest", cut, "--out", tmp_path / "n.txt"), "cut.slf", "no path from the start")
    assert not (tmp_path / "n.txt").exists()


def test_an_htk_lattice_without_start_or_end_uses_the_nodes_no_link_enters_or_leaves(tmp_path):
    src = DATA / "asterisk-do-not-disturb.slf"
    text = src.read_text()
    assert "start=31\n" in text and "end=0\n" in text
    headless = _slf(tmp_path, "headless.slf", text.replace("start=31\n", "").replace("end=0\n", ""))
    lat, ref = read_htk(headless), read_htk(src)
    assert (lat.start, lat.final) == (ref.start, ref.final) == (31, 0)
    for path, out in ((src, "a.txt"), (headless, "b.txt")):
        assert run("lattice-to-nbest", path, "-n", 5, "--out", tmp_path / out).exit_code == 0
    assert (tmp_path / "a.txt").read_text().replace("asterisk-do-not-disturb", "headless") == \
        (tmp_path / "b.txt").read_text()
    two = _slf(tmp_path, "two.slf", "N=3\tL=1\nI=0\nI=1\nI=2\nJ=0\tS=0\tE=1\n")
    with pytest.raises(LatticeFormatError, match=r"two.slf: no 'start=' in the header, and 2 nodes could be"):
        read_htk(two)


def test_a_symbol_table_is_validated_line_by_line(tmp_path):
    bad = tmp_path / "words.txt"
    bad.write_text("<eps> 0\nshe 1\nhe x\n")
    with pytest.raises(LatticeFormatError, match=r"words.txt:3: expected 'word integer-id'"):
        read_symbol_pairs(bad)
    bad.write_text("<eps> 0\nshe 1\nhe 1\n")
    with pytest.raises(LatticeFormatError, match=r"words.txt:3: id 1 appears twice"):
        read_symbol_pairs(bad)


# --- unwritable outputs ---

@pytest.mark.parametrize("where, code, words", [("tempfile.mkstemp", errno.EROFS, "Read-only file system"),
                                                 ("os.fsync", errno.ENOSPC, "No space left on device")])
def test_an_unwritable_output_is_one_line_naming_it(tmp_path, monkeypatch, where, code, words):
    module, name = where.split(".")

    def fail(*args, **kwargs):  # as the system raises them: mkstemp names the file it tried, fsync none
        if name == "mkstemp":
            raise OSError(code, os.strerror(code), str(tmp_path / ".n.txt.p1.x.tmp"))
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(__import__(module), name, fail)
    res = run("lattice-to-nbest", DATA / "asterisk-do-not-disturb.slf", "--out", tmp_path / "n.txt")
    one_line_error(res, f"{tmp_path / 'n.txt'}: {words}")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_checkpoint_write_that_fails_in_torch_is_one_line_naming_it(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", fail)
    words = tmp_path / "new.txt"
    words.write_text("zorblax\n")
    res = run("add-words", "--model", TINY, "--words", words, "--out", tmp_path / "out.pt")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"Error: {tmp_path / 'out.pt'}: " in res.output and "torch.save" in res.output
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob(".*"))


def test_compress_checks_the_export_before_writing_anything(tmp_path, tiny_text):
    assert run("train", *tiny_text, "--out-dir", tmp_path / "a", "--rounds", 1, "--model-type", "adaptive",
               "--cutoffs", "10").exit_code == 0
    res = run("compress", "--model", tmp_path / "a" / "best.pt", "--int8", "--out", tmp_path / "c.pt",
              "--torchscript", tmp_path / "c.ts")
    one_line_error(res, "adaptive-softmax models cannot be exported")
    assert not (tmp_path / "c.pt").exists() and not (tmp_path / "c.ts").exists()


# --- empty sets ---

def test_wer_and_report_refuse_empty_or_unmatched_sets(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    one_line_error(run("wer", "--ref", empty, "--hyp", empty), "empty.txt", "no reference words")
    ref = DATA / "asterisk_dev_sample.ref"
    res = run("report", "--ref", "a", ref, "--ref", "b", ref, "--hyp", "a", "sys", ref, "--out", tmp_path / "r.md")
    one_line_error(res, "test set 'b' has references but no hypotheses")
    assert not (tmp_path / "r.md").exists()
    res = run("report", "--ref", "a", empty, "--hyp", "a", "sys", empty, "--out", tmp_path / "r.md")
    one_line_error(res, "no reference words")


# --- temporary files of killed writers ---

def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".out.txt.p{int(dead.stdout)}.k1l2x.tmp"
    live = tmp_path / f".out.txt.p{os.getpid()}.a1b2c.tmp"  # a writer still at work: kept
    other = tmp_path / f".other.txt.p{int(dead.stdout)}.k1l2x.tmp"  # another file's: kept
    for p in (orphan, live, other):
        p.write_text("half")
    with atomic_text(tmp_path / "out.txt") as f:
        f.write("done\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "out.txt"])


def test_sigterm_ends_a_command_without_leaving_a_temporary_file(tmp_path, monkeypatch):
    import lightrnn_asr.cli.text_cmds as text_cmds

    calls = []

    def normalize_then_terminate(text):
        calls.append(text)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return text.lower()

    monkeypatch.setattr(text_cmds, "normalize_text", normalize_then_terminate)
    raw = tmp_path / "raw.txt"
    raw.write_text("One.\n\nTwo.\n\nThree.\n")
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # if the command installed no handler: ignored
    try:
        res = run("prepare-text", raw, "--out", tmp_path / "o.txt")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert res.exit_code != 0 and len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.txt"]


def test_a_corrupt_or_truncated_gzip_file_is_named(tmp_path):
    import gzip

    bad = tmp_path / "ref.txt.gz"
    bad.write_bytes(b"not gzip at all\n")
    one_line_error(run("wer", "--ref", bad, "--hyp", bad), "ref.txt.gz:1: corrupt or truncated gzip data")
    data = gzip.compress(b"".join(b"u%d a b c\n" % i for i in range(5000)))
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(NBestFormatError, match=r"cut.txt.gz:\d+: corrupt or truncated gzip data"):
        read_text(cut)
