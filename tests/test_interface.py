"""A language model written against the public interface alone works in every scorer, no special case."""

from pathlib import Path

import pytest
import torch
from helpers import BigramStubLM

from lightrnn_asr import (
    FillerMap,
    LatticeRescoreConfig,
    Scales,
    Vocabulary,
    read_htk,
    read_nbest,
    score_nbest,
    score_sentences,
)
from lightrnn_asr.scoring.lattice import rescore_lattice, rescored_nbest

DATA = Path(__file__).parent / "data"
LATTICES = ("asterisk-confbridge-has-joined", "asterisk-do-not-disturb", "asterisk-queue-thankyou")


def test_a_stub_lm_scores_real_nbest_lists_exactly():
    nbest = read_nbest(DATA / "asterisk_dev_trigram.nbest")
    vocab = Vocabulary.from_sentences(h.words for hyps in nbest.values() for h in hyps)
    lm = BigramStubLM(vocab, seed=1)
    scored = score_nbest(lm, vocab, nbest)
    assert sum(len(s.words) for s in scored.values()) > 500
    for utt, s in scored.items():
        for words, got in zip(s.words, s.lm):
            assert got == pytest.approx(lm.by_hand(vocab, words), abs=1e-4)


def test_a_stub_lm_rescores_real_lattices_exactly():
    fillers = FillerMap()
    lats = {u: read_htk(DATA / f"{u}.slf") for u in LATTICES}
    vocab = Vocabulary.from_sentences([[w for w in map(fillers, lat.symbols) if w] for lat in lats.values()])
    lm = BigramStubLM(vocab, seed=2)
    scales = Scales(lm_scale=1.0)
    for utt, lat in lats.items():
        out = rescore_lattice(lat, lm, vocab, LatticeRescoreConfig(ngram_order=2, max_histories=None, scales=scales),
                              fillers, where=utt)
        hyps = rescored_nbest(out, 50, scales, fillers, vocab)
        assert len(hyps.words) > 5
        by_hand = [lm.by_hand(vocab, w) for w in hyps.words]
        assert list(hyps.lm) == pytest.approx(by_hand, abs=1e-4)
        batched = score_sentences(lm, [torch.tensor(vocab.encode(w), dtype=torch.long) for w in hyps.words])
        assert list(batched) == pytest.approx(by_hand, abs=1e-4)
