"""The k2 adapter on real k2 objects (run by ``make test-k2``; skipped where k2 is not installed)."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from require_k2 import import_k2  # noqa: E402

k2 = import_k2()

from click.testing import CliRunner  # noqa: E402

from lightrnn_asr.cli import main  # noqa: E402
from lightrnn_asr.formats.k2_adapter import (  # noqa: E402
    lattice_from_k2,
    lattice_to_k2,
    lattices_from_k2,
    load_k2_lattices,
    save_k2_lattices,
)
from lightrnn_asr.formats.lattice import FillerMap, LatticeFormatError, read_htk  # noqa: E402
from lightrnn_asr.formats.lattice_paths import lattice_nbest  # noqa: E402
from lightrnn_asr.formats.nbest import read_text  # noqa: E402
from lightrnn_asr.lm.checkpoint import load_checkpoint  # noqa: E402
from lightrnn_asr.scoring.k2_rescore import k2_nbest, rescore_k2_lattices, rescore_k2_nbest  # noqa: E402
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, rescore_lattices  # noqa: E402
from lightrnn_asr.scoring.nbest import Scales, one_best, score_nbest  # noqa: E402
from lightrnn_asr.scoring.sentences import score_sentences  # noqa: E402

DATA = Path(__file__).parent.parent / "data"
UTTS = ["asterisk-queue-thankyou", "asterisk-confbridge-has-joined", "asterisk-do-not-disturb"]
WORDS = k2.SymbolTable.from_str("<eps> 0\nHELLO 1\nWORLD 2\nYELLOW 3\nWORD 4\n<UNK> 5\n")

# An HLG-style transducer: token labels, word aux_labels, lm_scores a part of the scores.
#   0 -7:HELLO- 1 -9:WORLD- 3 -> final
#   0 -8:YELLOW- 2 -4:WORD- 3
#   1 -0:WORD-  3            (a token-epsilon arc outputting a word)
#   2 -5:<eps>- 3            (a non-word arc)
TRANSDUCER = """0 1 7 1 -1.0
0 2 8 3 -2.0
1 3 9 2 -0.5
1 3 0 4 -3.0
2 3 4 4 -0.7
2 3 5 0 -2.5
3 4 -1 -1 -0.25
4"""
LM_SCORES = [-0.1, -0.2, -0.3, -0.4, -0.5, 0.0, -0.05]


def transducer():
    fsa = k2.Fsa.from_str(TRANSDUCER, acceptor=False)
    fsa.lm_scores = torch.tensor(LM_SCORES)
    return fsa


def arc_table(fsa):
    """(src, dst, label, word, score, lm_score) rows of one Fsa, for exact comparison."""
    words = fsa.aux_labels.tolist() if hasattr(fsa, "aux_labels") else fsa.labels.tolist()
    rows = fsa.arcs.values()[:, :3].tolist()
    lm = fsa.lm_scores.tolist() if hasattr(fsa, "lm_scores") else [0.0] * len(rows)
    return [(*r, w, round(s, 5), round(m, 5)) for r, w, s, m in zip(rows, words, fsa.scores.tolist(), lm)]


@pytest.fixture(scope="module")
def ps():
    """The three real pocketsphinx lattices, their words.txt and the tiny LightRNN saved under torch 2.x."""
    lats = {u: read_htk(DATA / f"{u}.slf") for u in UTTS}
    fillers = FillerMap()
    vocab_words = sorted({w for lat in lats.values() for w in map(fillers, lat.symbols) if w})
    words = k2.SymbolTable.from_str("<eps> 0\n" + "".join(f"{w} {i}\n" for i, w in enumerate(vocab_words, 1)))
    ck = load_checkpoint(DATA / "tiny_lightrnn.pt")
    return lats, words, ck


def test_transducer_lattice_converts_with_words_scores_and_times():
    lat = lattice_from_k2(transducer(), WORDS, frame_shift=0.04)
    assert (lat.num_states, lat.start, lat.final) == (5, 0, 4)
    assert lat.symbols == ["HELLO", "YELLOW", "WORLD", "WORD", "WORD", "<eps>", "</s>"]
    np.testing.assert_allclose(lat.fp_lm, LM_SCORES, atol=1e-6)
    np.testing.assert_allclose(lat.am + lat.fp_lm, [-1.0, -2.0, -0.5, -3.0, -0.7, -2.5, -0.25], atol=1e-6)
    np.testing.assert_allclose(lat.times, [0.0, 0.04, 0.04, 0.08, 0.12])
    assert np.isnan(lattice_from_k2(transducer(), WORDS).times).all()
    acceptor = k2.invert(transducer())
    del acceptor.aux_labels
    lattice_from_k2(acceptor, WORDS, frame_shift=0.04)
    assert not hasattr(acceptor, "lightrnn_frames")  # the input is left as it was


def test_round_trip_k2_project_k2_keeps_topology_labels_and_scores():
    acceptor = k2.Fsa.from_str(TRANSDUCER.replace("7 1", "1").replace("8 3", "3").replace("9 2", "2")
                               .replace("0 4 -3", "4 -3").replace("4 4", "4").replace("5 0", "0")
                               .replace("-1 -1", "-1"), acceptor=True)
    acceptor.lm_scores = torch.tensor(LM_SCORES)
    for fsa in (transducer(), acceptor):
        back = lattice_to_k2(lattice_from_k2(fsa, WORDS), WORDS)
        ref = arc_table(fsa)
        got = arc_table(back)
        # word ids come back as labels (a word acceptor); states, arcs, words and both scores are kept
        assert [(s, d, w, sc, m) for s, d, _, w, sc, m in got] == [(s, d, w, sc, m) for s, d, _, w, sc, m in ref]
        assert back.shape == fsa.shape


def test_round_trip_of_real_lattices_keeps_their_nbest(ps):
    lats, words, _ = ps
    for utt, lat in lats.items():
        fsa = lattice_to_k2(lat, words)
        assert k2.is_rand_equivalent(fsa, fsa, log_semiring=False)  # a valid Fsa
        back = lattice_from_k2(fsa, words)
        assert back.num_arcs in (lat.num_arcs, lat.num_arcs + 1)  # + the -1 arc when a word enters the end node
        a, b = lattice_nbest(lat, 30), lattice_nbest(back, 300)
        assert a[0].words == b[0].words
        # float32 scores in k2 reorder near-ties; every sequence is there with its score
        b_am = {h.words: h.am for h in b}
        for h in a:
            assert b_am[h.words] == pytest.approx(h.am, rel=1e-6)
        # and once more through k2: the same arcs and scores
        assert arc_table(lattice_to_k2(back, words)) == arc_table(fsa)


def test_ragged_aux_labels_become_word_chains():
    fsa = k2.Fsa.from_str(TRANSDUCER, acceptor=False)
    fsa.aux_labels = k2.RaggedTensor([[1, 2], [3], [], [4], [4], [], [-1]])
    fsa.lm_scores = torch.tensor(LM_SCORES)
    lat = lattice_from_k2(fsa, WORDS, remove_epsilon=True)
    nb = lattice_nbest(lat, 10)
    assert {h.words for h in nb} == {("hello", "world"), ("hello", "world", "word"), ("yellow", "word"), ("yellow",)}
    vec = k2.create_fsa_vec([fsa])
    sampled = k2_nbest(vec, 200, nbest_scale=0.2)
    assert {tuple(WORDS[i] for i in seq) for seq in sampled.word_ids} == {
        ("HELLO", "WORLD"), ("HELLO", "WORLD", "WORD"), ("YELLOW", "WORD"), ("YELLOW",)}


def test_epsilon_removal_keeps_every_word_path_with_its_best_scores():
    lat = lattice_from_k2(transducer(), WORDS)
    ne = lattice_from_k2(transducer(), WORDS, remove_epsilon=True, frame_shift=0.04)
    assert "<eps>" not in ne.symbols
    full, pruned = lattice_nbest(lat, 10), lattice_nbest(ne, 10)
    assert [(h.words, round(h.am, 5)) for h in full] == [(h.words, round(h.am, 5)) for h in pruned]
    # "yellow" alone exists only through the <eps> arc: 2 frames from the start to the final state's arc
    assert ne.times[ne.final] == pytest.approx(0.12)


def test_k2_nbest_scores_match_the_lattice_nbest(ps):
    """icefall's sampled N-best and the project's determinized N-best agree on every shared sequence."""
    lats, words, _ = ps
    vec = k2.create_fsa_vec([lattice_to_k2(lats[u], words) for u in UTTS])
    torch.manual_seed(0)
    sampled = k2_nbest(vec, 300, nbest_scale=0.05)
    splits = sampled.shape.row_splits(1).tolist()
    am = sampled.am_scores.values.tolist()
    for i, utt in enumerate(UTTS):
        own = {h.words: h.am for h in lattice_nbest(lats[utt], 5000)}
        seen = 0
        for p in range(splits[i], splits[i + 1]):
            seq = tuple(w for w in (FillerMap()(words[x]) for x in sampled.word_ids[p]) if w)
            assert am[p] == pytest.approx(own[seq], rel=1e-5)  # the best path of the sequence, as kaldifst finds it
            seen += 1
        assert seen > 5
    np.testing.assert_array_equal(sampled.fp_lm_scores.values.numpy(), 0.0)  # pocketsphinx writes no LM scores


def test_k2_and_project_nbest_rescoring_pick_the_same_best_hypothesis(ps):
    lats, words, ck = ps
    vec = k2.create_fsa_vec([lattice_to_k2(lats[u], words) for u in UTTS])
    for scales in (Scales(0.0), Scales(5.0), Scales(5.0, word_penalty=2.0)):
        torch.manual_seed(0)
        res = rescore_k2_nbest(vec, UTTS, words, ck.model, ck.vocab, scales, num_paths=500, nbest_scale=0.05)
        own = one_best(score_nbest(ck.model, ck.vocab, {u: lattice_nbest(lats[u], 5000) for u in UTTS}), scales)
        k2_best = one_best(res.scored, scales)
        assert k2_best == own
        # the best path Fsa carries the same words
        for i, utt in enumerate(UTTS):
            path_words = [words[w] for w in res.best_path[i].labels.tolist() if w > 0]
            assert [FillerMap()(w) for w in path_words if FillerMap()(w)] == own[utt]
        # the ragged scores line up with the hypotheses
        tot = res.tot_scores.values.numpy()
        expect = res.am_scores.values.numpy() + scales.lm_scale * res.lm_scores.values.numpy() + \
            scales.word_penalty * np.concatenate([res.scored[u].n_words for u in UTTS])
        np.testing.assert_allclose(tot, expect)
    assert own["asterisk-do-not-disturb"] == "do not disturb".split()


def test_k2_lattice_rescoring_equals_project_lattice_rescoring(ps):
    lats, words, ck = ps
    vec = k2.create_fsa_vec([lattice_to_k2(lats[u], words) for u in UTTS])
    cfg = LatticeRescoreConfig(ngram_order=3, max_histories=4, scales=Scales(5.0))
    res = rescore_k2_lattices(vec, UTTS, words, ck.model, ck.vocab, cfg, n=50)
    own = rescore_lattices(lattices_from_k2(vec, UTTS, words), ck.model, ck.vocab, cfg, n=50)
    assert one_best(res.scored, cfg.scales) == one_best(own, cfg.scales)
    best = one_best(res.scored, cfg.scales)
    assert res.lattices.shape[0] == 3
    for i, utt in enumerate(UTTS):
        # k2.shortest_path on the rescored lattice (scores = am + combined LM) is the rescored 1-best
        path = [FillerMap()(words[w]) for w in res.best_path[i].labels.tolist() if w > 0]
        assert [w for w in path if w] == best[utt]
        assert float(res.best_path[i].scores.sum()) == pytest.approx(float(res.tot_scores[i].max()), abs=1e-3)


def test_save_and_load_as_icefall_does(tmp_path):
    vec = k2.create_fsa_vec([transducer(), transducer()])
    torch.save(vec.as_dict(), tmp_path / "lats.pt")  # icefall: no utterance ids
    got, ids = load_k2_lattices(tmp_path / "lats.pt")
    assert ids == ["lats-0", "lats-1"] and got.shape[0] == 2
    assert torch.equal(got.lm_scores, vec.lm_scores) and torch.equal(got.aux_labels, vec.aux_labels)
    save_k2_lattices(tmp_path / "dir" / "b.pt", vec, ["u1", "u2"])
    ragged = transducer()
    ragged.aux_labels = k2.RaggedTensor([[1, 2], [3], [], [4], [4], [], [-1]])
    save_k2_lattices(tmp_path / "dir" / "a.pt", k2.create_fsa_vec([ragged]), ["u0"])
    got, ids = load_k2_lattices(tmp_path / "dir")
    assert ids == ["u0", "u1", "u2"]
    # the ragged arc's two words survived
    assert lattice_nbest(lattice_from_k2(got[0], WORDS), 1)[0].words == ("hello", "world")
    with pytest.raises(LatticeFormatError, match="'u1' already read"):
        save_k2_lattices(tmp_path / "dir" / "c.pt", vec, ["u1", "u9"])
        load_k2_lattices(tmp_path / "dir")


class _Exploit:
    def __reduce__(self):
        return os.system, ("echo pwned > /dev/null",)


def test_loading_refuses_pickled_code_and_other_files(tmp_path):
    d = k2.create_fsa_vec([transducer()]).as_dict()
    d["payload"] = _Exploit()
    torch.save(d, tmp_path / "evil.pt", pickle_protocol=2)
    with pytest.raises(LatticeFormatError, match=r"evil.pt: .*refusing to load the global (posix|os)\.system"):
        load_k2_lattices(tmp_path / "evil.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "model.pt")
    with pytest.raises(LatticeFormatError, match="model.pt: not a k2 lattice file"):
        load_k2_lattices(tmp_path / "model.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(LatticeFormatError, match="junk.pt: not a k2 lattice file"):
        load_k2_lattices(tmp_path / "junk.pt")
    torch.save({**k2.create_fsa_vec([transducer()]).as_dict(), "utt_ids": ["a", "b"]}, tmp_path / "ids.pt")
    with pytest.raises(LatticeFormatError, match="'utt_ids' must be a list of 1 strings"):
        load_k2_lattices(tmp_path / "ids.pt")
    assert pickle.dumps(1)  # pickle itself still works after the restricted loads


def test_bad_lattices_name_the_utterance():
    # a lattice whose only path leads nowhere: connect() empties it, as a failed decoding leaves it
    empty = k2.create_fsa_vec([k2.connect(k2.Fsa.from_str("0 1 5 -1\n1 1 5 0\n2", acceptor=True))])
    with pytest.raises(LatticeFormatError, match="utt-x: the lattice is empty"):
        lattices_from_k2(empty, ["utt-x"], WORDS)
    unknown = k2.create_fsa_vec([k2.Fsa.from_str("0 1 17 -1\n1 2 -1 0\n2", acceptor=True)])
    with pytest.raises(LatticeFormatError, match="utt-y: word id 17 is not in the symbol table"):
        lattices_from_k2(unknown, ["utt-y"], WORDS)
    with pytest.raises(ValueError, match="not in the symbol table"):
        lattice_to_k2(lattice_from_k2(transducer(), WORDS), k2.SymbolTable.from_str("<eps> 0\nHELLO 1\n"))


def test_a_checkpoint_written_under_torch_2_scores_the_same_here():
    ref = json.loads((DATA / "tiny_lightrnn.scores.json").read_text())
    ck = load_checkpoint(DATA / "tiny_lightrnn.pt")
    assert ck.train_state == ref["train_state"]
    sentences = list(ref["sentences"])
    ids = [torch.tensor(ck.vocab.encode(s.split())) for s in sentences]
    got = score_sentences(ck.model, ids, bos_id=ck.vocab.bos_id, eos_id=ck.vocab.eos_id)
    np.testing.assert_allclose(got, [ref["sentences"][s] for s in sentences], rtol=1e-5)


def test_cli_rescores_k2_lattices_and_writes_best_paths(ps, tmp_path):
    lats, words, _ = ps
    vec = k2.create_fsa_vec([lattice_to_k2(lats[u], words) for u in UTTS])
    save_k2_lattices(tmp_path / "lats.pt", vec, UTTS)
    (tmp_path / "words.txt").write_text("".join(f"{words[i]} {i}\n" for i in range(len(words.ids))))
    (tmp_path / "ref").write_text("asterisk-queue-thankyou thank you for your patience\n"
                                  "asterisk-confbridge-has-joined has joined the conference\n"
                                  "asterisk-do-not-disturb do not disturb\n")
    common = ["rescore", str(tmp_path / "lats.pt"), "--input-type", "k2", "--words", str(tmp_path / "words.txt"),
              "--model", str(DATA / "tiny_lightrnn.pt"), "--device", "cpu", "--lm-scale", "0"]
    runner = CliRunner()
    for method in ("nbest", "lattice"):
        out = tmp_path / method
        res = runner.invoke(main, [*common, "--k2-method", method, "--num-paths", "300", "--nbest-scale", "0.05",
                                   "--out", str(out / "hyp.txt"), "--lattices-out", str(out)])
        assert res.exit_code == 0, res.output
        hyps = read_text(out / "hyp.txt")
        assert hyps["asterisk-do-not-disturb"] == "do not disturb".split()
        best, ids = load_k2_lattices(out / "best_path.pt")
        assert ids == UTTS and best.shape[0] == 3
        assert (out / "lattices.pt").exists() == (method == "lattice")
    # scales tuned on dev k2 lattices (here the same lattices), as for N-best lists
    tuned = runner.invoke(main, [*common[:-2], "--dev", str(tmp_path / "lats.pt"), str(tmp_path / "ref"),
                                 "--lm-scale", "0,1,5", "--word-penalty", "0",
                                 "--num-paths", "300", "--nbest-scale", "0.05", "--out", str(tmp_path / "t.txt")])
    assert tuned.exit_code == 0, tuned.output
    assert json.loads(tuned.output.strip().splitlines()[-1])["lm_scale"] in (0.0, 1.0, 5.0)
    assert set(read_text(tmp_path / "t.txt")) == set(UTTS)
    res = runner.invoke(main, ["rescore", str(tmp_path / "lats.pt"), "--input-type", "k2", "--lm-scale", "0",
                               "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "k2 lattices need --words" in res.output
    (tmp_path / "bad_words.txt").write_text("<eps> 0\nhello\n")
    res = runner.invoke(main, ["rescore", str(tmp_path / "lats.pt"), "--input-type", "k2", "--lm-scale", "0",
                               "--words", str(tmp_path / "bad_words.txt"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "bad_words.txt:2: expected 'word integer-id'" in res.output
    (tmp_path / "few_words.txt").write_text("<eps> 0\nthank 1\n")
    res = runner.invoke(main, ["rescore", str(tmp_path / "lats.pt"), "--input-type", "k2", "--lm-scale", "0",
                               "--words", str(tmp_path / "few_words.txt"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "is not in the symbol table" in res.output


def ctc_lattice(T=30, bias=4.0):
    """A real CTC decoding lattice: k2.ctc_topo composed with a lexicon (words AB, CD, A over tokens
    a b c d), intersected (k2.intersect_dense_pruned) with log-softmax outputs that spell "ab cd"."""
    words = k2.SymbolTable.from_str("<eps> 0\nAB 1\nCD 2\nA 3\n")
    lexicon = k2.Fsa.from_str("0 1 1 1 0\n0 2 3 2 0\n0 0 1 3 -1.5\n0 3 -1 -1 0\n1 0 2 0 0\n2 0 4 0 0\n3",
                              acceptor=False)
    graph = k2.arc_sort(k2.connect(k2.compose(k2.ctc_topo(4), k2.arc_sort(lexicon), inner_labels="tokens")))
    graph.lm_scores = graph.scores.clone()  # as icefall's compile_hlg: the graph's own scores
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, T, 5, generator=g) * 0.5
    for t, k in enumerate([0, 0, 1, 1, 0, 2, 2, 0, 0, 0, 3, 3, 0, 4, 4] + [0] * (T - 15)):
        logits[0, t, k] += bias
    dense = k2.DenseFsaVec(logits.log_softmax(-1), torch.tensor([[0, 0, T]], dtype=torch.int32))
    lattice = k2.intersect_dense_pruned(graph, dense, search_beam=20, output_beam=8, min_active_states=30,
                                        max_active_states=10000)
    return lattice, words


def test_a_ctc_decoding_lattice_rescored_like_icefall():
    lattice, words = ctc_lattice()
    viterbi = k2.shortest_path(lattice, use_double_scores=True)
    assert [words[w] for w in viterbi.aux_labels.tolist() if w > 0] == ["AB", "CD"]
    # the word lattice: no epsilon arcs, one frame (0.04 s) per arc of the CTC lattice, T + 1 frames in all
    lat = lattice_from_k2(lattice[0], words, remove_epsilon=True, frame_shift=0.04)
    assert "<eps>" not in lat.symbols and lat.num_states < lattice[0].shape[0]
    assert lat.times[lat.final] == pytest.approx(31 * 0.04)
    own = lattice_nbest(lat, 5000)
    assert own[0].words == ("ab", "cd")
    assert own[0].am + (own[0].fp_lm or 0.0) == pytest.approx(float(viterbi.scores.sum()), abs=2e-3)  # float32 sums
    # icefall-style N-best: tokens in labels, words in aux_labels; am = scores - lm_scores
    sampled = k2_nbest(lattice, 100, nbest_scale=0.5)
    total = (sampled.am_scores.values + sampled.fp_lm_scores.values).tolist()
    own_total = {h.words: h.am + (h.fp_lm or 0.0) for h in own}
    for seq, tot in zip(sampled.word_ids, total):
        assert tot == pytest.approx(own_total[tuple(words[w].lower() for w in seq)], abs=2e-3)
    # the n-gram part is the graph's: -1.5 for every "A" the lexicon outputs, 0 for AB and CD
    ngram = sampled.fp_lm_scores.values.tolist()
    assert any(3 in seq for seq in sampled.word_ids)
    for seq, lm in zip(sampled.word_ids, ngram):
        assert lm == pytest.approx(-1.5 * seq.count(3))
    assert set(sampled.fsa.labels.tolist()) <= {-1, 0, 1, 2, 3, 4}  # token labels again after the intersection
    # rescoring: with lm_scale 0 the 1-best is the Viterbi path; the best path is an Fsa with its tokens
    res = rescore_k2_nbest(lattice, ["utt"], words, None, None, Scales(0.0, fp_lm_scale=1.0), num_paths=100)
    assert one_best(res.scored, Scales(0.0, fp_lm_scale=1.0)) == {"utt": ["ab", "cd"]}
    assert [w for w in res.best_path.aux_labels.tolist() if w > 0] == [1, 2]
    assert float(res.best_path.scores.sum()) == pytest.approx(float(viterbi.scores.sum()), abs=2e-3)


def test_a_ctc_lattice_through_pruned_lattice_rescoring_with_a_lightrnn():
    from lightrnn_asr.lm import LightRNN, LMConfig
    from lightrnn_asr.lm.table import WordTable
    from lightrnn_asr.text.vocabulary import Vocabulary

    lattice, words = ctc_lattice(bias=2.5)  # acoustically less certain: the LM changes the 1-best
    vocab = Vocabulary(["<s>", "</s>", "<unk>", "ab", "cd", "a"], [0, 1, 0, 1, 1, 1])
    torch.manual_seed(1)
    table = WordTable.random(len(vocab), torch.Generator().manual_seed(1))
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=8, hidden_dim=8, num_layers=1, dropout=0.0, recurrence="halfword"), table).eval()
    # acoustic scores only: without input_lm the graph's lm_scores are replaced by the new LM
    nbest = {"utt": lattice_nbest(lattice_from_k2(lattice[0], words, remove_epsilon=True), 3000, fp_lm_scale=0.0)}
    scored = score_nbest(model, vocab, nbest)
    best = {}
    for lm_scale in (0.0, 5.0):
        # histories never merged, 100 kept per state: lattice rescoring finds N-best rescoring's best
        cfg = LatticeRescoreConfig(ngram_order=None, max_histories=100, scales=Scales(lm_scale))
        res = rescore_k2_lattices(lattice, ["utt"], words, model, vocab, cfg, n=50)
        best[lm_scale] = one_best(res.scored, cfg.scales)["utt"]
        assert best[lm_scale] == one_best(scored, cfg.scales)["utt"]
        path = [words[w].lower() for w in res.best_path[0].labels.tolist() if w > 0]
        assert path == best[lm_scale]
    assert best[0.0] == ["ab", "cd"] and best[5.0] != best[0.0]


def test_a_word_into_the_final_state_gets_its_own_arc_before_the_minus_one_arc():
    from lightrnn_asr.formats.lattice import Lattice

    # 2 -> 0 -> 1 (final): start state not 0, final not last, a word ("WORLD") entering the final state
    lat = Lattice(num_states=3, start=2, final=1, src=np.array([2, 0, 2]), dst=np.array([0, 1, 1]),
                  symbols=["HELLO", "WORLD", "<sil>"], am=np.array([-1.0, -2.0, -5.0]),
                  fp_lm=np.array([-0.5, -0.25, 0.0]), times=np.full(3, np.nan))
    fsa = lattice_to_k2(lat, WORDS)
    assert fsa.shape[0] == 4  # a new final state
    assert sorted(arc_table(fsa)) == [(0, 1, 1, 1, -1.5, -0.5), (0, 2, 0, 0, -5.0, 0.0), (1, 2, 2, 2, -2.25, -0.25),
                                      (2, 3, -1, -1, 0.0, 0.0)]
    assert [h.words for h in lattice_nbest(lattice_from_k2(fsa, WORDS), 5)] == [("hello", "world"), ()]


def test_a_stub_lm_written_against_the_public_interface_rescores_k2_lattices(ps):
    from helpers import BigramStubLM

    from lightrnn_asr import Vocabulary

    lats, words, _ = ps
    fillers = FillerMap()
    vocab = Vocabulary.from_sentences([[w for w in map(fillers, lat.symbols) if w] for lat in lats.values()])
    lm = BigramStubLM(vocab, seed=3)
    vec = k2.create_fsa_vec([lattice_to_k2(lats[u], words) for u in UTTS])
    torch.manual_seed(0)
    sampled = rescore_k2_nbest(vec, UTTS, words, lm, vocab, Scales(1.0), num_paths=500, nbest_scale=0.05)
    expanded = rescore_k2_lattices(vec, UTTS, words, lm, vocab,
                                   LatticeRescoreConfig(ngram_order=2, max_histories=None, scales=Scales(1.0)), n=20)
    for res in (sampled, expanded):
        assert set(res.scored) == set(UTTS) and sum(len(s.words) for s in res.scored.values()) > 10
        for s in res.scored.values():
            assert list(s.lm) == pytest.approx([lm.by_hand(vocab, w) for w in s.words], abs=1e-4)


def test_k2_sampled_nbest_with_a_backward_lm(ps, tmp_path):
    """--backward-model on k2 lattices (sampled N-best): lm interpolates the forward and backward LMs' scores."""
    from lightrnn_asr.formats.nbest import Hypothesis
    from lightrnn_asr.lm.checkpoint import save_checkpoint
    from lightrnn_asr.scoring.nbest import BackwardLM, with_backward_lm

    lats, words, ck = ps
    back = load_checkpoint(DATA / "tiny_lightrnn.pt")
    back.model.config.backward = True  # any model reads right to left once its config says so
    save_checkpoint(tmp_path / "back.pt", back.model, back.vocab, back.table)
    back = load_checkpoint(tmp_path / "back.pt")
    vec = k2.create_fsa_vec([lattice_to_k2(lats[u], words) for u in UTTS])
    torch.manual_seed(0)
    res = rescore_k2_nbest(vec, UTTS, words, ck.model, ck.vocab, Scales(1.0), num_paths=300, nbest_scale=0.05,
                           backward=BackwardLM(back.model, back.vocab, 0.25))
    hyps = {u: [Hypothesis(w, 0.0) for w in s.words] for u, s in res.scored.items()}
    expect = with_backward_lm(score_nbest(ck.model, ck.vocab, hyps), score_nbest(back.model, back.vocab, hyps), 0.25)
    for u in UTTS:
        np.testing.assert_allclose(res.scored[u].lm, expect[u].lm, atol=1e-4)
        assert not np.allclose(expect[u].lm, score_nbest(ck.model, ck.vocab, hyps)[u].lm)  # the backward LM counts
    save_k2_lattices(tmp_path / "lats.pt", vec, UTTS)
    (tmp_path / "words.txt").write_text("".join(f"{words[i]} {i}\n" for i in range(len(words.ids))))
    common = ["rescore", str(tmp_path / "lats.pt"), "--input-type", "k2", "--words", str(tmp_path / "words.txt"),
              "--model", str(DATA / "tiny_lightrnn.pt"), "--backward-model", str(tmp_path / "back.pt"),
              "--device", "cpu", "--lm-scale", "1", "--out", str(tmp_path / "hyp.txt")]
    res = CliRunner().invoke(main, [*common, "--num-paths", "300", "--nbest-scale", "0.05", "--backward-weight", "0.25",
                                    "--scores-out", str(tmp_path / "s.tsv")])
    assert res.exit_code == 0, res.output
    assert set(read_text(tmp_path / "hyp.txt")) == set(UTTS)
    rows = [r.split("\t") for r in (tmp_path / "s.tsv").read_text().splitlines()[1:]]
    hyps = {f"{u} {k}": [Hypothesis(tuple(r[6].split()), 0.0)] for k, r in enumerate(rows) for u in [r[0]]}
    expect = with_backward_lm(score_nbest(ck.model, ck.vocab, hyps), score_nbest(back.model, back.vocab, hyps), 0.25)
    np.testing.assert_allclose([float(r[2]) for r in rows], [expect[u].lm[0] for u in hyps], atol=1e-3)
    res = CliRunner().invoke(main, [*common, "--k2-method", "lattice"])
    assert res.exit_code == 2 and "k2 lattices with --k2-method nbest" in res.output
