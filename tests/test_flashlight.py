"""A LightRNN in flashlight-text's lexicon CTC decoder (torchaudio's ctc_decoder underneath): its scores are
the LM's, each state's next-word distribution is computed once however many words the lexicon asks for,
and on emissions where the acoustics alone pick the wrong word the LM picks the one that fits the context."""

import numpy as np
import pytest
import torch
from flashlight.lib.text.decoder import (
    CriterionType,
    LexiconDecoder,
    LexiconDecoderOptions,
    SmearingMode,
    Trie,
    ZeroLM,
)
from helpers import train_toy_lightrnn

from lightrnn_asr.decoders.flashlight_lm import FlashlightLM, smearing_scores, word_dictionary
from lightrnn_asr.scoring.sentences import score_sentences

TOKENS = ["-", "|", *"abcdefghijklmnopqrstuvwxyz", "'"]  # blank, word boundary (silence), letters


@pytest.fixture(scope="module")
def lightrnn(tmp_path_factory):
    """A small LightRNN trained on the toy grammar ("the cat sees the ball today", ...)."""
    return train_toy_lightrnn(tmp_path_factory.mktemp("flashlight"))


def decoder(lm, vocab, lm_weight):
    """flashlight's LexiconDecoder over the vocabulary's words spelled in letters, as torchaudio builds it."""
    words = word_dictionary(vocab)
    trie = Trie(len(TOKENS), TOKENS.index("|"))
    unigram = smearing_scores(vocab)
    for i, w in enumerate(words[3:], 3):
        trie.insert([TOKENS.index(c) for c in w] + [TOKENS.index("|")], i, unigram[i])
    trie.smear(SmearingMode.MAX)
    opts = LexiconDecoderOptions(beam_size=20, beam_size_token=len(TOKENS), beam_threshold=50.0, lm_weight=lm_weight,
                                 word_score=0.0, unk_score=float("-inf"), sil_score=0.0, log_add=False,
                                 criterion_type=CriterionType.CTC)
    dec = LexiconDecoder(opts, trie, lm, TOKENS.index("|"), TOKENS.index("-"), vocab.unk_id, [], False)
    return (dec, lm, trie), words  # the decoder holds the LM and trie in C++ only: they must outlive it


def emissions(spelled) -> torch.Tensor:
    """CTC log-probabilities ``(T, len(TOKENS))`` float32: per character a frame with the given character
    probabilities (the rest spread over the other tokens) and a blank frame; a boundary frame after each word."""
    def frame(probs):
        p = np.full(len(TOKENS), (1.0 - sum(probs.values())) / (len(TOKENS) - len(probs)))
        for c, v in probs.items():
            p[TOKENS.index(c)] = v
        return np.log(p)

    frames = []
    for word in spelled:
        for chars in word:
            frames += [frame(chars), frame({"-": 0.98})]
        frames.append(frame({"|": 0.98}))
    return torch.from_numpy(np.stack(frames).astype(np.float32)).contiguous()


def clear(word):
    return [{c: 0.98} for c in word]


def confused(right, wrong):
    return [{r: 0.98} if r == w else {w: 0.52, r: 0.46} for r, w in zip(right, wrong)]


def best_words(dec, words, em):
    result = dec[0].decode(em.data_ptr(), em.shape[0], em.shape[1])[0]
    return [words[i] for i in result.words if i >= 0]


def test_scores_are_the_lms_and_a_state_is_scored_once(lightrnn):
    lm = FlashlightLM(lightrnn.model, lightrnn.vocab)
    state, total = lm.start(False), 0.0
    ids = lightrnn.vocab.encode("the cat sees the ball".split())
    for w in ids:
        state, s = lm.score(state, w)
        total += s
    total += lm.finish(state)[1]
    with torch.no_grad():
        ref = score_sentences(lightrnn.model, [torch.tensor(ids)], lightrnn.vocab.bos_id, lightrnn.vocab.eos_id)[0]
    assert total == pytest.approx(ref, abs=1e-4)
    start = lm.start(False)
    before = lm.distributions
    first = [lm.score(start, w)[1] for w in range(3, len(lightrnn.vocab))]
    assert lm.distributions == before + 1  # every word from one state: one distribution
    assert lm.score(start, ids[0])[0] is lm.score(start, ids[0])[0]  # the same child state
    assert first == [lm.score(start, w)[1] for w in range(3, len(lightrnn.vocab))]


