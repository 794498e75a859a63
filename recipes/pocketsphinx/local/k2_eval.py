#!/usr/bin/env python3
"""The k2 adapter on the recipe's real lattices: icefall-style sampled N-best versus determinized N-best.

Run with the k2 environment's Python (``make test-k2`` builds ``.venv-k2``; this script also needs
the recipe's ``pocketsphinx`` package there for the trigram), after stage 6:

    ../../.venv-k2/bin/pip install pocketsphinx==5.1.1
    ../../.venv-k2/bin/python local/k2_eval.py --data data --exp exp --out exp/report

First-pass lattices like icefall's HLG lattices: every pocketsphinx lattice is expanded with
pocketsphinx's trigram (histories merged by their last two words, at most 16 per state, ranked
by acoustic + 8 x trigram score as a first-pass beam would), and becomes a k2 word acceptor
with ``lm_scores = 8 x log P_trigram`` (nats; 8 is the trigram weight tuned in stage 9) and
``scores = acoustic + lm_scores``. The demo LightRNN and that trigram then rescore them:

- determinized 100-best: the 100 best distinct sequences by ``scores`` (kaldifst), with
  their acoustic and trigram parts (``rescored_nbest``);
- k2 sampled N-best (``rescore_k2_nbest``, icefall's ``Nbest.from_lattice`` + ``intersect``)
  with num_paths 100 or 1000 and nbest_scale 0.5 (icefall's default) or 0.1;
- k2 pruned lattice rescoring (``rescore_k2_lattices``: trigram histories, 4 per state,
  ``input_lm``: the lattices' lm_scores as the first-pass term; pruned with the scales tuned
  for the determinized 100-best).

lm_scale x word_penalty x trigram weight are tuned on dev (as in stage 9) and applied to test;
the oracle is the lowest-WER hypothesis of each list. Time per utterance covers taking the
N-best (k2 sampling and intersection, or kaldifst) and the LM work, dev and test together,
not building the first-pass lattices. Writes OUT/k2_results.md and .json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import k2
import numpy as np
import torch
from torch import nn

from lightrnn_asr import (
    FillerMap,
    Hypothesis,
    LatticeRescoreConfig,
    Scales,
    compute_wer,
    load_checkpoint,
    one_best,
    oracle,
    read_htk,
    read_text,
    score_nbest,
    tune_scales,
)
from lightrnn_asr.evaluation.report import markdown_table
from lightrnn_asr.formats.k2_adapter import lattice_to_k2
from lightrnn_asr.lm import LanguageModel
from lightrnn_asr.scoring.k2_rescore import rescore_k2_lattices, rescore_k2_nbest
from lightrnn_asr.scoring.lattice import rescore_lattice, rescored_nbest

sys.path.insert(0, str(Path(__file__).parent))
from evaluate import write_report  # noqa: E402
from nbest_from_lattices import first_pass_lm  # noqa: E402

TRIGRAM_WEIGHT = 8.0
SETS = ("asterisk", "synthetic")


class NoLM(LanguageModel):
    """An LM that gives every word log-probability 0: expansion then applies the trigram alone."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1), requires_grad=False)

    def initial_state(self, n, bos_id=0):
        return (torch.zeros(n, 1),)

    def score_next(self, state, words):
        return torch.zeros(len(words)), (torch.zeros(len(words), 1),)


def first_pass_lattice(lat, vocab, fp_lm):
    """``lat`` expanded with the trigram: ``lm = TRIGRAM_WEIGHT * log P_trigram`` on every word arc."""
    cfg = LatticeRescoreConfig(ngram_order=3, max_histories=16, scales=Scales(0.0, 0.0, TRIGRAM_WEIGHT))
    out = rescore_lattice(lat, NoLM(), vocab, cfg, fp_lm=fp_lm)
    return dataclasses.replace(out, lm=TRIGRAM_WEIGHT * out.fp_lm, fp_lm=None)


