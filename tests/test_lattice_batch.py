"""Several lattices expanded in lockstep (rescore_lattice_batch, rescore_lattices' lattice_batch): the
same rescored lattices as one at a time, with fewer LM calls."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from lightrnn_asr.formats.lattice import FillerMap, LatticeFormatError, read_htk
from lightrnn_asr.lm.build import new_model
from lightrnn_asr.scoring import lm_store
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, rescore_lattice, rescore_lattice_batch, rescore_lattices
from lightrnn_asr.scoring.nbest import Scales
from lightrnn_asr.text.vocabulary import Vocabulary

DATA = Path(__file__).parent / "data"
LATTICES = ["asterisk-queue-thankyou", "asterisk-do-not-disturb", "asterisk-confbridge-has-joined"]


@pytest.fixture(scope="module")
def real():
    lats = [(u, read_htk(DATA / f"{u}.slf")) for u in LATTICES]
    words = sorted({w for _, lat in lats for w in map(FillerMap(), lat.symbols) if w})
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *words[: len(words) - 5]], [0, 1, 0] + [1] * (len(words) - 5))
    return lats, vocab  # the last 5 words are out of the vocabulary: <unk> arcs too


def same(a, b):
    assert (a.num_states, a.num_arcs, a.symbols, a.start, a.final) == (b.num_states, b.num_arcs, b.symbols, b.start, b.final)
    assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst)
    np.testing.assert_allclose(a.am, b.am)
    np.testing.assert_allclose(a.lm, b.lm, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_type,recurrence", [("lightrnn", "word-sum"), ("lightrnn", "halfword"), ("lstm", "halfword"),
                                                   ("adaptive", "halfword")])
@pytest.mark.parametrize("global_beam", [float("inf"), 6.0])
def test_lockstep_equals_one_at_a_time_on_real_lattices(real, model_type, recurrence, global_beam, monkeypatch):
    lats, vocab = real
    torch.manual_seed(0)
    model, _ = new_model(model_type, len(vocab), embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0,
                         recurrence=recurrence, col_hidden_dim=0, input_shortlist=0, output_shortlist=0)
    model.eval()
    cfg = LatticeRescoreConfig(ngram_order=3, max_histories=4, scales=Scales(lm_scale=1.0), global_beam=global_beam,
                               oov_penalty=-2.0)
    calls = []
    real_step = lm_store.LMStore._step
    monkeypatch.setattr(lm_store.LMStore, "_step", lambda self, *a: calls.append(len(a[1])) or real_step(self, *a))
    alone = [rescore_lattice(lat, model, vocab, cfg, where=u) for u, lat in lats]
    calls_alone, calls[:] = len(calls), []
    together = rescore_lattice_batch(lats, model, vocab, cfg)
    for a, b in zip(alone, together):
        same(a, b)
    assert len(calls) < calls_alone  # one LM call serves several lattices
    assert max(calls) > 0


def test_rescore_lattices_batches_give_the_same_nbest(real):
    lats, vocab = real
    torch.manual_seed(0)
    model, _ = new_model("lightrnn", len(vocab), embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0,
                         recurrence="word-sum", col_hidden_dim=0, input_shortlist=0, output_shortlist=0)
    cfg = LatticeRescoreConfig(ngram_order=3, max_histories=4, scales=Scales(lm_scale=1.0))
    sunk = []
    one = rescore_lattices(dict(lats), model, vocab, dataclasses.replace(cfg, lattice_batch=1), n=20)
    two = rescore_lattices(iter(lats), model, vocab, dataclasses.replace(cfg, lattice_batch=2), n=20,
                           sink=lambda u, lat: sunk.append(u))
    assert sunk == LATTICES and list(two) == LATTICES
    for u in LATTICES:
        assert one[u].words == two[u].words
        np.testing.assert_allclose(one[u].lm, two[u].lm, atol=1e-4)
    with pytest.raises(ValueError, match="lattice_batch"):
        LatticeRescoreConfig(lattice_batch=0)


def test_a_bad_lattice_in_a_batch_is_named(real):
    lats, vocab = real
    name, lat = lats[1]
    cyclic = lat.__class__(**{**lat.__dict__, "dst": np.where(np.arange(lat.num_arcs) == 0, lat.start, lat.dst)})
    model, _ = new_model("lstm", len(vocab), embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0)
    with pytest.raises(LatticeFormatError, match=f"^{name}"):
        rescore_lattice_batch([lats[0], (name, cyclic), lats[2]], model, vocab)
