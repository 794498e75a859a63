"""Prefix-shared sentence scoring gives the scores of whole-sentence scoring, on real N-best lists."""

import copy
from pathlib import Path

import pytest
import torch

from lightrnn_asr.formats.nbest import read_nbest
from lightrnn_asr.lm import Compression, LMConfig, WordTable, build_model, compress_model
from lightrnn_asr.scoring.prefix import PrefixTree, prefix_logprobs
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.vocabulary import Vocabulary

DATA = Path(__file__).parent / "data"
#: lightrnn-osl: one step per word with an output shortlist of the 40 most frequent words (and int8)
SYSTEMS = ("lightrnn", "lightrnn-word", "lstm", "adaptive", "lightrnn-int8", "lightrnn-osl", "lightrnn-osl-int8")


def real_lists():
    nbest = {**read_nbest(DATA / "asterisk_dev_trigram.nbest"), **read_nbest(DATA / "synthetic_dev_trigram.nbest")}
    vocab = Vocabulary.from_sentences(h.words for hyps in nbest.values() for h in hyps)
    return [vocab.encode(h.words) for hyps in nbest.values() for h in hyps], vocab


def model(system, v):
    torch.manual_seed(0)
    kind = "lightrnn" if system.startswith("lightrnn") else system
    table = WordTable.random(v, torch.Generator().manual_seed(1)) if kind == "lightrnn" else None
    cfg = LMConfig(model_type=kind, vocab_size=v, n_rows=table.n_rows if table else 0,
                   n_cols=table.n_cols if table else 0, embed_dim=16, hidden_dim=24, num_layers=2, dropout=0.0,
                   recurrence="word-sum" if system in ("lightrnn-word", "lightrnn-osl", "lightrnn-osl-int8") else "halfword",
                   output_shortlist=40 if "-osl" in system else 0, col_hidden_dim=0, input_shortlist=0)
    m = build_model(cfg, table).eval()
    return compress_model(copy.deepcopy(m), Compression(0, True)) if system.endswith("-int8") else m


def test_the_tree_holds_each_distinct_prefix_once():
    tree = PrefixTree([[5, 6, 7], [5, 6, 8], [5, 9], [5, 6, 7]], eos=1)
    # root; 5; 6; 7; </s>; 8; </s>; 9; </s>  (the repeated sentence adds nothing)
    assert tree.num_nodes == 9 and tree.leaf.tolist()[0] == tree.leaf.tolist()[3]
    assert tree.depth.max() == 4 and tree.has_children[0] and not tree.has_children[tree.leaf].any()


@pytest.mark.parametrize("system", SYSTEMS)
def test_prefix_scores_equal_whole_sentence_scores_on_real_nbest_lists(system):
    sents, vocab = real_lists()
    m = model(system, len(vocab))
    whole = score_sentences(m, [torch.tensor(s, dtype=torch.long) for s in sents])
    shared = prefix_logprobs(m, sents, vocab.bos_id, vocab.eos_id)
    tree = PrefixTree(sents, vocab.eos_id)
    assert tree.num_nodes - 1 < 0.7 * sum(len(s) + 1 for s in sents)  # real lists share their prefixes
    # float32: word-at-a-time and whole-sequence kernels sum in another order (measured: <= 4.5e-5 nats);
    # dynamic int8 quantises activations with a scale per call, so other batches give other scores
    # (measured: <= 0.014 nats over these sentences of up to 40 words)
    tol = 0.02 if system.endswith("int8") else 1e-4
    assert shared == pytest.approx(whole, abs=tol)


@pytest.mark.parametrize("max_nodes", [8192, 7])
def test_nbest_scoring_gives_the_same_scores_with_or_without_the_tree(max_nodes, monkeypatch):
    from lightrnn_asr.scoring import prefix
    from lightrnn_asr.scoring.nbest import score_nbest

    nbest = read_nbest(DATA / "asterisk_dev_trigram.nbest")
    vocab = Vocabulary.from_sentences(h.words for hyps in list(nbest.values())[:25] for h in hyps)  # OOVs too
    m = model("lightrnn", len(vocab))
    original = prefix.prefix_logprobs
    monkeypatch.setattr("lightrnn_asr.scoring.nbest.prefix_logprobs",
                        lambda *a, **k: original(*a, **k, max_nodes=max_nodes))
    shared = score_nbest(m, vocab, nbest, oov_penalty=-3.0)  # the CPU default: the tree
    whole = score_nbest(m, vocab, nbest, oov_penalty=-3.0, prefix_sharing=False)
    assert list(shared) == list(whole)
    for u in nbest:
        assert shared[u].n_oov.tolist() == whole[u].n_oov.tolist() and shared[u].n_oov.sum() >= 0
        assert shared[u].lm == pytest.approx(whole[u].lm, abs=1e-4)
    assert sum(s.n_oov.sum() for s in whole.values()) > 0
