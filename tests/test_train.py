import dataclasses
import json

import pytest
import torch

from lightrnn_asr.lm import LSTMLM, LightRNN, LMConfig
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import encode_corpus, read_sentences
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training.loop import TrainConfig, train


def setup(toy_text):
    train_path, valid_path = toy_text
    vocab = Vocabulary.from_sentences(read_sentences(train_path))
    return vocab, encode_corpus(train_path, vocab), encode_corpus(valid_path, vocab)


def lightrnn(vocab, seed=0):
    torch.manual_seed(seed)
    table = WordTable.sequential(len(vocab))
    return LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows, n_cols=table.n_cols,
                             embed_dim=16, hidden_dim=32, num_layers=1, dropout=0.0, recurrence="halfword"), table), table


def test_lightrnn_training_with_reallocation(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    model, table = lightrnn(vocab)
    cfg = TrainConfig(rounds=3, lr=1e-2, max_tokens=400, patience=3)
    hist = train(model, vocab, table, tr, va, cfg, tmp_path / "exp", device="cpu")
    assert [h["round"] for h in hist] == [0, 1, 2]
    assert hist[-1]["valid_ppl"] < 6.0  # learnt the grammar: uniform would be 28
    assert hist[-1]["valid_ppl"] < hist[0]["valid_ppl"]
    for h in hist[:-1]:  # reallocation between rounds, never after the last
        r = h["realloc"]
        assert r["cost_after"] <= r["cost_before"]
        assert r["words_moved"] > 0
    assert "realloc" not in hist[-1]
    assert json.loads((tmp_path / "exp" / "history.json").read_text()) == hist
    load_checkpoint(tmp_path / "exp" / "best.pt")  # a valid checkpoint
    last = load_checkpoint(tmp_path / "exp" / "last.pt")
    assert last.train_state["round"] == 2
    assert not torch.equal(last.table.cell, table.cell)  # words moved


def test_resume_continues_after_last_round(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    cfg = TrainConfig(rounds=1, lr=1e-2, max_tokens=400, patience=5)
    model, table = lightrnn(vocab)
    train(model, vocab, table, tr, va, cfg, tmp_path, device="cpu")
    model2, table2 = lightrnn(vocab, seed=1)
    hist = train(model2, vocab, table2, tr, va, cfg, tmp_path, device="cpu", resume=True)
    assert [h["round"] for h in hist] == [0]  # 1 round, already done: nothing more
    ck = load_checkpoint(tmp_path / "last.pt")
    ck.train_state["train_config"]["rounds"] = 3
    from lightrnn_asr.lm.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / "last.pt", ck.model, ck.vocab, ck.table, ck.train_state)
    with pytest.raises(ValueError, match=r"last.pt: this run's settings differ from the saved run's: rounds 1 \(saved: 3\)"):
        train(model2, vocab, table2, tr, va, cfg, tmp_path, device="cpu", resume=True)
    hist = train(model2, vocab, table2, tr, va, dataclasses.replace(cfg, rounds=3), tmp_path, device="cpu", resume=True)
    assert [h["round"] for h in hist] == [0, 1, 2]
    assert hist[1]["lr"] > 0


def test_resume_refuses_other_vocabulary(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    model, table = lightrnn(vocab)
    train(model, vocab, table, tr, va, TrainConfig(rounds=1, max_tokens=400), tmp_path, device="cpu")
    other = Vocabulary(vocab.words[:-1] + ["zebra"], vocab.counts)
    with pytest.raises(ValueError, match="vocabulary differs"):
        train(model, other, table, tr, va, TrainConfig(rounds=2), tmp_path, device="cpu", resume=True)


def test_lstm_baseline_trains(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    torch.manual_seed(0)
    model = LSTMLM(LMConfig(model_type="lstm", vocab_size=len(vocab), n_rows=0, n_cols=0, embed_dim=16, hidden_dim=32,
                            num_layers=1, dropout=0.0))
    hist = train(model, vocab, None, tr, va, TrainConfig(rounds=2, lr=1e-2, max_tokens=400), tmp_path, device="cpu")
    assert hist[-1]["valid_ppl"] < 8.0
    assert all("realloc" not in h for h in hist)
    assert load_checkpoint(tmp_path / "best.pt").table is None


@pytest.mark.parametrize("deterministic", [False, True])
def test_same_seed_and_data_give_the_same_checkpoint(toy_text, tmp_path, deterministic):
    vocab, tr, va = setup(toy_text)
    cfg = TrainConfig(rounds=2, lr=1e-2, max_tokens=400, patience=3, seed=5, deterministic=deterministic)
    runs = []
    try:
        for name in ("a", "b"):
            model, table = lightrnn(vocab)
            hist = train(model, vocab, table, tr, va, cfg, tmp_path / name, device="cpu")
            runs.append((load_checkpoint(tmp_path / name / "last.pt"), [h["valid_ppl"] for h in hist]))
    finally:
        torch.use_deterministic_algorithms(False)
    (a, ppl_a), (b, ppl_b) = runs
    assert ppl_a == ppl_b
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and torch.equal(a.table.cell, b.table.cell)
    other, _ = lightrnn(vocab)
    hist = train(other, vocab, WordTable.sequential(len(vocab)), tr, va,
                 TrainConfig(rounds=2, lr=1e-2, max_tokens=400, patience=3, seed=6), tmp_path / "c", device="cpu")
    assert [h["valid_ppl"] for h in hist] != ppl_a  # the seed matters (batch order), so the check above can fail


def test_temporary_files_left_by_a_killed_write_are_removed(toy_text, tmp_path):
    vocab, tr, va = setup(toy_text)
    model, table = lightrnn(vocab)
    tmp_path.joinpath("exp").mkdir()
    stale = tmp_path / "exp" / ".last.pt.k1l2x.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / "exp" / "notes.tmp"  # not ours: kept
    other.write_text("x")
    train(model, vocab, table, tr, va, TrainConfig(rounds=1, max_tokens=400), tmp_path / "exp", device="cpu")
    assert not stale.exists() and other.exists()


def test_encode_corpus_streams_in_chunks_to_int32_ids(tmp_path):
    path = tmp_path / "t.txt"
    lines = ["a b c d e", "", "b a", "zzz a b c d e f g", "c"]
    path.write_text("\n".join(lines) + "\n")
    vocab = Vocabulary.from_sentences([["a", "b", "c", "d", "e", "f", "g"]])
    expected = [vocab.encode(line.split()) for line in lines if line]
    pieces = [s[i : i + 3] for s in expected for i in range(0, len(s), 3)]
    for chunk in (1, 2, 1000):
        whole = encode_corpus(path, vocab, chunk_sentences=chunk)
        assert whole.ids.dtype == torch.int32 and whole.offsets.dtype == torch.int64
        assert [whole.sentence(i).tolist() for i in range(len(whole))] == expected
        split = encode_corpus(path, vocab, max_len=3, chunk_sentences=chunk)
        assert [split.sentence(i).tolist() for i in range(len(split))] == pieces
        assert split.num_tokens == sum(map(len, pieces)) + len(pieces)
    assert (whole.ids == vocab.unk_id).sum() == 1  # zzz


def test_shards_partition_the_pieces_and_know_all_lengths(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b c d e\nb a\nc\nd d d d\ne a\n")
    vocab = Vocabulary.from_sentences([["a", "b", "c", "d", "e"]])
    whole = encode_corpus(path, vocab, max_len=3)
    pieces = [whole.sentence(i).tolist() for i in range(len(whole))]
    shards = [encode_corpus(path, vocab, max_len=3, shard=(r, 3), chunk_sentences=1) for r in range(3)]
    for r, sh in enumerate(shards):
        assert [sh.sentence(i).tolist() for i in range(len(sh))] == pieces[r::3]
        assert sh.global_lengths().tolist() == whole.lengths().tolist()
        batch = torch.tensor([6, 0, 4, 5, 2])
        assert [sh.sentence(i).tolist() for i in sh.local_indices(batch)] == [pieces[j] for j in batch.tolist()
                                                                             if j % 3 == r]
    with pytest.raises(ValueError, match="rank must be"):
        encode_corpus(path, vocab, shard=(3, 3))


def test_make_batch_layout():
    from lightrnn_asr.text.corpus import make_batch

    inputs, targets, mask = make_batch([torch.tensor([5, 6, 7]), torch.tensor([], dtype=torch.long),
                                        torch.tensor([9])], bos_id=0, eos_id=1)
    assert inputs.tolist() == [[0, 5, 6, 7], [0, 1, 1, 1], [0, 9, 1, 1]]
    assert targets.tolist() == [[5, 6, 7, 1], [1, 1, 1, 1], [9, 1, 1, 1]]
    assert mask.tolist() == [[True] * 4, [True, False, False, False], [True, True, False, False]]
    assert inputs.dtype == targets.dtype == torch.long and mask.dtype == torch.bool
