"""Tuning lm_scale, word_penalty and fp_lm_scale on dev (lightrnn_asr.scoring.tuning)."""

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lightrnn_asr.cli import main
from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.formats.nbest import read_nbest, read_text
from lightrnn_asr.scoring.nbest import Scales, ScoredNBest, one_best, score_nbest
from lightrnn_asr.scoring.tuning import tune_scales


def synthetic_lists(n_utts=60, n_hyps=12, seed=0):
    """N-best lists whose scores are noisy views of a hidden quality (minus a rough error count):
    am (in units 100x those of the LMs) favours long hypotheses, both LMs short ones, so the best
    1-best needs all three weights; with these noise levels the optimum is near lm_scale 190,
    fp_lm_scale 190, word_penalty 90."""
    rng = random.Random(seed)
    scored, refs = {}, {}
    for u in range(n_utts):
        ref = tuple(f"w{rng.randrange(50)}" for _ in range(rng.randrange(3, 9)))
        hyps, am, lm, fp = [], [], [], []
        for k in range(n_hyps):
            words = list(ref)
            for _ in range(k and rng.randrange(1, 4)):  # hypothesis 0 is the reference
                op = rng.random()
                if op < 0.4 and words:
                    words[rng.randrange(len(words))] = f"w{rng.randrange(50)}"
                elif op < 0.7:
                    words.insert(rng.randrange(len(words) + 1), f"w{rng.randrange(50)}")
                elif words:
                    del words[rng.randrange(len(words))]
            q = -float(len(set(words) ^ set(ref)) + abs(len(words) - len(ref)))
            am_k = 100 * (q / 3 + rng.gauss(0, 0.8) + 0.5 * len(words))
            lm_k = q / 4 + rng.gauss(0, 0.5) - 0.5 * len(words)
            fp_k = q / 4 + rng.gauss(0, 0.5) - 0.25 * len(words)
            hyps.append(tuple(words))
            am.append(am_k)
            lm.append(lm_k)
            fp.append(fp_k)
        scored[f"u{u:03d}"] = ScoredNBest(words=hyps, am=np.array(am), lm=np.array(lm),
                                          n_words=np.array([len(h) for h in hyps]),
                                          n_oov=np.zeros(len(hyps), dtype=np.int64), fp_lm=np.array(fp))
        refs[f"u{u:03d}"] = list(ref)
    return scored, refs


def one_error(refs):
    """One word error, in WER percent."""
    return 100.0 / sum(len(r) for r in refs.values())


def dev_wer(scored, refs, scales):
    return compute_wer(refs, one_best(scored, scales)).wer


def rescaled(scored, factor):
    return {u: dataclasses.replace(s, am=s.am * factor) for u, s in scored.items()}


def test_automatic_search_finds_the_dense_grid_optimum():
    scored, refs = synthetic_lists()
    auto = tune_scales(scored, refs)
    assert auto.searched == {"lm_scale": "auto", "word_penalty": "auto", "fp_lm_scale": "auto"}
    assert auto.dev_wer == pytest.approx(dev_wer(scored, refs, auto.scales))
    # a dense grid over the region where the optimum lies, found by hand for these lists
    dense = tune_scales(scored, refs, np.linspace(0, 400, 81), np.linspace(-400, 400, 81), np.linspace(0, 400, 41))
    assert auto.dev_wer <= dense.dev_wer + one_error(refs)
    assert auto.scales.lm_scale > 0 and auto.scales.fp_lm_scale > 0  # both LMs help here
    baseline = dev_wer(scored, refs, Scales(0.0))
    assert auto.dev_wer < baseline - 5


def scaled(scales, factor):
    return Scales(scales.lm_scale * factor, scales.word_penalty * factor, scales.fp_lm_scale * factor)


@pytest.mark.parametrize("factor", [1e-3, 1e3])
def test_automatic_search_does_not_depend_on_the_units_of_the_scores(factor):
    scored, refs = synthetic_lists(seed=1)
    a = tune_scales(scored, refs)
    b = tune_scales(rescaled(scored, factor), refs)
    # the same optimum, up to floating-point ties: b's weights, in a's units, are as good as a's
    assert b.dev_wer == pytest.approx(a.dev_wer)
    assert dev_wer(scored, refs, scaled(b.scales, 1 / factor)) == pytest.approx(a.dev_wer)
    for name in ("lm_scale", "word_penalty", "fp_lm_scale"):
        assert getattr(b.scales, name) == pytest.approx(factor * getattr(a.scales, name), rel=0.1)
    assert not a.on_edge and not b.on_edge


