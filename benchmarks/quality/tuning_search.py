"""The automatic scale search against a hand-set grid, on the pocketsphinx recipe's real N-best lists.

    python benchmarks/quality/tuning_search.py --recipe recipes/pocketsphinx --out docs/bench/tuning_search.jsonl
    python benchmarks/quality/tuning_search.py --table docs/bench/tuning_search.jsonl

Needs the outputs of ``make demo`` (stages 0-6: decoded lists and the two trained LMs). For every
evaluation set and system (trigram alone, each LM alone, each LM + trigram) the weights are tuned
on the set's dev half twice: on the grid the recipe used to carry by hand (lm_scale 0..40 step 1,
word_penalty -30..10 step 2.5, trigram weight in {0.5, 1, 2, 4, 8, 16}), and by
``tune_scales``' automatic search (no grid given). Both are applied to the test half. Then
``lightrnn-asr rescore`` itself is run with no scale option for the LightRNN + trigram system,
to check that the command line gives what the library gives. One JSON line per (set, system,
search) with dev and test WER (95% bootstrap interval), the weights, the number of weight
combinations tried and seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr import bootstrap_ci, compute_wer, load_checkpoint, one_best, read_nbest, read_text, score_nbest
from lightrnn_asr.scoring.tuning import tune_scales

SETS = ("librivox", "asterisk", "synthetic")
HAND = {"lm_scales": np.round(np.arange(0.0, 40.01, 1.0), 4), "word_penalties": np.round(np.arange(-30.0, 10.01, 2.5), 4),
        "fp_lm_scales": (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)}
LMS = {"LightRNN": "lightrnn", "LSTM (full softmax)": "lstm"}


def as_lm(scored: dict) -> dict:
    """The first-pass LM score in the ``lm`` slot (the trigram as the only LM)."""
    return {u: dataclasses.replace(x, lm=x.fp_lm, fp_lm=None) for u, x in scored.items()}


def without_fp(scored: dict) -> dict:
    return {u: dataclasses.replace(x, fp_lm=None) for u, x in scored.items()}


def hand_tune(dev, ref, with_fp: bool):
    """The recipe's former procedure: the full grid for every trigram weight, the best kept."""
    if not with_fp:
        return tune_scales(dev, ref, HAND["lm_scales"], HAND["word_penalties"])
    results = [tune_scales(dev, ref, HAND["lm_scales"], HAND["word_penalties"], [b]) for b in HAND["fp_lm_scales"]]
    best = min(results, key=lambda r: r.dev_wer)
    best.points = sum(r.points for r in results)
    return best


def table(path: Path) -> str:
    """Markdown: per set and system, the hand-set grid beside the automatic search (and the CLI)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = ["| set | system | search | dev WER | test WER [95% CI] | lm_scale / word_penalty / fp_lm_scale | "
           "points | seconds |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dev = f"{r['dev_wer']:.2f}" if "dev_wer" in r else ""
        ci = r["test_ci95"]
        out.append(f"| {r['set']} | {r['system']} | {r['search']} | {dev} | {r['test_wer']:.2f} [{ci[0]:.1f}, {ci[1]:.1f}] | "
                   f"{r['lm_scale']:.3g} / {r['word_penalty']:.3g} / {r['fp_lm_scale']:.3g} | {r.get('points', '')} | "
                   f"{r['seconds']:.1f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", type=Path, default=Path("recipes/pocketsphinx"))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--replications", type=int, default=2000)
    ap.add_argument("--table", type=Path, help="print the Markdown table of a results file and stop")
    args = ap.parse_args()
    if args.table:
        print(table(args.table))
        return
    torch.set_num_threads(2)
    data, exp = args.recipe / "data", args.recipe / "exp"
    common = {"bench": "tuning_search"}
    models = {name: load_checkpoint(exp / "lm" / d / "best.pt") for name, d in LMS.items()}
    for s in SETS:
        refs = {h: read_text(data / f"{s}_{h}" / "text") for h in ("dev", "test")}
        nbest = {h: read_nbest(exp / "decode" / f"{s}_{h}" / "nbest.txt") for h in ("dev", "test")}
        first = read_text(exp / "decode" / f"{s}_test" / "text")
        systems = {"trigram": {h: as_lm(score_nbest(None, None, nbest[h])) for h in nbest}}
        for name, ck in models.items():
            scored = {h: score_nbest(ck.model, ck.vocab, nbest[h]) for h in nbest}
            systems[name] = {h: without_fp(x) for h, x in scored.items()}
            systems[f"{name} + trigram"] = scored
        for system, scored in systems.items():
            with_fp = system.endswith("+ trigram")
            for search in ("hand grid", "auto"):
                t0 = time.perf_counter()
                tuned = hand_tune(scored["dev"], refs["dev"], with_fp) if search == "hand grid" else \
                    tune_scales(scored["dev"], refs["dev"])
                secs = time.perf_counter() - t0
                hyp = one_best(scored["test"], tuned.scales)
                ci = bootstrap_ci(refs["test"], first, hyp, replications=args.replications)["system2"]
                emit({**common, "set": s, "system": system, "search": search, "dev_utts": len(refs["dev"]),
                      "test_utts": len(refs["test"]), "dev_wer": round(tuned.dev_wer, 3),
                      "test_wer": round(compute_wer(refs["test"], hyp).wer, 3),
                      "test_ci95": [round(100 * ci["ci95min"], 2), round(100 * ci["ci95max"], 2)],
                      **dataclasses.asdict(tuned.scales), "on_edge": tuned.on_edge, "points": tuned.points,
                      "seconds": round(secs, 2)}, args.out)
        # the command line with no scale option, LightRNN + trigram
        out = Path(f"/tmp/tuning_search_{s}.1best")
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "lightrnn_asr.cli", "rescore",
                              str(exp / "decode" / f"{s}_test" / "nbest.txt"), "--dev",
                              str(exp / "decode" / f"{s}_dev" / "nbest.txt"), str(data / f"{s}_dev" / "text"),
                              "--model", str(exp / "lm" / "lightrnn" / "best.pt"), "--device", "cpu", "--out", str(out)],
                             capture_output=True, text=True, check=True)
        hyp = read_text(out)
        ci = bootstrap_ci(refs["test"], first, hyp, replications=args.replications)["system2"]
        emit({**common, "set": s, "system": "LightRNN + trigram", "search": "CLI defaults",
              "test_wer": round(compute_wer(refs["test"], hyp).wer, 3),
              "test_ci95": [round(100 * ci["ci95min"], 2), round(100 * ci["ci95max"], 2)],
              **json.loads(res.stdout.strip().splitlines()[-1]), "stderr": res.stderr.strip().splitlines()[-3:],
              "seconds": round(time.perf_counter() - t0, 2)}, args.out)


if __name__ == "__main__":
    main()
