#!/usr/bin/env python3
"""Reallocation solvers side by side: total cost, wall time and peak memory.

For every problem the solvers run on the same loss tables, each in its own
process (so that peak RSS is the solver's, tables included). Costs are
reported relative to the exact optimum where it is computed, to the greedy
baseline, and to the relaxation lower bound (a certificate: no allocation
costs less), which is what remains at |V| = 1M.

Synthetic tables (``--kinds``) have Zipf-scaled magnitudes (count of the
word of rank i ~ 1/i) and either uniform noise or an LM-like structure (a
shared preference for some rows/columns plus Gaussian noise, like the loss
tables of a trained model). ``--tables FILE`` adds real tables: a dict with
``row_loss`` (V, R), ``col_loss`` (V, C), ``cell`` (V,), ``n_rows``,
``n_cols`` (see ``--dump-tables``). Tables from 500K words on are stored in
bfloat16 (2 bytes an entry: 4 GB at |V| = 1M) unless ``--dtype`` says otherwise.

    python benchmarks/speed/realloc_solvers.py --sizes 1000 3000 10000 100000 1000000 \\
        --out docs/bench/realloc_solvers.jsonl
    python benchmarks/speed/realloc_solvers.py --dump-tables lm.pt train.txt tables.pt
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import scipy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit, peak_rss_bytes

from lightrnn_asr.lm.table import WordTable, table_shape
from lightrnn_asr.training.assignment import allocation_cost, lower_bound
from lightrnn_asr.training.reallocation import SOLVERS


def synthetic(v: int, kind: str, seed: int, dtype: torch.dtype):
    """``(row_loss, col_loss, init)`` with Zipf-scaled magnitudes, generated in chunks into ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    n_rows, n_cols = table_shape(v)
    tables = []
    for n in (n_rows, n_cols):
        pref = torch.rand(n, generator=g) * 3
        out = torch.empty(v, n, dtype=dtype)
        for s in range(0, v, 1 << 16):
            counts = (1e6 / torch.arange(s + 1, min(v, s + (1 << 16)) + 1, dtype=torch.float32))[:, None]
            if kind == "uniform":
                noise = torch.rand(counts.shape[0], n, generator=g)
            else:
                noise = pref + torch.randn(counts.shape[0], n, generator=g)
            out[s : s + (1 << 16)] = (counts * noise).to(dtype)
        tables.append(out)
    return tables[0], tables[1], WordTable.random(v, g)


def load_problem(spec: dict):
    if spec["kind"] == "real":
        d = torch.load(spec["path"], weights_only=True)
        return d["row_loss"], d["col_loss"], WordTable(d["cell"], d["n_rows"], d["n_cols"])
    return synthetic(spec["vocab"], spec["kind"], spec["vocab"], getattr(torch, spec["dtype"]))


def run_one(spec: dict, solver: str, queue) -> None:
    torch.set_num_threads(spec["threads"])
    row_loss, col_loss, init = load_problem(spec)
    stats: dict = {}
    t = time.perf_counter()
    if solver == "lower_bound":
        cost = lower_bound(row_loss, col_loss, rel_eps=1e-4, tail=1e-5)
    else:
        kwargs = {"stats": stats, **spec["options"][solver]} if solver in spec.get("options", {}) else {}
        table = SOLVERS[solver](row_loss, col_loss, init.n_rows, init.n_cols, init=init, **kwargs)
        cost = allocation_cost(row_loss, col_loss, table)
    seconds = time.perf_counter() - t
    queue.put({"solver": solver, "cost": cost, "seconds": round(seconds, 2),
               "start_cost": allocation_cost(row_loss, col_loss, init),
               "peak_rss_gb": round(peak_rss_bytes() / 2**30, 2),
               **{k: stats[k] for k in ("lower_bound", "costs") if k in stats},
               **({"step_seconds": stats["seconds"]} if "seconds" in stats else {})})


def run_problem(spec: dict, solvers: list[str]) -> dict:
    ctx = mp.get_context("spawn")
    out = dict(spec)
    for solver in solvers:
        queue = ctx.Queue()
        p = ctx.Process(target=run_one, args=(spec, solver, queue))
        p.start()
        res = queue.get()
        p.join()
        out[solver] = res
        print(f"  {spec['name']} {solver}: cost {res['cost']:.6g} in {res['seconds']} s, "
              f"peak {res['peak_rss_gb']} GiB", file=sys.stderr, flush=True)
    ref = out.get("exact", {}).get("cost")
    greedy = out.get("greedy", {}).get("cost")
    bound = out.get("lower_bound", {}).get("cost", out.get("transport", {}).get("lower_bound"))
    for solver in solvers:
        if solver == "lower_bound":
            continue
        c = out[solver]["cost"]
        if ref is not None:
            out[solver]["vs_exact_pct"] = round(100 * (c - ref) / abs(ref), 3)
        if greedy is not None:
            out[solver]["vs_greedy_pct"] = round(100 * (c - greedy) / abs(greedy), 3)
        if bound is not None and bound > float("-inf"):
            out[solver]["vs_lower_bound_pct"] = round(100 * (c - bound) / abs(bound), 3)
    return out


