"""A LightRNN in pyctcdecode's CTC beam search (word-level shallow fusion): its scores are the LM's,
reused states change nothing, and on emissions where the acoustics alone pick the wrong word the LM
picks the one that fits the context, and a name added with add-words (and passed as a hotword) wins
over a sound-alike.

pyctcdecode pins numpy < 2, so these tests run in ``make test-k2``'s environment, where they must
(``LIGHTRNN_ASR_REQUIRE_K2=1``); in the main environment they are skipped."""

import math
import os

import numpy as np
import pytest
import torch
from helpers import train_toy_lightrnn

from lightrnn_asr.scoring.sentences import score_sentences

try:
    from lightrnn_asr.decoders.pyctcdecode_lm import PyctcdecodeLM, build_pyctcdecoder
except ImportError as e:  # pyctcdecode absent
    if os.environ.get("LIGHTRNN_ASR_REQUIRE_K2") == "1":
        pytest.fail(f"LIGHTRNN_ASR_REQUIRE_K2=1 but pyctcdecode does not import: {e}", pytrace=False)
    pytest.skip("pyctcdecode pins numpy < 2: these tests run in make test-k2's environment", allow_module_level=True)

LABELS = ["", " ", *"abcdefghijklmnopqrstuvwxyz", "'"]


@pytest.fixture(scope="module")
def lightrnn(tmp_path_factory):
    """A small LightRNN trained on the toy grammar ("the cat sees the ball today", ...)."""
    return train_toy_lightrnn(tmp_path_factory.mktemp("ctc"))


def emissions(spelled: list[list[dict[str, float]]]) -> np.ndarray:
    """CTC log-probabilities ``(T, len(LABELS))`` float32: per word, per character a frame with the given
    character probabilities (the rest spread over the other labels) and a blank frame; a space frame
    between words."""
    frames = []

    def frame(probs: dict[str, float]) -> np.ndarray:
        p = np.full(len(LABELS), (1.0 - sum(probs.values())) / (len(LABELS) - len(probs)))
        for c, v in probs.items():
            p[LABELS.index(c)] = v
        return np.log(p)

    for i, word in enumerate(spelled):
        if i:
            frames.append(frame({" ": 0.98}))
        for chars in word:
            frames += [frame(chars), frame({"": 0.98})]
    return np.stack(frames).astype(np.float32)


def clear(word: str) -> list[dict[str, float]]:
    return [{c: 0.98} for c in word]


def confused(right: str, wrong: str) -> list[dict[str, float]]:
    """Each character slightly more like ``wrong``'s than ``right``'s (same length)."""
    return [{r: 0.98} if r == w else {w: 0.52, r: 0.46} for r, w in zip(right, wrong)]


def test_scores_are_the_lms_and_reused_states_change_nothing(lightrnn):
    lm = PyctcdecodeLM(lightrnn.model, lightrnn.vocab, alpha=0.7, beta=0.3)
    start = lm.get_start_state()
    words = "the cat sees the ball".split()
    state, total = start, 0.0
    for i, w in enumerate(words):
        s, state = lm.score(state, w, is_last_word=i == len(words) - 1)
        total += (s - 0.3) / 0.7
    ids = torch.tensor(lightrnn.vocab.encode(words))
    with torch.no_grad():
        ref = score_sentences(lightrnn.model, [ids], lightrnn.vocab.bos_id, lightrnn.vocab.eos_id)[0]
    assert total == pytest.approx(ref, abs=1e-4)  # log P(the cat sees the ball </s>), nats
    again, _ = lm.score(start, "the")
    first, _ = lm.score(start, "the")
    assert again == first
    oov, _ = lm.score(start, "zebra")
    with torch.no_grad():
        unk = lightrnn.model.score_next(start.lm_state, torch.tensor([lightrnn.vocab.unk_id]))[0].item()
    assert oov == pytest.approx(0.7 * (unk - 10.0 * math.log(10)) + 0.3, abs=1e-4)
    assert lm.score_partial_token("the") == 0.0 and lm.score_partial_token("xq") == -10.0
    assert lm.score_partial_token("xqxqxqxqxqxq") == pytest.approx(-20.0)


def test_the_lm_settles_what_the_acoustics_cannot(lightrnn):
    # "the cat sees the ball": the verb's letters lean to "tree" (a word of the text, but not after "the cat")
    logits = emissions([clear("the"), clear("cat"), confused("sees", "tree"), clear("the"), clear("ball")])
    plain, _ = build_pyctcdecoder(LABELS, lightrnn.model, lightrnn.vocab, alpha=0.0, beta=0.0)
    assert plain.decode(logits, beam_width=20) == "the cat tree the ball"
    fused, _ = build_pyctcdecoder(LABELS, lightrnn.model, lightrnn.vocab, alpha=1.0, beta=0.0)
    assert fused.decode(logits, beam_width=20) == "the cat sees the ball"


def test_an_added_name_wins_over_a_sound_alike(lightrnn):
    # "the cat calls bella": the name's letters lean to "belle" (in neither the text nor the contact list)
    logits = emissions([clear("the"), clear("cat"), clear("calls"), confused("bella", "belle")])
    plain, _ = build_pyctcdecoder(LABELS, lightrnn.model, lightrnn.vocab, lightrnn.table, alpha=1.0, beta=0.0)
    assert plain.decode(logits, beam_width=20).split()[-1] != "bella"
    decoder, hotwords = build_pyctcdecoder(LABELS, lightrnn.model, lightrnn.vocab, lightrnn.table,
                                           names=["bella"], like={"bella": "sister"}, alpha=1.0, beta=0.0)
    assert hotwords == ["bella"]
    assert decoder.decode(logits, beam_width=20, hotwords=hotwords) == "the cat calls bella"
    with pytest.raises(ValueError, match="LightRNN"):
        build_pyctcdecoder(LABELS, lightrnn.model, lightrnn.vocab, None, names=["bella"])
