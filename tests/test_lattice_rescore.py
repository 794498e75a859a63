import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lightrnn_asr.formats.lattice import FillerMap, Lattice, LatticeFormatError, read_htk
from lightrnn_asr.formats.lattice_paths import lattice_nbest
from lightrnn_asr.lm import LSTMLM, LanguageModel, LightRNN, LMConfig, build_model
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, rescore_lattice, rescored_nbest
from lightrnn_asr.scoring.nbest import Scales
from lightrnn_asr.text.vocabulary import Vocabulary

DATA = Path(__file__).parent / "data"
WORDS = ["a", "b", "c", "d"]
VOCAB = Vocabulary(["<s>", "</s>", "<unk>", *WORDS], [0, 1, 0, 1, 1, 1, 1])


class BigramLM(LanguageModel):
    """A stub LM with a known bigram table: ``score_next`` returns ``table[prev, word]``."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table, requires_grad=False)

    def initial_state(self, n, bos_id=0):
        return (torch.full((n, 1), float(bos_id)),)

    def score_next(self, state, words):
        prev = state[0][:, 0].long()
        return self.table[prev, words], (words[:, None].float(),)


def bigram_table(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(len(VOCAB), len(VOCAB), generator=g), dim=1)


def lattice(arcs, n_states, final=None):
    """A lattice from ``(src, dst, symbol, am)`` tuples."""
    src, dst, sym, am = zip(*arcs)
    return Lattice(num_states=n_states, start=0, final=n_states - 1 if final is None else final, src=np.array(src),
                   dst=np.array(dst), symbols=list(sym), am=np.array(am, dtype=np.float64), fp_lm=np.zeros(len(arcs)),
                   times=np.full(n_states, np.nan))


# 0 -a- 1 -c- 3 -d- 4 -</s>(filler)- 5
# 0 -b- 2 -c- 3          (two histories meet at 3: "a c" and "b c")
# 1 -<sil>- 2            (so "a <sil> c" is a third path, the same words as ... no: "a c")
# 2 -d- 4
DIAMOND = [(0, 1, "a", -1.0), (0, 2, "b", -2.0), (1, 3, "c", -1.5), (2, 3, "c", -0.5), (1, 2, "<sil>", -0.25),
           (3, 4, "d", -1.0), (2, 4, "d", -3.0), (4, 5, "</s>", 0.0)]


def paths(lat, fillers=FillerMap()):
    """Every start-final path as (words, am)."""
    out = {s: [] for s in range(lat.num_states)}
    for a in range(lat.num_arcs):
        out[int(lat.src[a])].append(a)

    def walk(s):
        if s == lat.final:
            yield (), 0.0
        for a in out[s]:
            w = fillers(lat.symbols[a])
            for rest, am in walk(int(lat.dst[a])):
                yield ((w,) if w else ()) + rest, lat.am[a] + am

    return list(walk(lat.start))


def sentence_lp(table, words):
    seq = [VOCAB.bos_id, *VOCAB.encode(words), VOCAB.eos_id]
    return float(sum(table[p, w] for p, w in zip(seq[:-1], seq[1:])))


def test_bigram_scores_by_hand_and_best_path():
    table = bigram_table()
    lat = lattice(DIAMOND, 6)
    scales = Scales(lm_scale=2.0, word_penalty=-0.5)
    cfg = LatticeRescoreConfig(ngram_order=2, max_histories=None, scales=scales)
    out = rescore_lattice(lat, BigramLM(table), VOCAB, cfg)
    # a bigram LM with order-2 merging is exact: every hypothesis scores sum of table entries
    expected = {}
    for words, am in paths(lat):
        lm = sentence_lp(table, words)
        best = expected.get(words)
        if best is None or am > best[0]:
            expected[words] = (am, lm)
    hyps = rescored_nbest(out, 10, scales)
    assert sorted(hyps.words) == sorted(expected)
    for w, am, lm in zip(hyps.words, hyps.am, hyps.lm):
        assert (am, lm) == pytest.approx(expected[w])
    totals = {w: am + 2.0 * lm - 0.5 * len(w) for w, (am, lm) in expected.items()}
    assert hyps.words[0] == max(totals, key=totals.get)  # best first
    # merging by the last word: one rescored state per (lattice state, previous word)
    assert out.num_states < sum(1 for _ in paths(lat)) * 4


@pytest.mark.parametrize("model_type", ["lightrnn", "lstm", "lightrnn-word", "lightrnn-osl"])
def test_without_merging_lattice_rescoring_equals_exhaustive_enumeration(model_type):
    torch.manual_seed(0)
    v = len(VOCAB)
    if model_type.startswith("lightrnn"):
        table = WordTable.random(v, torch.Generator().manual_seed(1))
        recurrence = "halfword" if model_type == "lightrnn" else "word-sum"
        model = build_model(LMConfig(model_type="lightrnn", vocab_size=v, n_rows=table.n_rows, n_cols=table.n_cols,
                                     embed_dim=8, hidden_dim=12, num_layers=2, dropout=0.0, recurrence=recurrence,
                                     output_shortlist=5 if model_type == "lightrnn-osl" else 0, col_hidden_dim=0,
                                     input_shortlist=0), table)
    else:
        model = LSTMLM(LMConfig(model_type="lstm", vocab_size=v, n_rows=0, n_cols=0, embed_dim=8, hidden_dim=12,
                                num_layers=2, dropout=0.0))
    lat = lattice(DIAMOND + [(3, 4, "zzz", -0.75)], 6)  # an out-of-vocabulary word too
    scales = Scales(lm_scale=1.0, word_penalty=0.3)
    cfg = LatticeRescoreConfig(ngram_order=None, max_histories=None, scales=scales, oov_penalty=-4.0)
    out = rescore_lattice(lat, model, VOCAB, cfg)
    hyps = rescored_nbest(out, 100, scales, vocab=VOCAB)
    seqs = {}
    for words, am in paths(lat):
        seqs[words] = max(am, seqs.get(words, -math.inf))
    assert sorted(hyps.words) == sorted(seqs)
    ids = [torch.tensor([VOCAB.bos_id, *VOCAB.encode(w), VOCAB.eos_id]) for w in hyps.words]
    for w, am, lm, x, n_oov in zip(hyps.words, hyps.am, hyps.lm, ids, hyps.n_oov):
        with torch.no_grad():
            exact = float(model.sentence_logprobs(x[None, :-1], x[None, 1:], torch.ones(1, len(x) - 1, dtype=torch.bool)))
        assert n_oov == w.count("zzz")
        assert lm == pytest.approx(exact - 4.0 * n_oov, abs=1e-4)
        assert am == pytest.approx(seqs[w])
    totals = hyps.am + hyps.lm + 0.3 * hyps.n_words
    assert list(totals) == sorted(totals, reverse=True)


def test_merging_keeps_the_best_history_and_pruning_caps_histories():
    table = bigram_table(1)
    lat = lattice(DIAMOND, 6)
    full = rescore_lattice(lat, BigramLM(table), VOCAB, LatticeRescoreConfig(ngram_order=None, max_histories=None))
    one = rescore_lattice(lat, BigramLM(table), VOCAB, LatticeRescoreConfig(ngram_order=None, max_histories=1))
    # one history per lattice state: the rescored lattice has the input's shape plus the </s> state
    assert one.num_states <= lat.num_states + 1 < full.num_states
    s = Scales(lm_scale=10.0)
    best_full = rescored_nbest(full, 1, s)
    assert rescored_nbest(one, 1, s).words[0] == best_full.words[0]  # the best path survives


def test_cycles_and_unreachable_finals_are_errors():
    table = bigram_table()
    cyc = lattice([(0, 1, "a", 0.0), (1, 2, "b", 0.0), (2, 1, "c", 0.0), (2, 3, "d", 0.0)], 4)
    with pytest.raises(LatticeFormatError, match="x.slf: the lattice has a cycle"):
        rescore_lattice(cyc, BigramLM(table), VOCAB, where="x.slf")
    dead = lattice([(0, 1, "a", 0.0), (2, 3, "b", 0.0)], 4)
    with pytest.raises(LatticeFormatError, match="y.slf: no path from the start state 0 to the final state 3"):
        rescore_lattice(dead, BigramLM(table), VOCAB, where="y.slf")
    with pytest.raises(ValueError, match="ngram_order"):
        LatticeRescoreConfig(ngram_order=0)


def test_first_pass_ngram_is_scored_on_the_same_histories():
    table = bigram_table(2)
    calls = []

    def trigram(history, word):
        calls.append(history)
        return -1.0 - 0.1 * len(history)

    lat = lattice(DIAMOND, 6)
    out = rescore_lattice(lat, BigramLM(table), VOCAB, LatticeRescoreConfig(ngram_order=3), fp_lm=trigram)
    assert all(1 <= len(h) <= 2 and (h[0] == "<s>" or len(h) == 2) for h in calls)
    hyps = rescored_nbest(out, 10, Scales(lm_scale=1.0))
    for w, fp in zip(hyps.words, hyps.fp_lm):
        seq = ("<s>", *w, "</s>")
        assert fp == pytest.approx(sum(-1.0 - 0.1 * min(i, 2) for i in range(1, len(seq))))


def test_real_pocketsphinx_lattice_rescoring_runs_and_keeps_acoustic_scores():
    lat = read_htk(DATA / "asterisk-queue-thankyou.slf")
    words = sorted({w for w in map(FillerMap(), lat.symbols) if w})
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *words], [0, 1, 0] + [1] * len(words))
    torch.manual_seed(0)
    table = WordTable.random(len(vocab), torch.Generator().manual_seed(0))
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0, recurrence="halfword"), table)
    cfg = LatticeRescoreConfig(ngram_order=3, max_histories=4, scales=Scales(lm_scale=1.0))
    out = rescore_lattice(lat, model, vocab, cfg)
    hyps = rescored_nbest(out, 20, Scales(lm_scale=1.0))
    assert len(set(hyps.words)) == len(hyps.words) > 1
    # a hypothesis's acoustic score is that of a real path of the input lattice with its words
    best_am = {}
    src = read_htk(DATA / "asterisk-queue-thankyou.slf")

    for h in lattice_nbest(src, 500):
        best_am.setdefault(h.words, h.am)
    for w, am in zip(hyps.words, hyps.am):
        if w in best_am:
            assert am <= best_am[w] + 1e-3  # kaldifst weights are float32


def test_rescored_lattice_round_trips_through_htk(tmp_path):
    from lightrnn_asr.formats.lattice import write_htk

    src = read_htk(DATA / "asterisk-queue-thankyou.slf")
    write_htk(tmp_path / "copy.slf", src)
    back = read_htk(tmp_path / "copy.slf")
    assert back.symbols == src.symbols and back.lm is None  # as read: l= is the first pass
    for name in ("am", "fp_lm"):
        np.testing.assert_allclose(getattr(back, name), getattr(src, name), rtol=1e-7)
    lat = lattice(DIAMOND, 6)
    out = rescore_lattice(lat, BigramLM(bigram_table()), VOCAB, fp_lm=lambda h, w: -0.5 * len(h))
    write_htk(tmp_path / "r.slf", out, utterance="u1")
    again = read_htk(tmp_path / "r.slf")
    assert (again.num_states, again.start, again.final, again.symbols) == (out.num_states, out.start, out.final,
                                                                           out.symbols)
    for name in ("src", "dst"):
        np.testing.assert_array_equal(getattr(again, name), getattr(out, name))
    for name in ("am", "lm", "fp_lm"):
        np.testing.assert_allclose(getattr(again, name), getattr(out, name), rtol=1e-7, atol=1e-9)
    s = Scales(lm_scale=3.0)
    assert rescored_nbest(again, 5, s).words == rescored_nbest(out, 5, s).words


class TrigramLM(BigramLM):
    """A stub LM scoring ``table[prev2, prev, word]``: its state remembers two words."""

    def initial_state(self, n, bos_id=0):
        return (torch.full((n, 2), float(bos_id)),)

    def score_next(self, state, words):
        pp, p = state[0][:, 0].long(), state[0][:, 1].long()
        return self.table[pp, p, words], (torch.stack([p.float(), words.float()], 1),)


def test_a_merged_state_keeps_the_lm_state_of_its_best_incoming_path():
    v = len(VOCAB)
    g = torch.Generator().manual_seed(5)
    table = torch.log_softmax(torch.randn(v, v, v, generator=g) * 3, dim=2)
    lat = lattice(DIAMOND, 6)
    lat.times = np.arange(6, dtype=np.float64)  # to find the lattice state of a rescored state
    cfg = LatticeRescoreConfig(ngram_order=2, max_histories=None, scales=Scales(lm_scale=1.0))
    out = rescore_lattice(lat, TrigramLM(table), VOCAB, cfg)
    # the paths into lattice state 3 all end in "c": merged into one state
    ids = {w: VOCAB.id(w) for w in WORDS}
    into_3 = [(("a", "c"), -2.5), (("b", "c"), -2.5), (("a", "c"), -1.75)]  # a-c, b-c, a-<sil>-c

    def lm(words):
        seq = [VOCAB.bos_id, VOCAB.bos_id, *(ids[w] for w in words)]
        return float(sum(table[seq[i - 2], seq[i - 1], seq[i]] for i in range(2, len(seq))))

    best_first = max(into_3, key=lambda p: p[1] + lm(p[0]))[0][0]
    d_arcs = [k for k in range(out.num_arcs) if out.symbols[k] == "d" and out.times[out.src[k]] == 3]
    assert len(d_arcs) == 1
    assert out.lm[d_arcs[0]] == pytest.approx(float(table[ids[best_first], ids["c"], ids["d"]]))
    other = "b" if best_first == "a" else "a"
    assert out.lm[d_arcs[0]] != pytest.approx(float(table[ids[other], ids["c"], ids["d"]]))


def test_distinct_oov_words_get_their_own_ngram_scores():
    """Two out-of-vocabulary words from one state share the LM step (both are <unk>) but not the n-gram."""
    table = bigram_table(3)
    lat = lattice(DIAMOND + [(3, 4, "zzz", -1.0), (3, 4, "yyy", -1.0)], 6)
    unigram = {"zzz": -9.0, "yyy": -2.0}

    def fp(history, word):
        return unigram.get(word, -1.0)

    calls = []
    model = BigramLM(table)
    score_next = model.score_next
    model.score_next = lambda state, words: calls.append(len(words)) or score_next(state, words)
    out = rescore_lattice(lat, model, VOCAB, LatticeRescoreConfig(ngram_order=None, max_histories=None), fp_lm=fp)
    hyps = rescored_nbest(out, 100, Scales(lm_scale=1.0))
    assert {w[-1] for w in hyps.words} >= {"zzz", "yyy"}
    for w, f in zip(hyps.words, hyps.fp_lm):
        assert f == pytest.approx(sum(unigram.get(x, -1.0) for x in (*w, "</s>")))
    # one LM step per (rescored state, word id): zzz and yyy out of one state share a row
    fillers = FillerMap()
    word_arcs = [(int(s), VOCAB.id(fillers(w))) for s, w in zip(out.src, out.symbols) if fillers(w)]
    to_final = int((out.dst == out.final).sum())
    assert sum(calls) == len(set(word_arcs)) + to_final < len(word_arcs) + to_final


def test_input_lm_scores_become_the_first_pass_term():
    """Kaldi-style: the input's own graph scores, filler arcs included, are kept as fp_lm."""
    lat = lattice([(0, 1, "a", -1.0), (0, 1, "b", -1.5), (1, 2, "c", -0.5), (1, 2, "<sil>", -0.75),
                   (2, 3, "</s>", 0.0)], 4)
    lat.fp_lm = np.array([-1.0, -2.0, -0.5, -0.25, -0.125])
    cfg = LatticeRescoreConfig(ngram_order=None, max_histories=None, input_lm=True)
    out = rescore_lattice(lat, BigramLM(bigram_table(4)), VOCAB, cfg)
    hyps = rescored_nbest(out, 10, Scales(lm_scale=1.0, fp_lm_scale=2.0))
    expected = {("a", "c"): -1.625, ("a",): -1.375, ("b", "c"): -2.625, ("b",): -2.375}
    assert dict(zip(hyps.words, hyps.fp_lm)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="either an fp_lm function or config.input_lm"):
        rescore_lattice(lat, BigramLM(bigram_table(4)), VOCAB, cfg, fp_lm=lambda h, w: 0.0)


