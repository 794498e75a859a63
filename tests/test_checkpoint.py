import os
import pickle

import pytest
import torch

from lightrnn_asr.lm import LSTMLM, LightRNN, LMConfig, build_model
from lightrnn_asr.lm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.vocabulary import Vocabulary

SENTS = [torch.tensor(s) for s in ([3, 4, 5], [6], [])]


def make(tmp_path, kind="lightrnn"):
    vocab = Vocabulary.from_sentences([["a", "b", "c", "d", "e", "f"]])
    table = WordTable.random(len(vocab), torch.Generator().manual_seed(0))
    if kind == "lightrnn":
        model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows,
                                  n_cols=table.n_cols, embed_dim=8, hidden_dim=8, num_layers=1, dropout=0.0,
                                  recurrence="halfword"), table)
    else:
        model, table = build_model(LMConfig(model_type=kind, vocab_size=len(vocab), n_rows=0, n_cols=0, embed_dim=8,
                                            hidden_dim=8, num_layers=1, dropout=0.0, recurrence="halfword")), None
    path = tmp_path / "lm.pt"
    save_checkpoint(path, model, vocab, table, {"round": 3})
    return path, model.eval(), vocab, table


@pytest.mark.parametrize("kind", ["lightrnn", "lstm", "adaptive"])
def test_round_trip_gives_identical_scores(tmp_path, kind):
    path, model, vocab, table = make(tmp_path, kind)
    ck = load_checkpoint(path)
    assert ck.vocab == vocab and ck.train_state == {"round": 3}
    if table is not None:
        assert torch.equal(ck.table.cell, table.cell)
    assert score_sentences(ck.model, SENTS) == pytest.approx(score_sentences(model, SENTS), abs=0)
    # plain tensors and types only
    payload = torch.load(path, weights_only=True)
    assert set(payload) >= {"config", "state_dict", "vocab", "table"}
    assert [p.name for p in tmp_path.iterdir()] == ["lm.pt"]  # no temp files left behind


def test_truncated_and_garbage_files_are_refused(tmp_path):
    path, *_ = make(tmp_path)
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.pt: not a lightrnn-asr checkpoint: not a complete file"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="text.pt: not a lightrnn-asr checkpoint: not a complete file"):
        load_checkpoint(tmp_path / "text.pt")
    # a zip archive whose pickle is cut: corrupt, in the project's words
    corrupt = bytearray(data)
    start = data.index(b"data.pkl") + 40
    corrupt[start : start + 40] = b"\x00" * 40
    (tmp_path / "corrupt.pt").write_bytes(bytes(corrupt))
    with pytest.raises(CheckpointError, match="corrupt.pt: not a") as e:
        load_checkpoint(tmp_path / "corrupt.pt")
    assert "weights_only" not in str(e.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_malicious_pickle_is_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": "lightrnn-asr/1", "config": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt: not a lightrnn-asr checkpoint: it holds Python objects") as e:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only" not in str(e.value)  # never the advice to load it unsafely
    assert not (tmp_path / "pwned.txt").exists()
    with open(tmp_path / "raw.pt", "wb") as f:
        pickle.dump(_Evil(), f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "raw.pt")
    assert not (tmp_path / "pwned.txt").exists()


def test_inconsistent_checkpoint_is_refused(tmp_path):
    path, *_ = make(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["vocab"]["words"] = payload["vocab"]["words"][:-1]
    payload["vocab"]["counts"] = payload["vocab"]["counts"][:-1]
    torch.save(payload, tmp_path / "bad_vocab.pt")
    with pytest.raises(CheckpointError, match="bad_vocab.pt: invalid checkpoint: vocabulary has 8 words"):
        load_checkpoint(tmp_path / "bad_vocab.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["row_head.weight"] = torch.zeros(1, 1)
    torch.save(payload, tmp_path / "bad_weights.pt")
    with pytest.raises(CheckpointError, match="bad_weights.pt: invalid checkpoint"):
        load_checkpoint(tmp_path / "bad_weights.pt")
    with pytest.raises(CheckpointError, match="expected a lstm model"):
        load_checkpoint(path, expect_type="lstm")


def test_python_floats_are_stored_exactly_and_without_the_float_opcode(tmp_path):
    import pickletools
    import zipfile

    vocab = Vocabulary.from_sentences([["a", "b"]])
    model = LSTMLM(LMConfig(model_type="lstm", vocab_size=len(vocab), n_rows=0, n_cols=0, embed_dim=8, hidden_dim=8,
                            num_layers=1, dropout=0.1))
    state = {"lr": 0.1 + 0.2, "history": [{"valid_ppl": 1e-300, "tiny": 5e-324}], "betas": (0.9, 0.999), "n": 3}
    save_checkpoint(tmp_path / "lm.pt", model, vocab, None, state)
    ck = load_checkpoint(tmp_path / "lm.pt")
    assert ck.train_state == state and ck.model.config.dropout == 0.1  # exact, tuples kept
    with zipfile.ZipFile(tmp_path / "lm.pt") as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    # torch 1.13's weights-only unpickler (k2's torch) has no BINFLOAT; such a file must not hold one
    assert not [op for op, _, _ in pickletools.genops(data) if op.name in ("BINFLOAT", "FLOAT")]


@pytest.mark.skipif(int(torch.__version__.split(".")[0]) < 2,
                    reason="torch 1.13's weights-only unpickler cannot read plain floats, so neither such files")
def test_files_written_before_float_tagging_still_load(tmp_path):
    path, model, vocab, table = make(tmp_path)
    payload = torch.load(path, weights_only=True)
    from lightrnn_asr.lm.checkpoint import _decode_floats

    torch.save(_decode_floats(payload), tmp_path / "old.pt")  # plain Python floats, as older versions wrote
    ck = load_checkpoint(tmp_path / "old.pt")
    assert score_sentences(ck.model, SENTS) == pytest.approx(score_sentences(model, SENTS), abs=0)
