#!/usr/bin/env python3
"""Time one training step and one loss-table batch of the one-step LightRNN with and without an output
shortlist (``LMConfig.output_shortlist``), on one thread, the demo's shape (|V| = 14,848, E = H = 200, column
head K = 400, 4,000 own input vectors) and a 3,000-token batch of Zipf-distributed word ids. Ratios between the
rows of one run are what it measures; each configuration is timed ``--repeats`` times, interleaved, and the
median kept. Appends one JSON line per configuration to ``--out``.

    python benchmarks/speed/output_shortlist_speed.py --out docs/bench/output_shortlist_speed.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr.lm.build import new_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=14848)
    ap.add_argument("--shortlists", type=int, nargs="+", default=[0, 1000, 2000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("docs/bench/output_shortlist_speed.jsonl"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    p = 1.0 / torch.arange(1, args.vocab + 1, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    inputs, targets = (torch.multinomial(p, 3000, replacement=True, generator=g).view(100, 30) for _ in range(2))
    mask = torch.ones_like(targets, dtype=torch.bool)
    models = {}
    for m in args.shortlists:
        torch.manual_seed(0)
        models[m] = new_model("lightrnn", args.vocab, embed_dim=200, hidden_dim=200, num_layers=1, dropout=0.1,
                              recurrence="word-sum", col_hidden_dim=400, input_shortlist=4000, output_shortlist=m)[0]
    times: dict[int, dict[str, list[float]]] = {m: {"train_step_s": [], "loss_table_batch_s": []} for m in models}
    for _ in range(args.repeats):
        for m, model in models.items():
            model.train()
            t0 = time.perf_counter()
            model.loss(inputs, targets, mask).backward()
            times[m]["train_step_s"].append(time.perf_counter() - t0)
            model.eval()
            with torch.no_grad():
                t0 = time.perf_counter()
                model.row_col_logprobs(inputs, targets)
                times[m]["loss_table_batch_s"].append(time.perf_counter() - t0)
    for m, t in times.items():
        row = {"threads": 1, "vocab": args.vocab, "batch_tokens": 3000,
               "text": "synthetic Zipf", "output_shortlist": m, "repeats": args.repeats,
               **{k: statistics.median(v) for k, v in t.items()}}
        emit(row, args.out)


if __name__ == "__main__":
    main()