def test_combine_scores_puts_the_tuned_combination_on_word_arcs():
    from lightrnn_asr.scoring.lattice import combine_scores

    lat = lattice([(0, 1, "a", -1.0), (1, 2, "<sil>", -0.5), (2, 3, "</s>", 0.0)], 4)
    lat.lm, lat.fp_lm = np.array([-2.0, 0.0, -1.0]), np.array([-3.0, 0.0, -0.5])
    out = combine_scores(lat, Scales(lm_scale=2.0, word_penalty=-0.25, fp_lm_scale=0.5))
    assert out.fp_lm.tolist() == [-4.0 - 1.5 - 0.25, 0.0, -2.0 - 0.25] and out.lm is None  # the next pass's input
    assert out.am.tolist() == lat.am.tolist()


def test_lm_batches_that_run_out_of_memory_are_split_with_the_same_result(caplog):
    lat = read_htk(DATA / "asterisk-queue-thankyou.slf")
    words = sorted({w for w in map(FillerMap(), lat.symbols) if w})
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *words], [0, 1, 0] + [1] * len(words))
    table = WordTable.random(len(vocab), torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.0, recurrence="halfword"), table).eval()
    cfg = LatticeRescoreConfig(ngram_order=3, max_histories=4, scales=Scales(lm_scale=1.0))
    expected = rescore_lattice(lat, model, vocab, cfg)
    oom = getattr(torch.cuda, "OutOfMemoryError", RuntimeError)

    def small(fn):  # a device that holds 3 LM rows at a time
        def wrapped(state, ids):
            if len(ids) > 3:
                raise oom("CUDA out of memory. Tried to allocate 1.00 GiB")
            return fn(state, ids)
        return wrapped

    model.score_words, model.advance = small(model.score_words), small(model.advance)
    with caplog.at_level("WARNING"):
        got = rescore_lattice(lat, model, vocab, cfg, where="thankyou.slf")
    assert "thankyou.slf: out of memory" in caplog.text
    assert (got.num_states, got.num_arcs, got.symbols) == (expected.num_states, expected.num_arcs, expected.symbols)
    np.testing.assert_allclose(got.lm, expected.lm, rtol=1e-5, atol=1e-5)
    model.score_words = lambda state, ids: (_ for _ in ()).throw(oom("CUDA out of memory."))
    with pytest.raises(MemoryError, match="thankyou.slf: one LM step does not fit"):
        rescore_lattice(lat, model, vocab, cfg, where="thankyou.slf")


