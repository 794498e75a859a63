"""The ONNX step function: run in onnxruntime it gives score_next's log-probabilities and next state for any
batch size (float to 1e-4 nats, int8 within a bound), a sentence summed over steps is its log-probability,
and the file carries what a decoder needs; models a trace cannot follow are refused."""

import numpy as np
import onnx  # make test installs the export extra: a missing package fails these tests, it does not skip them
import onnxruntime as ort
import pytest
import torch

from lightrnn_asr.lm.build import new_model
from lightrnn_asr.lm.onnx_export import export_onnx
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.vocabulary import Vocabulary

WORDS = "the cat sees a bird in the morning and my friend calls her sister at night".split()


def vocab_of(n: int) -> Vocabulary:
    words = list(dict.fromkeys(WORDS)) + [f"w{i}" for i in range(n)]
    return Vocabulary(["<s>", "</s>", "<unk>", *words], [0, 5, 0, *range(len(words), 0, -1)])


def run(session, state, words):
    out, h, c = (t.numpy() for t in state)
    return session.run(None, {"out": out, "h": h, "c": c, "words": words.numpy()})


@pytest.mark.parametrize("kind, kw", [("lightrnn", {}), ("lightrnn", {"recurrence": "halfword"}), ("lstm", {})])
def test_the_step_function_is_score_next_in_onnxruntime(tmp_path, kind, kw):
    vocab = vocab_of(300)
    torch.manual_seed(0)
    model, _ = new_model(kind, len(vocab), embed_dim=16, hidden_dim=24, num_layers=2, dropout=0.0, **kw)
    for p in model.parameters():  # larger than the default init, so that a wrong term shows
        p.data.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    model.eval()
    paths = export_onnx(model, vocab, tmp_path / "lm.onnx", int8=True)
    assert [p.name for p in paths] == ["lm.onnx", "lm.int8.onnx"]
    session = ort.InferenceSession(str(paths[0]))
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for batch in (1, 7):
            state = model.initial_state(batch, vocab.bos_id)
            words = torch.randint(0, len(vocab), (batch,), generator=g)
            lp, nxt = model.score_next(state, words)
            got = run(session, state, words)
            np.testing.assert_allclose(got[0], lp.numpy(), atol=1e-4)
            for a, b in zip(got[1:], nxt):
                np.testing.assert_allclose(a, b.numpy(), atol=1e-5)
        # a sentence: step <s> from zeros, then its words and </s>
        sentence = vocab.encode("the cat sees my friend".split()) + [vocab.eos_id]
        zeros = [torch.zeros(1, 24), torch.zeros(2, 1, 24), torch.zeros(2, 1, 24)]
        state = run(session, zeros, torch.tensor([vocab.bos_id]))[1:]
        total = 0.0
        for w in sentence:
            res = run(session, [torch.from_numpy(s) for s in state], torch.tensor([w]))
            total, state = total + float(res[0][0]), res[1:]
        ref = score_sentences(model, [torch.tensor(sentence[:-1])], vocab.bos_id, vocab.eos_id)[0]
        assert total == pytest.approx(ref, abs=1e-3)
        q = ort.InferenceSession(str(paths[1]))
        state = model.initial_state(7, vocab.bos_id)
        words = torch.randint(0, len(vocab), (7,), generator=g)
        assert np.abs(run(q, state, words)[0] - model.score_next(state, words)[0].numpy()).max() < 0.5
    meta = {p.key: p.value for p in onnx.load(str(paths[0])).metadata_props}
    assert meta["vocab"].split("\n") == vocab.words and int(meta["vocab_size"]) == len(vocab)
    assert (int(meta["bos_id"]), int(meta["eos_id"]), meta["model_type"]) == (vocab.bos_id, vocab.eos_id, kind)


def test_models_a_trace_cannot_follow_are_refused(tmp_path):
    vocab = vocab_of(300)
    model, _ = new_model("adaptive", len(vocab), embed_dim=8, hidden_dim=16, num_layers=1)
    with pytest.raises(ValueError, match="adaptive model cannot be exported to ONNX"):
        export_onnx(model, vocab, tmp_path / "a.onnx")
    assert not (tmp_path / "a.onnx").exists()


def test_the_command_exports_a_checkpoint(tmp_path):
    from pathlib import Path

    from helpers import run_cli

    from lightrnn_asr.lm.checkpoint import load_checkpoint

    tiny = Path(__file__).parent / "data" / "tiny_lightrnn.pt"
    out = run_cli("export-onnx", "--model", tiny, "--out", tmp_path / "tiny.onnx", "--int8")
    assert "tiny.onnx" in out and "tiny.int8.onnx" in out
    ck = load_checkpoint(tiny)
    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"))
    with torch.no_grad():
        state = ck.model.initial_state(3, ck.vocab.bos_id)
        words = torch.tensor([3, 4, ck.vocab.eos_id])
        np.testing.assert_allclose(run(session, state, words)[0], ck.model.score_next(state, words)[0].numpy(),
                                   atol=1e-4)