def determinized(lat, n):
    """The ``n`` best distinct sequences by am + lm, the lattice's LM part as the first-pass score."""
    s = rescored_nbest(lat, n, Scales(1.0))
    return [Hypothesis(w, a, l) for w, a, l in zip(s.words, s.am, s.lm)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--exp", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    ck = load_checkpoint(args.exp / "lm" / "lightrnn" / "best.pt")
    fillers = FillerMap()
    fp_lm = first_pass_lm()
    results, sections = {}, []
    for s in args.sets:
        refs = {sp: read_text(args.data / f"{s}_{sp}" / "text") for sp in ("dev", "test")}
        lats = {sp: {p.name.split(".")[0]: first_pass_lattice(read_htk(p), ck.vocab, fp_lm)
                     for p in sorted((args.exp / "decode" / f"{s}_{sp}" / "lattices").glob("*.slf"))}
                for sp in ("dev", "test")}
        vocab = sorted({w for sp in lats.values() for lat in sp.values() for w in map(fillers, lat.symbols) if w})
        words = k2.SymbolTable.from_str("<eps> 0\n" + "".join(f"{w} {i}\n" for i, w in enumerate(vocab, 1)))
        vecs = {sp: (k2.create_fsa_vec([lattice_to_k2(lat, words) for lat in lats[sp].values()]), list(lats[sp]))
                for sp in lats}
        arcs = np.mean([lat.num_arcs for sp in lats.values() for lat in sp.values()])
        n_utts = sum(len(x) for x in lats.values())
        systems = {
            "determinized 100-best (kaldifst)":
                lambda sp: score_nbest(ck.model, ck.vocab, {u: determinized(lat, 100) for u, lat in lats[sp].items()}),
        }
        for num_paths, nbest_scale in ((100, 0.5), (100, 0.1), (1000, 0.1)):
            systems[f"k2 sampled N-best, num_paths {num_paths}, nbest_scale {nbest_scale:g}"] = (
                lambda sp, n=num_paths, c=nbest_scale: rescore_k2_nbest(
                    *vecs[sp], words, ck.model, ck.vocab, Scales(1.0), num_paths=n, nbest_scale=c).scored)
        prune: dict[str, Scales] = {}  # pruning scales: those tuned for the determinized 100-best

        def lattice_system(sp):
            cfg = LatticeRescoreConfig(ngram_order=3, max_histories=4, input_lm=True, scales=prune["scales"])
            return rescore_k2_lattices(*vecs[sp], words, ck.model, ck.vocab, cfg, n=100).scored

        systems["k2 lattice rescoring (trigram histories, 4 per state), 100-best"] = lattice_system
        rows, res = [], {}
        first = read_text(args.exp / "decode" / f"{s}_test" / "text")
        w = compute_wer(refs["test"], first)
        rows.append(["first pass (pocketsphinx 1-best)", f"{w.wer:.2f}", f"{w.errors}/{w.ref_words}", "", "", "", ""])
        res["first pass"] = {"wer": w.wer}
        for name, fn in systems.items():
            t0 = time.perf_counter()
            scored = {sp: fn(sp) for sp in ("dev", "test")}
            secs = (time.perf_counter() - t0) / n_utts
            tuned = tune_scales(scored["dev"], refs["dev"])
            prune.setdefault("scales", tuned.scales)
            w = compute_wer(refs["test"], one_best(scored["test"], tuned.scales))
            o = compute_wer(refs["test"], oracle(scored["test"], refs["test"]))
            hyps = np.mean([len(x.words) for x in scored["test"].values()])
            rows.append([name, f"{w.wer:.2f}", f"{w.errors}/{w.ref_words}", f"{o.wer:.2f}", f"{hyps:.0f}",
                         f"{secs:.3f}", f"{tuned.scales.lm_scale:.3g} / {tuned.scales.word_penalty:.3g} / "
                                        f"{tuned.scales.fp_lm_scale:.3g}"])
            res[name] = {"wer": w.wer, "oracle_wer": o.wer, "hyps_per_utt": float(hyps), "seconds_per_utt": secs,
                         "dev_wer": tuned.best_wer, "lm_scale": tuned.scales.lm_scale,
                         "word_penalty": tuned.scales.word_penalty, "fp_lm_scale": tuned.scales.fp_lm_scale}
            print(name, res[name], flush=True)
        sections.append(f"### {s} test ({len(refs['test'])} utterances; scales tuned on {len(refs['dev'])} dev "
                        f"utterances; first-pass lattices of {arcs:.0f} arcs on average)\n\n" + markdown_table(
                            ["system", "WER %", "errors", "oracle WER %", "hyps/utt", "s/utt",
                             "lm_scale / word_penalty / trigram weight"], rows))
        results[s] = res
        print(sections[-1], flush=True)
    write_report(args.out, "k2_results", "k2: sampled N-best versus determinized N-best and lattice rescoring "
                 "(recipes/pocketsphinx, `local/k2_eval.py`)", f"the demo LightRNN "
                 f"({ck.model.num_parameters():,} parameters) + pocketsphinx's trigram", sections, results,
                 versions=f", k2 {k2.__dev_version__}")

if __name__ == "__main__":
    main()
