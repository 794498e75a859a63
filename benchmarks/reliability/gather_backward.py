#!/usr/bin/env python3
"""Is the backward of a row gather the same floats every time? The LightRNN gathers per-row vectors for
every token (a row's column-state projection, a cell's bias); repeated rows' gradients are summed, and
if the order of that sum depends on thread scheduling, two runs of the same training drift apart.

Gathers ``(R, D)`` rows by ``(N, T)`` indices with repeats, three ways, and counts the distinct gradient
bit patterns over ``--repeats`` identical backward passes (1: deterministic):

    python benchmarks/reliability/gather_backward.py --threads 2 --out docs/bench/gather_backward.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(122, 400, generator=gen).requires_grad_()  # the demo's R rows x K = 400
    rows = torch.randint(0, 122, (60, 50), generator=gen)  # 3,000 tokens, as a demo batch
    grad_out = torch.randn(60, 50, 400, generator=gen)
    ways = {"indexing table[rows]": lambda: table[rows],
            "index_select": lambda: table.index_select(0, rows.reshape(-1)).view(60, 50, 400),
            "F.embedding": lambda: F.embedding(rows, table)}
    for name, gather in ways.items():
        seen = set()
        for _ in range(args.repeats):
            table.grad = None
            (gather() * grad_out).sum().backward()
            seen.add(hashlib.sha1(table.grad.numpy().tobytes()).hexdigest())
        emit({"benchmark": "gather_backward", "way": name, "threads": args.threads, "repeats": args.repeats,
              "distinct_gradients": len(seen)}, args.out)


if __name__ == "__main__":
    main()
