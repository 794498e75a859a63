#!/usr/bin/env python3
"""Wall time per utterance, everything included, and test WER: 1000-best rescoring (with the
extraction of the lists from the lattices) against pruned lattice rescoring, one lattice at a time
and several in lockstep, on the recipe's real pocketsphinx lattices, in one process.

    python benchmarks/quality/lattice_vs_nbest.py --recipe recipes/pocketsphinx --sets synthetic asterisk \\
        --out docs/bench/lattice_vs_nbest.jsonl

Systems (each tuned on the set's dev half with ``tune_scales``, WER on the test half, the same
LightRNN and the first-pass trigram as the first-pass term):
    ``1000-best``: read the lattices, the distinct 1000-best by kaldifst ranked with the trigram
        (the recipe's ``nbest_from_lattices.py``), then ``score_nbest`` (prefix-shared scoring);
    ``lattice, batch K, H histories, global beam G``: read the lattices, ``rescore_lattices`` with
        ``lattice_batch=K`` (trigram histories, at most H per lattice state, Xu et al.'s global beam
        G nats, with the scales tuned for the 1000-best system), its 100-best.
Seconds are per utterance over dev + test, with the reading and extraction counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit
from pocketsphinx import get_model_path

from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer
from lightrnn_asr.formats.lattice import FillerMap, read_htk
from lightrnn_asr.formats.lattice_paths import lattice_nbest
from lightrnn_asr.formats.nbest import Hypothesis, read_text
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.ngram import NgramLM
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, rescore_lattices
from lightrnn_asr.scoring.nbest import Scales, one_best, score_nbest
from lightrnn_asr.scoring.tuning import tune_scales


def nbest_system(paths, ck, fp_lm: NgramLM, n: int):
    lists = {}
    for p in paths:
        hyps = lattice_nbest(read_htk(p), n, FillerMap(), bigram=fp_lm.bigram, bigram_scale=8.0)
        lists[p.name.split(".")[0]] = [Hypothesis(h.words, h.am, fp_lm.sentence_logprob(h.words)) for h in hyps]
    return score_nbest(ck.model, ck.vocab, lists)


def lattice_system(paths, ck, fp_lm, cfg):
    lats = ((p.name.split(".")[0], read_htk(p)) for p in paths)
    return rescore_lattices(lats, ck.model, ck.vocab, cfg, n=100, fp_lm=fp_lm)


def table(files: list[Path]) -> str:
    """Markdown table of result files: one row per set and system, in file order."""
    rows = [json.loads(line) for f in files for line in open(f) if line.strip()]
    out = ["| set | system | s/utt (dev + test, all included) | test WER % (95% CI) | dev WER % | hypotheses/utt |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        name = r["system"] if r["system"] == "1000-best" or "histories" in r["system"] else \
            f"{r['system']}, 4 histories, global beam inf"
        out.append(f"| {r['set']} | {name} | {r['seconds_per_utt']:.3f} | {r['test_wer']:.2f} "
                   f"({r['test_ci95'][0]:.1f}-{r['test_ci95'][1]:.1f}) | {r['dev_wer']:.2f} | {r['hyps_per_utt']:.0f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=Path("recipes/pocketsphinx"))
    ap.add_argument("--model", type=Path, default=None, help="default: RECIPE/exp/lm/lightrnn/best.pt")
    ap.add_argument("--sets", nargs="+", default=["synthetic", "asterisk"])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--max-histories", type=int, nargs="+", default=[4], help="lattice systems: histories per state")
    ap.add_argument("--global-beams", type=float, nargs="+", default=[math.inf], help="lattice systems: nats")
    ap.add_argument("--no-nbest", action="store_true", help="skip the 1000-best system (pruning scales: lm 1)")
    ap.add_argument("--max-utts", type=int, default=None, help="first N utterances of each half (quick runs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--table", nargs="+", type=Path, help="print the Markdown table of these JSON-lines files")
    args = ap.parse_args()
    if args.table:
        return print(table(args.table))
    torch.set_num_threads(args.threads)
    ck = load_checkpoint(args.model or args.recipe / "exp" / "lm" / "lightrnn" / "best.pt")
    fp_lm = NgramLM(get_model_path("en-us/en-us.lm.bin"))
    for s in args.sets:
        paths, refs = {}, {}
        for split in ("dev", "test"):
            paths[split] = sorted((args.recipe / "exp" / "decode" / f"{s}_{split}" / "lattices").glob("*.slf"))
            paths[split] = paths[split][: args.max_utts]
            ids = {p.name.split(".")[0] for p in paths[split]}
            refs[split] = {u: w for u, w in read_text(args.recipe / "data" / f"{s}_{split}" / "text").items() if u in ids}
        n_utts = sum(len(p) for p in paths.values())
        prune_scales = None
        systems = [] if args.no_nbest else [("1000-best", None, None, None)]
        systems += [(f"lattice, batch {k}, {h} histories, global beam {g:g}", k, h, g)
                    for k in args.batches for h in args.max_histories for g in args.global_beams]
        for name, k, h, g in systems:
            t0 = time.perf_counter()
            if k is None:
                scored = {sp: nbest_system(paths[sp], ck, fp_lm, 1000) for sp in paths}
            else:
                cfg = LatticeRescoreConfig(ngram_order=3, max_histories=h, global_beam=g,
                                           scales=prune_scales or Scales(lm_scale=1.0), lattice_batch=k)
                scored = {sp: lattice_system(paths[sp], ck, fp_lm, cfg) for sp in paths}
            secs = time.perf_counter() - t0
            tuned = tune_scales(scored["dev"], refs["dev"])
            if k is None:
                prune_scales = tuned.scales
            hyp = one_best(scored["test"], tuned.scales)
            w = compute_wer(refs["test"], hyp)
            ci = bootstrap_ci(refs["test"], hyp, replications=1000)
            emit({"threads": args.threads,
                  "set": s, "system": name,
                  "lattice_batch": k, "utterances": n_utts, "seconds": secs, "seconds_per_utt": secs / n_utts,
                  "test_wer": w.wer, "test_ci95": [100 * ci["ci95min"], 100 * ci["ci95max"]],
                  "dev_wer": tuned.best_wer, "model": str(args.model or "exp/lm/lightrnn/best.pt"),
                  "hyps_per_utt": float(np.mean([len(x.words) for x in scored["test"].values()])),
                  "max_histories": h, "global_beam": g, "pruning_scales": None if k is None else
                  dataclasses.asdict(cfg.scales), "scales": dataclasses.asdict(tuned.scales)},
                 args.out)


if __name__ == "__main__":
    main()