def test_every_score_keeps_its_meaning_through_rescoring_and_writing(tmp_path):
    """A lattice as read has fp_lm and no lm; rescoring adds lm; a rescored lattice is refused where
    one LM field could not hold both (rescoring it again, Kaldi/OpenFst writers) until
    combine_scores makes it the input of a next pass."""
    from lightrnn_asr.formats.kaldi_lattice import read_kaldi_lattices, write_kaldi_lattices
    from lightrnn_asr.scoring.lattice import combine_scores

    src = read_htk(DATA / "asterisk-queue-thankyou.slf")
    assert src.lm is None and src.fp_lm is not None
    lat = lattice(DIAMOND, 6)
    out = rescore_lattice(lat, BigramLM(bigram_table()), VOCAB)
    assert out.lm is not None and out.fp_lm is not None
    with pytest.raises(ValueError, match="rescored already"):
        rescore_lattice(out, BigramLM(bigram_table()), VOCAB)
    with pytest.raises(ValueError, match="combine_scores"):
        write_kaldi_lattices(tmp_path / "x.txt", {"u": out})
    with pytest.raises(ValueError, match="rescore it first"):
        rescored_nbest(lat, 3, Scales(lm_scale=1.0))
    scales = Scales(lm_scale=2.0, word_penalty=-0.5)
    write_kaldi_lattices(tmp_path / "x.txt", {"u": combine_scores(out, scales)})
    back = read_kaldi_lattices(tmp_path / "x.txt")["u"]
    assert back.lm is None and rescore_lattice(back, BigramLM(bigram_table()), VOCAB).lm is not None
    # the next pass's input ranks paths as the rescored lattice did
    best = rescored_nbest(out, 1, scales).words[0]
    assert lattice_nbest(back, 1)[0].words == best


def test_htk_n_field_on_some_links_only_is_refused(tmp_path):
    text = (DATA / "asterisk-queue-thankyou.slf").read_text().splitlines()
    k = next(i for i, line in enumerate(text) if line.startswith("J="))
    text[k] += " n=-1.5"
    (tmp_path / "bad.slf").write_text("\n".join(text) + "\n")
    with pytest.raises(LatticeFormatError, match=r"bad.slf:\d+: no 'n=' on this link"):
        read_htk(tmp_path / "bad.slf")