def test_the_first_pass_weight_is_tuned_only_when_every_list_has_one():
    scored, refs = synthetic_lists(seed=3)
    without = {u: dataclasses.replace(s, fp_lm=None) for u, s in scored.items()}
    tuned = tune_scales(without, refs)
    assert tuned.searched["fp_lm_scale"] == "fixed" and tuned.scales.fp_lm_scale == 0.0
    assert tune_scales(scored, refs).dev_wer < tuned.dev_wer  # the first-pass LM carries information here


def noisy_am_lists(seed=4):
    """The synthetic lists with pure noise for am, an LM without length bias and no first-pass score:
    the larger lm_scale, the better."""
    scored, refs = synthetic_lists(seed=seed)
    rng = np.random.default_rng(seed)
    return {u: dataclasses.replace(s, am=rng.normal(0, 100, len(s.words)), lm=s.lm + 0.5 * s.n_words, fp_lm=None)
            for u, s in scored.items()}, refs


def test_a_given_grid_is_searched_exactly_and_an_edge_optimum_is_flagged():
    scored, refs = noisy_am_lists()
    tuned = tune_scales(scored, refs, [0.0, 100.0, 1000.0], [0.0])
    assert tuned.searched == {"lm_scale": "grid", "word_penalty": "grid", "fp_lm_scale": "fixed"}
    assert tuned.scales == Scales(1000.0, 0.0, 0.0) and tuned.on_edge == ["lm_scale"]
    assert list(tuned.lm_scales) == [0.0, 100.0, 1000.0] and tuned.points == 3 + 3
    assert tuned.dev_wer == pytest.approx(dev_wer(scored, refs, tuned.scales))


def test_outlying_scores_do_not_mislead_the_search():
    scored, refs = synthetic_lists(seed=5)
    # one garbage hypothesis per list that the LM scores -5000: max - min spreads would make the unit
    # of lm_scale ~1000x too small; interquartile ranges are not moved
    garbage = {}
    for u, s in scored.items():
        garbage[u] = ScoredNBest(words=s.words + [("junk",) * 20], am=np.append(s.am, 0.0), lm=np.append(s.lm, -5000.0),
                                 n_words=np.append(s.n_words, 20), n_oov=np.append(s.n_oov, 0), fp_lm=None)
    tuned = tune_scales(garbage, refs)
    dense = tune_scales(garbage, refs, np.linspace(0, 1000, 101), np.linspace(-500, 500, 51))
    # the dense grid's optimum is one isolated point, 1 error below its neighbours: allow that error
    assert tuned.dev_wer <= dense.dev_wer + one_error(refs) and not tuned.on_edge
    assert tuned.dev_wer < tune_scales(garbage, refs, [0.0]).dev_wer - 3


def two_way_lists(ratios):
    """Per utterance a right and a wrong hypothesis; the right one wins when lm_scale > ratio, or
    for a negative ratio (the LM prefers the wrong one) when lm_scale < -ratio."""
    scored, refs = {}, {}
    for u, r in enumerate(ratios):
        sign = 1.0 if r > 0 else -1.0
        scored[f"u{u}"] = ScoredNBest(words=[("right",), ("wrong",)], am=np.array([-float(r), 0.0]),
                                      lm=np.array([sign, 0.0]), n_words=np.array([1, 1]),
                                      n_oov=np.zeros(2, dtype=np.int64))
        refs[f"u{u}"] = ["right"]
    return scored, refs


def test_the_range_is_widened_towards_an_optimum_beyond_it():
    # the unit of lm_scale is the median ratio, 1; the first grid reaches 2^6, widening reaches 2^14
    scored, refs = two_way_lists([1.0] * 17 + [2000.0] * 3)
    tuned = tune_scales(scored, refs, None, [0.0])
    assert tuned.dev_wer == 0.0 and tuned.scales.lm_scale > 2000
    assert tuned.lm_scales.max() == 2.0**14  # widened 4 times
    assert tuned.on_edge == ["lm_scale"]  # every lm_scale above 2000 is as good: the optimum is unbounded
    # an optimum beyond every widening is not reached, and flagged
    scored, refs = two_way_lists([1.0] * 17 + [1e6] * 3)
    tuned = tune_scales(scored, refs, None, [0.0])
    assert tuned.dev_wer == pytest.approx(100 * 3 / 20) and tuned.on_edge == ["lm_scale"]
    # with no reason to widen, the first grid is kept and nothing is flagged
    scored, refs = two_way_lists([1.0] * 17 + [-8.0] * 3)  # every lm_scale in (1, 8) is right
    tuned = tune_scales(scored, refs, None, [0.0])
    assert tuned.lm_scales.max() == 2.0**6 and not tuned.on_edge and 1.0 < tuned.scales.lm_scale < 8.0
    assert tuned.dev_wer == 0.0


