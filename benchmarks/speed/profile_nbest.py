#!/usr/bin/env python3
"""Where N-best rescoring time goes, on real lists: hypotheses/s of each trained LM on the same N-best
file (the way ``rescore`` and the recipe score them: a prefix tree on the CPU), in one run, and
torch.profiler's self-time shares of the top operators.

    python benchmarks/speed/profile_nbest.py --nbest recipes/pocketsphinx/exp/decode/synthetic_test/nbest.txt \\
        --model LightRNN recipes/pocketsphinx/exp/lm/lightrnn/best.pt \\
        --model "LSTM (adaptive)" recipes/pocketsphinx/exp/lm/adaptive/best.pt \\
        --out docs/bench/profile_nbest.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit, seconds_in_turn
from torch.profiler import ProfilerActivity, profile

from lightrnn_asr.formats.nbest import read_nbest
from lightrnn_asr.lm import load_checkpoint
from lightrnn_asr.scoring.nbest import score_nbest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nbest", type=Path, required=True)
    ap.add_argument("--model", nargs=2, action="append", metavar=("NAME", "CHECKPOINT"), required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per model, in turn (the best is kept)")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    nbest = read_nbest(args.nbest)
    n_hyps = sum(len(h) for h in nbest.values())
    n_words = sum(len(x.words) + 1 for h in nbest.values() for x in h)
    models = {name: load_checkpoint(path) for name, path in args.model}
    for ck in models.values():
        score_nbest(ck.model, ck.vocab, dict(list(nbest.items())[:20]))  # untimed set-up
    seconds = seconds_in_turn(models, lambda ck: score_nbest(ck.model, ck.vocab, nbest), args.repeats)
    for name, ck in models.items():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            score_nbest(ck.model, ck.vocab, nbest)
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        best = min(seconds[name])
        emit({"benchmark": "profile_nbest", "nbest": str(args.nbest), "model": name, "checkpoint": dict(args.model)[name],
              "parameters": ck.model.num_parameters(), "hypotheses": n_hyps, "words": n_words,
              "threads": args.threads, "seconds": seconds[name], "hyps_per_s": n_hyps / best,
              "words_per_s": n_words / best, "profiled_s": total / 1e6,
              "top": {e.key: [round(e.self_cpu_time_total / total, 3), e.count] for e in events[: args.top]}},
             args.out)


if __name__ == "__main__":
    main()