def test_the_lm_settles_what_the_acoustics_cannot(lightrnn):
    em = emissions([clear("the"), clear("cat"), confused("sees", "tree"), clear("the"), clear("ball")])
    plain, words = decoder(ZeroLM(), lightrnn.vocab, 0.0)
    assert best_words(plain, words, em) == "the cat tree the ball".split()
    fused, words = decoder(FlashlightLM(lightrnn.model, lightrnn.vocab), lightrnn.vocab, 1.0)
    assert best_words(fused, words, em) == "the cat sees the ball".split()


@pytest.mark.parametrize("kind, kw", [("lightrnn", {}), ("lightrnn", {"output_shortlist": 0}),
                                      ("lightrnn", {"word_bias": True}), ("lstm", {}), ("adaptive", {})])
def test_the_full_distribution_is_score_words_over_every_word(kind, kw):
    from lightrnn_asr.lm.build import new_model

    torch.manual_seed(0)
    model, _ = new_model(kind, 400, embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0, **kw)
    for p in model.parameters():
        p.data.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        _, state = model.score_next(model.initial_state(3, 0), torch.tensor([5, 50, 390]))
        full = model.next_word_logprobs(state)  # (3, 400)
        words = torch.arange(400)
        for i in range(3):
            each, _ = model.score_words(model.select_state(state, torch.full((400,), i)), words)
            torch.testing.assert_close(full[i], each, atol=1e-5, rtol=0)
        assert torch.allclose(full.exp().sum(1), torch.ones(3), atol=1e-4)


def test_a_child_state_is_stepped_only_when_scored_from(lightrnn):
    lm = FlashlightLM(lightrnn.model, lightrnn.vocab)
    start = lm.start(False)
    children = [lm.score(start, w)[0] for w in range(3, len(lightrnn.vocab))]
    assert lm.steps == 0 and lm.distributions == 1
    lm.score(children[0], lightrnn.vocab.eos_id)
    assert lm.steps == 1 and lm.distributions == 2


def test_memory_is_one_utterances_when_one_lm_decodes_many(lightrnn):
    """The decoder calls start() per utterance: the states of the utterance before are dropped, and the
    results are those of a fresh LM."""
    lm = FlashlightLM(lightrnn.model, lightrnn.vocab)
    fused, words = decoder(lm, lightrnn.vocab, 1.0)
    em = emissions([clear("the"), clear("cat"), confused("sees", "tree"), clear("the"), clear("ball")])
    first = best_words(fused, words, em)
    after_one = len(lm.states)
    for _ in range(3):
        assert best_words(fused, words, em) == first == "the cat sees the ball".split()
    assert len(lm.states) < 2 * after_one  # not growing with the utterances decoded


def test_a_name_given_to_the_lightrnn_with_add_words_is_written(lightrnn):
    from lightrnn_asr.training.openvocab import add_words

    em = emissions([clear("the"), clear("cat"), clear("calls"), clear("her"), clear("bella")])
    before, words = decoder(FlashlightLM(lightrnn.model, lightrnn.vocab), lightrnn.vocab, 1.0)
    assert "bella" not in best_words(before, words, em)  # not in the lexicon: it cannot be written
    model, vocab, _, _ = add_words(lightrnn.model, lightrnn.vocab, lightrnn.table, ["bella"], like={"bella": "sister"},
                                   like_placement="copy-row")
    after, words = decoder(FlashlightLM(model, vocab), vocab, 1.0)
    assert best_words(after, words, em) == "the cat calls her bella".split()