def test_ties_take_the_median_of_the_flat_optimum():
    s = ScoredNBest(words=[("a",), ("b",)], am=np.array([0.0, -1.0]), lm=np.array([-1.0, 0.0]),
                    n_words=np.array([1, 1]), n_oov=np.zeros(2, dtype=np.int64))
    tuned = tune_scales({"u": s}, {"u": ["b"]}, np.arange(0, 3.01, 0.5), [0.0])
    # b wins when lm_scale > 1: the tied optimum is 1.5 .. 3.0, its median index gives 2.0
    assert tuned.dev_wer == 0.0 and tuned.scales.lm_scale == 2.0
    assert tuned.on_edge == ["lm_scale"]  # the plateau reaches the edge: a larger lm_scale may be as good


def test_errors():
    scored, refs = synthetic_lists(n_utts=3)
    with pytest.raises(ValueError, match="empty lm_scale grid"):
        tune_scales(scored, refs, [])
    with pytest.raises(ValueError, match="no reference"):
        tune_scales(scored, {"u000": ["x"]})
    with pytest.raises(ValueError, match="no dev utterances"):
        tune_scales({}, {})


def test_a_score_that_never_differs_is_not_searched():
    scored, refs = synthetic_lists(seed=7)
    no_lm = {u: dataclasses.replace(s, lm=np.zeros(len(s.words))) for u, s in scored.items()}  # rescoring without an LM
    tuned = tune_scales(no_lm, refs)
    assert tuned.searched == {"lm_scale": "fixed", "word_penalty": "auto", "fp_lm_scale": "auto"}
    assert tuned.scales.lm_scale == 0.0 and tuned.scales.fp_lm_scale > 0


def test_refinement_finds_an_optimum_between_the_coarse_points():
    # every list is right only for lm_scale in (2.1, 2.4): 10 need more than 2.1, 10 less than 2.4,
    # 5 more than 1.5; 21 more are right whatever the weights. The unit is 1.5, so the coarse grid
    # has 1.5 and 3, on either side of the interval, and no point in it
    scored, refs = two_way_lists([2.1] * 10 + [-2.4] * 10 + [1.5] * 5)
    for u in range(21):
        scored[f"easy{u}"] = ScoredNBest(words=[("right",), ("right",)], am=np.array([-1.0, 0.0]),
                                         lm=np.array([1.0, 0.0]), n_words=np.array([1, 1]),
                                         n_oov=np.zeros(2, dtype=np.int64))
        refs[f"easy{u}"] = ["right"]
    tuned = tune_scales(scored, refs, None, [0.0])
    assert 1.5 in tuned.lm_scales and 3.0 in tuned.lm_scales
    assert tuned.dev_wer == 0.0 and 2.1 < tuned.scales.lm_scale < 2.4


HAND_LM_SCALES = np.round(np.arange(0.0, 40.01, 1.0), 4)  # the grid the pocketsphinx recipe used to set by hand
HAND_WORD_PENALTIES = np.round(np.arange(-30.0, 10.01, 2.5), 4)
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["asterisk_dev_trigram", "synthetic_dev_trigram"])
def test_on_real_lists_the_defaults_do_as_well_as_the_hand_set_grid(name, tmp_path):
    """Real pocketsphinx 20-best lists with the first-pass trigram: the automatic search of
    word_penalty x fp_lm_scale reaches at least the dev WER of the recipe's old hand-set grid
    (lm_scale x word_penalty with the trigram as the LM), and the command line prints the same."""
    nbest, ref = read_nbest(DATA / f"{name}.nbest"), read_text(DATA / f"{name}.ref")
    scored = score_nbest(None, None, nbest)
    trigram_as_lm = {u: dataclasses.replace(s, lm=s.fp_lm, fp_lm=None) for u, s in scored.items()}
    hand = tune_scales(trigram_as_lm, ref, HAND_LM_SCALES, HAND_WORD_PENALTIES)
    auto = tune_scales(scored, ref)
    assert auto.searched == {"lm_scale": "fixed", "word_penalty": "auto", "fp_lm_scale": "auto"}
    assert auto.dev_wer <= hand.dev_wer and auto.dev_wer < 0.9 * dev_wer(scored, ref, Scales(0.0))
    res = CliRunner().invoke(main, ["rescore", str(DATA / f"{name}.nbest"), "--dev", str(DATA / f"{name}.nbest"), str(DATA / f"{name}.ref"),
                                    "--out", str(tmp_path / "1best.txt")])
    assert res.exit_code == 0, res.output
    assert f"dev WER {auto.dev_wer:.2f}%" in res.output
    assert compute_wer(ref, read_text(tmp_path / "1best.txt")).wer == pytest.approx(auto.dev_wer)
