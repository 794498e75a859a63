"""The BPE LSTM LM (an LSTM over sentencepiece pieces that scores words): its pieces are sentencepiece's,
a word's log-probability is the sum of its pieces', and it works wherever the other LMs do."""

import json
from pathlib import Path

import pytest
import torch
from helpers import run_cli, toy_sentences, toy_text_files

from lightrnn_asr.lm import LMConfig, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.build import new_model
from lightrnn_asr.lm.piece_lstm import PieceLSTMLM, spell_words
from lightrnn_asr.scoring.prefix import prefix_logprobs
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.corpus import make_batch, read_sentences
from lightrnn_asr.text.pieces import BOS_PIECE, EOS_PIECE, load_pieces, train_pieces, word_piece_table
from lightrnn_asr.text.vocabulary import Vocabulary

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def novel(tmp_path_factory):
    """Real sentences (the synthetic dev set's references: Austen, public domain), a BPE model of 150
    pieces trained on them, their vocabulary and a small untrained model."""
    tmp = tmp_path_factory.mktemp("bpe")
    text = tmp / "text.txt"
    sentences = [line.split()[1:] for line in (DATA / "synthetic_dev_trigram.ref").read_text().splitlines()]
    text.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    sp = train_pieces(text, tmp / "bpe", 150)
    vocab = Vocabulary.from_sentences(read_sentences(text), min_count=1)
    torch.manual_seed(0)
    model, table = new_model("bpe", len(vocab), embed_dim=8, hidden_dim=12, num_layers=2, dropout=0.0,
                             pieces=(*word_piece_table(vocab, sp), 150))
    for p in model.parameters():  # larger weights than the default init, so that a wrong term shows
        p.data.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    return sentences, sp, vocab, model.eval(), tmp


def test_a_sentences_pieces_are_its_words_pieces_in_order(novel):
    sentences, sp, vocab, model, _ = novel
    pieces, counts = word_piece_table(vocab, sp)
    assert pieces.dtype == torch.int32 and pieces.shape == (len(vocab), int(counts.max()))
    assert pieces[vocab.bos_id, 0] == BOS_PIECE and pieces[vocab.eos_id, 0] == EOS_PIECE
    for s in sentences:
        spelled = [p for w in vocab.encode(s) for p in pieces[w, : counts[w]].tolist()]
        assert spelled == sp.encode(" ".join(s), out_type=int)
    assert max(counts) > 1 and min(counts[3:]) >= 1  # some words take several pieces


def by_hand(model, pieces):
    """Independent reference: ``log P(<s> pieces </s>)`` one LSTM step per piece, summed (nats)."""
    seq = [BOS_PIECE, *pieces, EOS_PIECE]
    state, total = None, 0.0
    for prev, nxt in zip(seq[:-1], seq[1:]):
        out, state = model.trunk.lstm(model.embed.weight[prev].view(1, 1, -1), state)
        total += torch.log_softmax(model.head(out.view(-1)), -1)[nxt].item()
    return total


def test_a_sentences_log_probability_is_its_piece_sequences_batched_or_word_by_word(novel):
    sentences, sp, vocab, model, _ = novel
    chosen = sentences[:6]
    ids = [vocab.encode(s) for s in chosen]
    inputs, targets, mask = make_batch([torch.tensor(i) for i in ids], vocab.bos_id, vocab.eos_id)
    with torch.no_grad():
        batched = model.sentence_logprobs(inputs, targets, mask)
        whole = score_sentences(model, [torch.tensor(i) for i in ids], vocab.bos_id, vocab.eos_id)
        shared = prefix_logprobs(model, ids + [ids[0][:3]], vocab.bos_id, vocab.eos_id)  # a prefix shared
    for i, s in enumerate(chosen):
        ref = by_hand(model, sp.encode(" ".join(s), out_type=int))
        assert batched[i].item() == pytest.approx(ref, abs=1e-3)
        state = model.initial_state(1, vocab.bos_id)
        total = 0.0
        for w in ids[i] + [vocab.eos_id]:
            lp, state = model.score_next(state, torch.tensor([w]))
            total += lp.item()
        assert total == pytest.approx(ref, abs=1e-3)
    assert torch.allclose(torch.as_tensor(whole, dtype=torch.float32), batched, atol=1e-4)
    assert torch.allclose(torch.as_tensor(shared[:-1], dtype=torch.float32), batched, atol=1e-4)


def test_a_batch_steps_words_of_different_lengths_as_each_alone(novel):
    sentences, sp, vocab, model, _ = novel
    _, counts = word_piece_table(vocab, sp)
    words = torch.tensor([int(counts.argmax()), vocab.id("the"), vocab.eos_id, int(counts.argmax())])
    state = model.initial_state(4, vocab.bos_id)
    with torch.no_grad():
        lp, after = model.score_next(state, words)
        for i in range(4):
            alone, alone_after = model.score_next(model.select_state(state, torch.tensor([i])), words[i : i + 1])
            assert lp[i].item() == pytest.approx(alone.item(), abs=1e-5)
            assert all(torch.allclose(a[..., i, :], b[..., 0, :], atol=1e-6) for a, b in zip(after, alone_after))


