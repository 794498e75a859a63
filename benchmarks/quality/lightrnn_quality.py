#!/usr/bin/env python3
"""Ablation study of LightRNN training on real text, with the LSTM baselines under the same budget.

Every run is ``lightrnn-asr train`` on the same text, vocabulary and batches, trained until
validation perplexity stops improving (``--patience 2``: a round without improvement halves the
learning rate, a second one stops) or until its time budget (``--time-budget``) is spent, then
``lightrnn-asr ppl`` of its ``best.pt`` on the held-out text. Runs go ``--workers`` at a time, each
on ``--threads`` torch threads, so that every run sees the same share of the machine. Each run
appends one JSON line (config, command, seconds, validation perplexity per epoch and round with the
training time spent, held-out perplexity, machine, versions, date) to ``--out``, winners and losers
alike.

    python benchmarks/quality/lightrnn_quality.py --data recipes/pocketsphinx/data/lm \\
        --vocab recipes/pocketsphinx/exp/lm/vocab.txt --out docs/bench/lightrnn_quality.jsonl
    python benchmarks/quality/lightrnn_quality.py --table docs/bench/lightrnn_quality.jsonl --plot docs/img/lightrnn_quality.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

#: The demo's recipe (recipes/pocketsphinx/run.sh, stage 6) that every run starts from.
BASE = {"--model-type": "lightrnn", "--recurrence": "word-sum", "--embed-dim": "200", "--hidden-dim": "200",
        "--num-layers": "1", "--dropout": "0.1", "--rounds": "100", "--epochs-per-round": "1", "--lr": "3e-3",
        "--max-tokens": "3000", "--max-len": "40", "--solver": "alternating", "--patience": "2",
        "--keep-optimizer": None,
        # explicit: train has since adopted what won
        "--col-hidden-dim": "0", "--loss-tables": "pass", "--input-shortlist": "0",
        "--output-shortlist": "0"}

WORD_LIST = "/usr/share/dict/american-english-huge"
WORD_LIST_100K = "/usr/share/dict/american-english"
#: name -> (group, what differs from BASE; a value None is a flag)
RUNS: dict[str, tuple[str, dict]] = {
    "lightrnn": ("LightRNN", {}),
    "lightrnn-no-realloc": ("reallocation", {"--no-realloc": None}),
    "lightrnn-converge": ("reallocation", {"--epochs-per-round": "0"}),
    "lightrnn-reset-opt": ("reallocation", {"--reset-optimizer": None}),
    "lightrnn-converge-reset": ("reallocation", {"--epochs-per-round": "0", "--reset-optimizer": None}),
    "lightrnn-random-alloc": ("reallocation", {"--initial-allocation": "random"}),
    "lightrnn-cntk": ("reallocation", {"--epochs-per-round": "0", "--reset-optimizer": None, "--dropout": "0.5",
                                       "--initial-allocation": "random"}),
    "lightrnn-dropout0.3": ("regularisation", {"--dropout": "0.3"}),
    "lightrnn-dropout0.5": ("regularisation", {"--dropout": "0.5"}),
    "lightrnn-tied": ("regularisation", {"--tie-weights": None}),
    "lightrnn-word-bias": ("output layer", {"--word-bias": None}),
    # what won alone, together (each ~2 % better than the demo's recipe at 720 s)
    "lightrnn-best": ("LightRNN", {"--reset-optimizer": None, "--initial-allocation": "random", "--tie-weights": None,
                                   "--word-bias": None}),
    # a table with more cells than words (empty cells masked by the word bias): fewer words per row/column vector
    "lightrnn-wb-random": ("table size", {"--word-bias": None, "--initial-allocation": "random"}),
    "lightrnn-wb-scale2": ("table size", {"--word-bias": None, "--initial-allocation": "random", "--table-scale": "2"}),
    "lightrnn-wb-scale4": ("table size", {"--word-bias": None, "--initial-allocation": "random", "--table-scale": "4"}),
    "lightrnn-no-lr-decay": ("optimisation", {"--lr-decay": "1.0"}),
    # the demo's recipe as it stands (a fresh optimizer after every reallocation) and changes to it at a
    # short budget: loss tables summed during training, the larger table, the learning rate
    "lightrnn-lt-training": ("short budget", {"--reset-optimizer": None, "--loss-tables": "training"}),
    "lightrnn-wb-scale2-reset": ("short budget", {"--reset-optimizer": None, "--word-bias": None,
                                                  "--initial-allocation": "random", "--table-scale": "2"}),
    "lightrnn-wb-scale2-lt": ("short budget", {"--reset-optimizer": None, "--word-bias": None, "--initial-allocation":
                                               "random", "--table-scale": "2", "--loss-tables": "training"}),
    "lightrnn-lr6e-3": ("short budget", {"--reset-optimizer": None, "--lr": "6e-3"}),
    "lightrnn-lr1.5e-3": ("short budget", {"--reset-optimizer": None, "--lr": "1.5e-3"}),
    "lightrnn-col400": ("column head", {"--reset-optimizer": None, "--col-hidden-dim": "400"}),
    "lightrnn-col800": ("column head", {"--reset-optimizer": None, "--col-hidden-dim": "800"}),
    "lightrnn-col400-keep": ("column head", {"--col-hidden-dim": "400"}),
    "lightrnn-col800-keep": ("column head", {"--col-hidden-dim": "800"}),
    # the demo's recipe with the new head: a reallocation every 2 epochs, or none (the first reallocation
    # costs more with the wider head; at a short budget it is a large share of the training)
    "lightrnn-col400-epr2": ("column head", {"--reset-optimizer": None, "--col-hidden-dim": "400",
                                             "--epochs-per-round": "2"}),
    "lightrnn-col400-no-realloc": ("column head", {"--col-hidden-dim": "400", "--no-realloc": None}),
    # the short-budget changes of the former head, with the new one
    "lightrnn-col400-lt": ("column head", {"--reset-optimizer": None, "--col-hidden-dim": "400",
                                           "--loss-tables": "training"}),
    "lightrnn-col400-random-alloc": ("column head", {"--reset-optimizer": None, "--col-hidden-dim": "400",
                                                     "--initial-allocation": "random"}),
    "lightrnn-col400-wb-scale2-lt": ("column head", {"--reset-optimizer": None, "--col-hidden-dim": "400",
                                     "--word-bias": None, "--initial-allocation": "random", "--table-scale": "2",
                                     "--loss-tables": "training"}),
    "lightrnn-col800-wb-scale2-lt": ("column head", {"--reset-optimizer": None, "--col-hidden-dim": "800",
                                     "--word-bias": None, "--initial-allocation": "random", "--table-scale": "2",
                                     "--loss-tables": "training"}),
    # the N most frequent words with an input vector of their own (row + column + own), the output unchanged
    **{f"lightrnn-col400-sl{n}": ("input shortlist", {"--reset-optimizer": None, "--col-hidden-dim": "400",
                                                     "--input-shortlist": str(n)}) for n in (1000, 4000, 14848)},
    **{f"lightrnn-col400-sl4000-dropout{p}": ("input shortlist", {"--reset-optimizer": None, "--col-hidden-dim": "400",
                                                               "--input-shortlist": "4000", "--dropout": p})
       for p in ("0.2", "0.3")},
    "lightrnn-h300-col600-sl4000-dropout0.3": ("input shortlist", {
        "--reset-optimizer": None, "--embed-dim": "300", "--hidden-dim": "300", "--col-hidden-dim": "600",
        "--input-shortlist": "4000", "--dropout": "0.3"}),
    # and the N most frequent words predicted by an output vector of their own, beside the rows
    **{f"lightrnn-col400-sl4000-osl{n}{d}": ("output shortlist", {
        "--reset-optimizer": None, "--col-hidden-dim": "400", "--input-shortlist": "4000", "--output-shortlist": str(n),
        **({"--dropout": d[len("-dropout"):]} if d else {})}) for n in (500, 1000, 2000, 4000) for d in ("", "-dropout0.3")},
    **{f"lightrnn-h300-col600-sl4000-osl{n}-dropout0.3": ("output shortlist", {
        "--reset-optimizer": None, "--embed-dim": "300", "--hidden-dim": "300", "--col-hidden-dim": "600",
        "--input-shortlist": "4000", "--output-shortlist": str(n), "--dropout": "0.3"}) for n in (1000, 2000)},
    **{f"lightrnn-col400-sl4000-osl1000{d}-lt": ("output shortlist", {
        "--reset-optimizer": None, "--col-hidden-dim": "400", "--input-shortlist": "4000", "--output-shortlist": "1000",
        "--loss-tables": "training", **({"--dropout": d[len("-dropout"):]} if d else {})}) for d in ("", "-dropout0.3")},
    "lightrnn-h400": ("trunk", {"--embed-dim": "400", "--hidden-dim": "400"}),
    "lightrnn-h400-dropout0.3": ("trunk", {"--embed-dim": "400", "--hidden-dim": "400", "--dropout": "0.3"}),
    "lightrnn-h800-dropout0.3": ("trunk", {"--embed-dim": "800", "--hidden-dim": "800", "--dropout": "0.3"}),
    "lightrnn-2layers": ("trunk", {"--num-layers": "2"}),
    "lightrnn-halfword": ("trunk", {"--recurrence": "halfword"}),
    "adaptive": ("LSTM baselines", {"--model-type": "adaptive"}),
    "adaptive-dropout0.3": ("LSTM baselines", {"--model-type": "adaptive", "--dropout": "0.3"}),
    "adaptive-h400-dropout0.3": ("LSTM baselines", {"--model-type": "adaptive", "--embed-dim": "400",
                                                    "--hidden-dim": "400", "--dropout": "0.3"}),
    "lstm": ("LSTM baselines", {"--model-type": "lstm"}),
    # |V| = the text's vocabulary plus every word of Debian's wamerican-huge list (~340K more words, most
    # never in the text): where a factorised output layer should pay (``apt-get install wamerican-huge``)
    "lightrnn-wordlist": ("vocabulary size", {"--word-list": WORD_LIST}),
    "adaptive-wordlist": ("vocabulary size", {"--model-type": "adaptive", "--word-list": WORD_LIST}),
    # the same with Debian's wamerican (~89K more words, |V| ~100K)
    "lightrnn-wordlist-100k": ("vocabulary size", {"--word-list": WORD_LIST_100K}),
    "lightrnn-col400-wordlist-100k": ("vocabulary size", {"--col-hidden-dim": "400", "--word-list": WORD_LIST_100K}),
    "adaptive-wordlist-100k": ("vocabulary size", {"--model-type": "adaptive", "--word-list": WORD_LIST_100K}),
    "lstm-dropout0.3": ("LSTM baselines", {"--model-type": "lstm", "--dropout": "0.3"}),
}
#: What a plain run does, longest first (the full softmax gets a longer budget: at 0.15x the LightRNN's
#: tokens/s it would see about 2 epochs in the others' budget).
DEFAULT_RUNS = ["lstm", "adaptive-h400-dropout0.3", "lightrnn-h400", "lightrnn", "lightrnn-no-realloc",
                "lightrnn-converge", "lightrnn-reset-opt", "lightrnn-random-alloc", "lightrnn-cntk",
                "lightrnn-dropout0.3", "lightrnn-dropout0.5", "lightrnn-tied", "lightrnn-no-lr-decay",
                "lightrnn-2layers", "adaptive", "adaptive-dropout0.3"]
BUDGETS = {"lstm": 2400.0, "lstm-dropout0.3": 2400.0}


def command(name: str, data: Path, vocab: Path, out_dir: Path, budget: float, threads: int,
            backward: bool = False) -> list[str]:
    args = {**BASE, **RUNS[name][1], **({"--backward": None} if backward else {})}
    cmd = [sys.executable, "-m", "lightrnn_asr.cli", "train", "--train-text", str(data / "train.txt"),
           "--valid-text", str(data / "valid.txt"), "--vocab", str(vocab), "--out-dir", str(out_dir),
           "--threads", str(threads), "--time-budget", str(budget)]
    if "--reset-optimizer" in args:
        args.pop("--keep-optimizer", None)
    for key, value in args.items():
        cmd += [key] if value is None else [key, value]
    return cmd


def run_one(name: str, args, work: Path, lock: threading.Lock) -> dict:
    out_dir = work / name
    shutil.rmtree(out_dir, ignore_errors=True)
    budget = BUDGETS.get(name, args.budget) if args.full_softmax_budget is None or not name.startswith("lstm") \
        else args.full_softmax_budget
    cmd = command(name, args.data, args.vocab, out_dir, budget, args.threads, args.backward)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    row = {"threads": args.threads, "workers": args.workers,
           "name": name + ("-backward" if args.backward else ""), "group": RUNS[name][0],
           "config": {**BASE, **RUNS[name][1], **({"--backward": None} if args.backward else {})}, "budget_s": budget,
           "train_text": str(args.data / "train.txt"), "valid_text": str(args.data / "valid.txt"),
           "heldout_text": str(args.data / "heldout_dev.txt"), "command": " ".join(cmd[2:]), "seconds": seconds,
           "returncode": proc.returncode}
    if proc.returncode == 0:
        history = json.loads((out_dir / "history.json").read_text())
        ppl = subprocess.run([sys.executable, "-m", "lightrnn_asr.cli", "ppl", "--model", str(out_dir / "best.pt"),
                              "--text", str(args.data / "heldout_dev.txt"), "--json"], capture_output=True, text=True)
        if ppl.returncode != 0:  # keep the run's history all the same
            row["ppl_stderr"] = ppl.stderr[-3000:]
        held = json.loads(ppl.stdout) if ppl.returncode == 0 else {"perplexity": float("nan"), "parameters": None}
        row.update({"history": history, "rounds": len(history), "epochs": sum(len(h["epochs"]) for h in history),
                    "train_s": history[-1]["elapsed_s"], "hit_budget": 0 < budget <= history[-1]["elapsed_s"],
                    "best_valid_ppl": min(h["valid_ppl"] for h in history), "heldout_ppl": held["perplexity"],
                    "parameters": held["parameters"],
                    "tokens_per_s": sum(h["train_tokens"] for h in history) / sum(h["train_seconds"] for h in history)})
    else:
        row["stderr"] = proc.stderr[-3000:]
    with lock:
        print(f"{name}: held-out ppl {row.get('heldout_ppl', float('nan')):.1f}, {seconds:.0f} s", flush=True)
        emit(row, args.out)
    if args.keep_models and proc.returncode == 0:
        keep = args.keep_models / name
        keep.mkdir(parents=True, exist_ok=True)
        for f in ("best.pt", "history.json"):
            shutil.copy2(out_dir / f, keep / f)
    shutil.rmtree(out_dir, ignore_errors=True)
    return row


def curve(row: dict) -> tuple[list[float], list[float]]:
    """(training seconds, validation perplexity) at every validation of a run, reallocations included."""
    xs, ys = [], []
    for rec in row["history"]:
        for ep in rec["epochs"]:
            if "valid_ppl" in ep:
                xs.append(ep["elapsed_s"])
                ys.append(ep["valid_ppl"])
        if "realloc" in rec:
            xs.append(rec["elapsed_s"] + rec["realloc"]["seconds"])
            ys.append(rec["realloc"]["valid_ppl_after"])
    return xs, ys


def table(rows: list[dict]) -> str:
    lines = ["| run | group | differs from the demo's recipe | parameters | epochs | rounds | train s | converged "
             "| tokens/s | best valid ppl | held-out ppl |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["returncode"]:
            lines.append(f"| {r['name']} | {r['group']} | failed (exit {r['returncode']}) | | | | | | | | |")
            continue
        base = r["name"].removesuffix("-backward")
        diff = " ".join(k.lstrip("-") + ("" if v is None else f" {v}") for k, v in
                        {**RUNS.get(base, ("", {}))[1], **({"--backward": None} if base != r["name"] else {})}.items())
        lines.append(f"| {r['name']} | {r['group']} | {diff or '-'} | {r['parameters']:,} | {r['epochs']} | {r['rounds']} "
                     f"| {r['train_s']:.0f} | {'no (budget)' if r['hit_budget'] else 'yes'} | {r['tokens_per_s']:,.0f} "
                     f"| {r['best_valid_ppl']:.1f} | {r['heldout_ppl']:.1f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({r["group"] for r in rows if not r["returncode"]})
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4), sharey=True, squeeze=False)
    reference = next((r for r in rows if r["name"] == "lightrnn" and not r["returncode"]), None)
    for ax, group in zip(axes[0], groups):
        for r in rows:
            if r["returncode"] or (r["group"] != group and r is not reference):
                continue
            xs, ys = curve(r)
            ax.plot(xs, ys, marker=".", label=r["name"], linestyle="--" if r is reference and group != r["group"] else "-")
        ax.set_title(group)
        ax.set_xlabel("training seconds (reallocation included)")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation perplexity")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="a directory with train.txt, valid.txt and heldout_dev.txt")
    ap.add_argument("--vocab", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/bench/lightrnn_quality.jsonl"))
    ap.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=DEFAULT_RUNS)
    ap.add_argument("--budget", type=float, default=720.0,
                    help="training seconds per run (default 720; 0: until validation perplexity stops improving)")
    ap.add_argument("--full-softmax-budget", type=float, default=None,
                    help=f"training seconds of the full-softmax runs (default {BUDGETS['lstm']:.0f})")
    ap.add_argument("--keep-models", type=Path, metavar="DIR",
                    help="copy each run's best.pt and history.json to DIR/RUN/ (e.g. to rescore with them)")
    ap.add_argument("--backward", action="store_true",
                    help="train backward LMs (train --backward); their perplexities are of the text read right to left")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", type=Path, help="print the table of this results file (and --plot) instead")
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    if args.table:
        rows = [json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]
        print(table(rows))
        if args.plot:
            plot(rows, args.plot)
        return
    if not (args.data and args.vocab):
        ap.error("--data and --vocab are needed to run")
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="lightrnn_quality.") as work:
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda n: run_one(n, args, Path(work), lock), args.runs))


if __name__ == "__main__":
    main()