def markdown(path: str) -> str:
    """A Markdown table of a results file: cost relative to exact / greedy / lower bound, seconds, GiB."""
    lines = ["| problem | |V| | dtype | solver | vs exact | vs greedy | vs lower bound | seconds | peak GiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in map(json.loads, open(path)):
        for solver in ("exact", "greedy", "alternating", "transport", "rows-columns", "lower_bound"):
            if "cost" not in row.get(solver, {}):
                continue
            r = row[solver]
            pct = [f"{r[k]:+.2f}%" if k in r else "" for k in ("vs_exact_pct", "vs_greedy_pct", "vs_lower_bound_pct")]
            lines.append(f"| {row['kind']} | {row['vocab']:,} | {row['dtype']} | {solver} | {' | '.join(pct)} | "
                         f"{r['seconds']} | {r['peak_rss_gb']} |")
    return "\n".join(lines)


def dump_tables(model_path: str, text: str, out_path: str) -> None:
    """Loss tables of a trained LightRNN on a text, saved for ``--tables``."""
    from lightrnn_asr.lm.checkpoint import load_checkpoint
    from lightrnn_asr.text.corpus import encode_corpus
    from lightrnn_asr.training.reallocation import loss_tables

    ck = load_checkpoint(model_path, expect_type="lightrnn")
    corpus = encode_corpus(text, ck.vocab, max_len=40)
    row_loss, col_loss = loss_tables(ck.model, corpus, progress=True)
    torch.save({"row_loss": row_loss, "col_loss": col_loss, "cell": ck.table.cell,
                "n_rows": ck.table.n_rows, "n_cols": ck.table.n_cols}, out_path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 3000, 10000])
    ap.add_argument("--kinds", nargs="*", default=["lm", "uniform"], choices=["lm", "uniform"])
    ap.add_argument("--tables", nargs="*", default=[], help="real loss tables (see above)")
    ap.add_argument("--solvers", nargs="*", default=["exact", "greedy", "alternating", "transport", "rows-columns"],
                    help="solver names, and lower_bound for the relaxation bound on its own")
    ap.add_argument("--exact-max", type=int, default=3000, help="largest |V| for the exact solver")
    ap.add_argument("--alternating-max", type=int, default=100000, help="largest |V| for alternating")
    ap.add_argument("--dtype", default=None, help="table dtype (default float32, bfloat16 from 500K words)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=8, help="transport: candidate rows/columns per word")
    ap.add_argument("--rounds", type=int, default=3, help="transport: refinement rounds")
    ap.add_argument("--sweeps", type=int, default=0, help="rows-columns: alternating sweeps")
    ap.add_argument("--out", help="append JSON lines here")
    ap.add_argument("--dump-tables", nargs=3, metavar=("MODEL", "TEXT", "OUT"))
    ap.add_argument("--markdown", metavar="JSONL", help="print a results file as a Markdown table and exit")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    if args.dump_tables:
        dump_tables(*args.dump_tables)
        return
    options = {"transport": {"k": args.k, "rounds": args.rounds}, "rows-columns": {"sweeps": args.sweeps}}
    specs = [{"name": f"{kind}-{v}", "kind": kind, "vocab": v, "threads": args.threads, "options": options,
              "dtype": args.dtype or ("bfloat16" if v >= 500_000 else "float32")}
             for v in args.sizes for kind in args.kinds]
    for path in args.tables:
        v = torch.load(path, weights_only=True)["cell"].numel()
        specs.append({"name": f"real:{path}", "kind": "real", "path": path, "vocab": v, "threads": args.threads,
                      "options": options, "dtype": "as stored"})
    env = {"scipy": scipy.__version__}
    try:
        import ortools

        env["ortools"] = ortools.__version__
    except ImportError:
        pass
    for spec in specs:
        solvers = [s for s in args.solvers
                   if not (s == "exact" and spec["vocab"] > args.exact_max)
                   and not (s == "alternating" and spec["vocab"] > args.alternating_max)]
        row = {**run_problem(spec, solvers), **env}
        emit(row, args.out)


if __name__ == "__main__":
    main()