def test_new_words_are_spelled_in_pieces_and_old_words_score_as_before(novel):
    sentences, sp, vocab, model, _ = novel
    # real names the text lacks; one longer than any word of the table, so that the table widens
    names = ["willoughbyshire", "marianne", "ferrarsborough-on-the-water".replace("-", "")]
    grown, grown_vocab = spell_words(model, vocab, names, sp)
    assert grown_vocab.words[: len(vocab)] == vocab.words
    assert len(grown_vocab) == len(vocab) + len(set(names) - set(vocab.words))
    assert grown.word_pieces.shape[1] > model.word_pieces.shape[1]
    sentence = [*sentences[0][:3], *names, *sentences[0][3:]]
    ids = grown_vocab.encode(sentence)
    assert grown_vocab.unk_id not in ids
    with torch.no_grad():
        ref = by_hand(grown, sp.encode(" ".join(sentence), out_type=int))
        got = score_sentences(grown, [torch.tensor(ids)], grown_vocab.bos_id, grown_vocab.eos_id)[0]
        assert got == pytest.approx(ref, abs=1e-3)
        old = [torch.tensor(vocab.encode(s)) for s in sentences[:5]]
        assert score_sentences(grown, old) == pytest.approx(score_sentences(model, old), abs=1e-5)
    with pytest.raises(ValueError, match="pieces"):
        spell_words(model, vocab, names, train_pieces(novel[4] / "text.txt", novel[4] / "other", 100))


def test_the_piece_table_is_kept_in_the_checkpoint(novel):
    sentences, sp, vocab, model, tmp = novel
    save_checkpoint(tmp / "bpe.pt", model, vocab, None)
    back = load_checkpoint(tmp / "bpe.pt")
    assert isinstance(back.model, PieceLSTMLM) and back.table is None
    assert torch.equal(back.model.word_pieces, model.word_pieces)
    assert torch.equal(back.model.word_piece_count, model.word_piece_count)
    ids = [torch.tensor(vocab.encode(sentences[0]))]
    assert score_sentences(back.model, ids) == pytest.approx(score_sentences(model, ids), abs=1e-5)


def test_the_piece_fields_belong_to_a_bpe_model_only():
    with pytest.raises(ValueError, match="model_type 'bpe' only"):
        LMConfig(model_type="lstm", vocab_size=10, n_rows=0, n_cols=0, embed_dim=4, hidden_dim=4, num_layers=1,
                 dropout=0.0, n_pieces=8, max_word_pieces=2)
    with pytest.raises(ValueError, match="n_pieces >= 4"):
        LMConfig(model_type="bpe", vocab_size=10, n_rows=0, n_cols=0, embed_dim=4, hidden_dim=4, num_layers=1,
                 dropout=0.0)
    with pytest.raises(ValueError, match="needs its pieces"):
        new_model("bpe", 10)


def test_a_sentencepiece_model_with_other_special_ids_is_refused(tmp_path):
    import sentencepiece as spm

    (tmp_path / "t.txt").write_text("\n".join(toy_sentences(200)) + "\n")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "t.txt"), model_prefix=str(tmp_path / "other"),
                                   vocab_size=40, minloglevel=2)  # sentencepiece's own ids: <unk> 0, <s> 1, </s> 2
    load_pieces(tmp_path / "other.model")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "t.txt"), model_prefix=str(tmp_path / "moved"),
                                   vocab_size=40, minloglevel=2, unk_id=3, bos_id=0, eos_id=1, pad_id=2)
    with pytest.raises(ValueError, match="moved.model: <unk> <s> </s> must be pieces 0 1 2"):
        load_pieces(tmp_path / "moved.model")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.model: not a sentencepiece model"):
        load_pieces(tmp_path / "junk.model")


def test_trained_from_the_command_line_and_used_to_rescore(tmp_path):
    run = run_cli
    toy_text_files(tmp_path)
    run("train", "--model-type", "bpe", "--bpe-pieces", 40, "--train-text", tmp_path / "train.txt", "--valid-text",
        tmp_path / "valid.txt", "--out-dir", tmp_path / "exp", "--embed-dim", 16, "--hidden-dim", 32, "--num-layers", 1,
        "--rounds", 8, "--lr", 0.03, "--max-tokens", 400, "--patience", 3, "--device", "cpu", "--threads", 1)
    assert (tmp_path / "exp" / "bpe.model").is_file()
    ck = load_checkpoint(tmp_path / "exp" / "best.pt")
    assert isinstance(ck.model, PieceLSTMLM) and ck.model.config.n_pieces == 40
    res = json.loads(run("ppl", "--model", tmp_path / "exp" / "best.pt", "--text", tmp_path / "valid.txt", "--json"))
    assert res["perplexity"] < 20  # the toy grammar's words: well below uniform
    (tmp_path / "x.nbest").write_text("u1\t-10\tthe cat sees the ball\nu1\t-9\tthe cat sees ball the\n")
    run("rescore", tmp_path / "x.nbest", "--model", tmp_path / "exp" / "best.pt", "--lm-scale", 1,
        "--out", tmp_path / "1best.txt")
    assert (tmp_path / "1best.txt").read_text().split() == "u1 the cat sees the ball".split()
    # add-words spells the new words in the model's pieces: no <unk> left, and the known words score as before
    (tmp_path / "names.txt").write_text("catherine\nballsbridge\n")
    run("add-words", "--model", tmp_path / "exp" / "best.pt", "--words", tmp_path / "names.txt",
        "--out", tmp_path / "names.pt")
    grown = load_checkpoint(tmp_path / "names.pt")
    assert grown.vocab.words[len(ck.vocab):] == ["catherine", "ballsbridge"]
    with_name = json.loads(run("ppl", "--model", tmp_path / "names.pt", "--text", tmp_path / "valid.txt", "--json"))
    assert with_name["perplexity"] == pytest.approx(res["perplexity"], rel=1e-5)
    (tmp_path / "n.txt").write_text("the cat sees catherine\n")
    scored = json.loads(run("ppl", "--model", tmp_path / "names.pt", "--text", tmp_path / "n.txt", "--json"))
    assert scored["oov_rate"] == 0
