#!/usr/bin/env python3
"""N-best rescoring (N = 10, 100, 1000) versus pruned lattice rescoring versus oracles.

For every evaluation set, with the demo LightRNN combined log-linearly with pocketsphinx's
trigram (as in evaluate.py):

- N-best: the distinct 1000-best lists of the lattices (nbest_from_lattices.py, ranked with
  the first-pass LM), and their top 10 and top 100, are scored with the LightRNN; the
  lm_scale x word_penalty x trigram-scale grid is tuned on dev and applied to test.
- Lattice: every lattice is expanded with the LightRNN (histories merged by their last two
  words, so the trigram is exact on every arc; at most --max-histories per lattice state,
  then also with the --global-beam heuristic, then with half the histories; pruning scales:
  those tuned for 100-best), the rescored lattice's 100 best distinct hypotheses are kept
  with their separate scores, and the same grid is tuned on dev. The oracle is taken from
  the first lattice configuration.
- Oracles: the best hypothesis of each 1000-best list and of each rescored lattice's N-best.

Time per utterance is the wall time of the LM work (scoring the N-best lists; expanding the
lattices and extracting their N-best), dev and test together, on this machine's CPU threads.
Writes REPORT/lattice_results.md and .json.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lightrnn_asr import (
    LatticeRescoreConfig,
    compute_wer,
    load_checkpoint,
    one_best,
    oracle,
    read_htk,
    read_nbest,
    read_text,
    rescore_lattices,
    score_nbest,
    tune_scales,
)
from lightrnn_asr.evaluation.report import markdown_table

sys.path.insert(0, str(Path(__file__).parent))
from evaluate import write_report  # noqa: E402
from nbest_from_lattices import first_pass_lm  # noqa: E402

SETS = ("asterisk", "synthetic", "librivox")


def nbest_1000(decode: Path) -> Path:
    out = decode / "nbest1000.txt"
    if not out.exists():
        lats = sorted(str(p) for p in (decode / "lattices").glob("*.slf"))
        subprocess.run([sys.executable, str(Path(__file__).parent / "nbest_from_lattices.py"), *lats,
                        "-n", "1000", "--out", str(out)], check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--exp", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--max-histories", type=int, default=4)
    ap.add_argument("--global-beam", type=float, default=100.0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    ck = load_checkpoint(args.exp / "lm" / "lightrnn" / "best.pt")
    fp_lm = first_pass_lm()
    results, sections = {}, []
    for s in args.sets:
        refs = {split: read_text(args.data / f"{s}_{split}" / "text") for split in ("dev", "test")}
        decode = {split: args.exp / "decode" / f"{s}_{split}" for split in ("dev", "test")}
        full = {split: read_nbest(nbest_1000(decode[split])) for split in ("dev", "test")}
        n_utts = sum(len(x) for x in full.values())
        rows, res = [], {}
        first = read_text(decode["test"] / "text")
        w = compute_wer(refs["test"], first)
        rows.append(["first pass (pocketsphinx 1-best)", f"{w.wer:.2f}", f"{w.errors}/{w.ref_words}", "", "", ""])
        res["first pass"] = {"wer": w.wer}
        prune_scales = None
        for n in (10, 100, 1000):
            t0 = time.perf_counter()
            scored = {split: score_nbest(ck.model, ck.vocab, {u: h[:n] for u, h in full[split].items()})
                      for split in ("dev", "test")}
            secs = (time.perf_counter() - t0) / n_utts
            tuned = tune_scales(scored["dev"], refs["dev"])
            if n == 100:
                prune_scales = tuned.scales
            w = compute_wer(refs["test"], one_best(scored["test"], tuned.scales))
            hyps = np.mean([len(x.words) for x in scored["test"].values()])
            rows.append([f"{n}-best rescoring", f"{w.wer:.2f}", f"{w.errors}/{w.ref_words}", f"{hyps:.0f}",
                         f"{secs:.3f}", f"{tuned.scales.lm_scale:.3g} / {tuned.scales.word_penalty:.3g} / "
                                        f"{tuned.scales.fp_lm_scale:.3g}"])
            res[f"{n}-best"] = {"wer": w.wer, "seconds_per_utt": secs, "dev_wer": tuned.best_wer,
                                "scales": dataclasses.asdict(tuned.scales)}
        lat_scored = None
        for max_histories, global_beam in ((args.max_histories, math.inf), (args.max_histories, args.global_beam),
                                           (max(1, args.max_histories // 2), math.inf)):
            cfg = LatticeRescoreConfig(ngram_order=3, max_histories=max_histories, global_beam=global_beam,
                                       scales=prune_scales)
            t0 = time.perf_counter()
            scored = {split: rescore_lattices({p.name.split(".")[0]: read_htk(p)
                                               for p in sorted((decode[split] / "lattices").glob("*.slf"))},
                                              ck.model, ck.vocab, cfg, n=100, fp_lm=fp_lm, progress=True)
                      for split in ("dev", "test")}
            secs = (time.perf_counter() - t0) / n_utts
            lat_scored = lat_scored or scored
            tuned = tune_scales(scored["dev"], refs["dev"])
            w = compute_wer(refs["test"], one_best(scored["test"], tuned.scales))
            name = (f"lattice rescoring (trigram histories, {max_histories} per state"
                    + (f", global beam {global_beam:g})" if math.isfinite(global_beam) else ")"))
            rows.append([name, f"{w.wer:.2f}", f"{w.errors}/{w.ref_words}", "lattice", f"{secs:.3f}",
                         f"{tuned.scales.lm_scale:.3g} / {tuned.scales.word_penalty:.3g} / {tuned.scales.fp_lm_scale:.3g}"])
            res[name] = {"wer": w.wer, "seconds_per_utt": secs, "dev_wer": tuned.best_wer,
                         "scales": dataclasses.asdict(tuned.scales), "max_histories": max_histories,
                         "global_beam": global_beam if math.isfinite(global_beam) else None}
        for name, scored in (("1000-best oracle", score_nbest(None, None, full["test"])),
                             ("rescored-lattice 100-best oracle", lat_scored["test"])):
            w = compute_wer(refs["test"], oracle(scored, refs["test"]))
            rows.append([name, f"{w.wer:.2f}", f"{w.errors}/{w.ref_words}", "", "", ""])
            res[name] = {"wer": w.wer}
        sections.append(f"### {s} test ({len(refs['test'])} utterances; scales tuned on {len(refs['dev'])} dev "
                        f"utterances)\n\n" + markdown_table(
                            ["system", "WER %", "errors", "hyps/utt", "LM s/utt", "lm_scale / word_penalty / "
                             "fp_lm_scale"], rows))
        results[s] = res
        print(sections[-1], flush=True)
    write_report(args.out, "lattice_results", "N-best versus lattice rescoring (recipes/pocketsphinx, "
                 "`local/lattice_eval.py`)", f"the demo LightRNN ({ck.model.num_parameters():,} parameters) + "
                 "pocketsphinx's trigram", sections, results)

if __name__ == "__main__":
    main()
