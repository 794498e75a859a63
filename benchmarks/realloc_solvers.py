#!/usr/bin/env python3
"""Reallocation solvers: total cost and wall time, exact versus alternating.

Loss tables are synthetic (Zipf-scaled uniform costs, a hard case for local
search) unless --tables gives a file saved from a real model, a dict with
``row_loss`` (V, R), ``col_loss`` (V, C), ``cell`` (V,), ``n_rows``, ``n_cols``
(e.g. ``torch.save`` of :func:`lightrnn_asr.reallocation.loss_tables` output and
the current table). Prints one JSON line per problem.

    python benchmarks/realloc_solvers.py --sizes 1000 3000 8000
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import scipy
import torch

from lightrnn_asr.reallocation import allocation_cost, solve_alternating, solve_exact
from lightrnn_asr.table import WordTable, table_shape


def synthetic(v: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    r, c = table_shape(v)
    scale = (1000.0 / torch.arange(1, v + 1, dtype=torch.float64))[:, None]
    return (torch.rand(v, r, generator=g, dtype=torch.float64) * scale,
            torch.rand(v, c, generator=g, dtype=torch.float64) * scale, WordTable.sequential(v))


def run(name, row_loss, col_loss, init, exact: bool) -> dict:
    out = {"problem": name, "vocab": row_loss.shape[0], "rows": init.n_rows, "cols": init.n_cols,
           "cost_start": allocation_cost(row_loss, col_loss, init)}
    t = time.perf_counter()
    alt = solve_alternating(row_loss, col_loss, init.n_rows, init.n_cols, init=init)
    out.update(alternating_s=round(time.perf_counter() - t, 2), cost_alternating=allocation_cost(row_loss, col_loss, alt))
    if exact:
        t = time.perf_counter()
        ex = solve_exact(row_loss, col_loss, init.n_rows, init.n_cols)
        out.update(exact_s=round(time.perf_counter() - t, 2), cost_exact=allocation_cost(row_loss, col_loss, ex))
        out["alternating_gap_pct"] = round(100 * (out["cost_alternating"] / out["cost_exact"] - 1), 3)
    out.update(peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
               torch=torch.__version__, scipy=scipy.__version__, machine=platform.machine())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 3000, 8000])
    ap.add_argument("--tables", help="real loss tables (see above)")
    ap.add_argument("--no-exact", action="store_true")
    args = ap.parse_args()
    for v in args.sizes:
        print(json.dumps(run("synthetic-zipf", *synthetic(v, v), exact=not args.no_exact)), flush=True)
    if args.tables:
        d = torch.load(args.tables, weights_only=True)
        init = WordTable(d["cell"], d["n_rows"], d["n_cols"])
        print(json.dumps(run(args.tables, d["row_loss"], d["col_loss"], init, exact=not args.no_exact)), flush=True)


if __name__ == "__main__":
    main()
