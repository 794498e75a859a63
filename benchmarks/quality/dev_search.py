#!/usr/bin/env python3
"""The same settings search for every LM of the demo, on dev text only.

Every system of ``make demo`` (the LightRNN, the adaptive-softmax LSTM, the BPE LSTM; ``--systems``) is
trained with each of the same configurations (the same kinds and the same count: dropout x learning
rate, :data:`GRID`; the size, 200 x 1, and the adaptive softmax's cutoffs stay the recipe's; a best
configuration on the grid's edge is widened with ``--configs``, for every system alike) on the recipe's text,
vocabulary, batches and token budget (``recipes/pocketsphinx/run.sh``, stage 6), and judged by its
perplexity on the held-out novel's dev chapters (``heldout_dev.txt``). The test chapters are not
read. ``--configs`` runs other configurations the same way (the architecture options of a system,
the adaptive softmax's cutoffs), each on top of the recipe's settings. Each run appends one JSON line
(system, configuration, command, dev perplexity, parameters, tokens trained, seconds, provenance) to
``--out``, winners and losers alike; ``--table`` prints the table and each system's best configuration.

    python benchmarks/quality/dev_search.py --data recipes/pocketsphinx/data/lm --vocab recipes/pocketsphinx/exp/lm/vocab.txt \\
        --out docs/bench/dev_search.jsonl
    python benchmarks/quality/dev_search.py --table docs/bench/dev_search.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
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

from lightrnn_asr.evaluation.report import markdown_table

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "pocketsphinx" / "run.sh"
#: The grid every system gets: the same kinds, the same count.
GRID = {"--dropout": ["0.1", "0.3"], "--lr": ["1e-3", "3e-3", "1e-2"]}


def recipe_settings() -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """``(common options, {system: its options}, {system: token budget})`` read from the recipe (its options
    and own output-layer settings, budgets: at the lexicon's vocabulary), so that the search trains what
    ``make demo`` trains."""
    text = RECIPE.read_text()
    common = re.search(r'common="(.*?)"', text, re.S).group(1).split()
    i = common.index("--valid-text")
    common = common[:i] + common[i + 2:]  # the valid text is given below
    opts = {m.group(1): m.group(2).split() for m in re.finditer(r'\[(\w+)\]="(--model-type[^"]*)"', text)}
    own = dict(re.findall(r'\[(\w+)\]="([^"]*)"', re.search(r"declare -A own=\((.*?)\)\n", text, re.S).group(1)))
    opts = {system: options + own.get(system, "").split() for system, options in opts.items()}
    budgets = dict(re.findall(r"\[(\w+)\]=(\d+)", re.search(r"declare -A budget=\((.*?)\)", text).group(1)))
    return common, opts, budgets


def without(options: list[str], key: str) -> list[str]:
    """``options`` less ``key`` and its value."""
    if key not in options:
        return list(options)
    i = options.index(key)
    return options[:i] + options[i + 2:]


def with_setting(options: list[str], key: str, value: str) -> list[str]:
    out = list(options)
    if key in out:
        out[out.index(key) + 1] = value
    else:
        out += [key, value]
    return out


def run_one(system: str, config: dict[str, str], args, work: Path, lock: threading.Lock) -> None:
    common, opts, budgets = recipe_settings()
    options = opts[system]
    for key, value in config.items():  # the searched setting replaces the recipe's, wherever it is given
        common = without(common, key)
        options = with_setting(options, key, value)
    name = f"{system}-" + "-".join(f"{k.strip('-')}{v}" for k, v in config.items())
    out_dir = work / name
    cmd = ["lightrnn-asr", "train", *with_setting(common, "--threads", str(args.threads)), *options,
           "--token-budget", budgets[system], "--train-text", str(args.data / "train.txt"),
           "--valid-text", str(args.data / "valid.txt"), "--vocab", str(args.vocab), "--out-dir", str(out_dir)]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lightrnn_asr.cli", *cmd[1:]], capture_output=True, text=True)
    row = {"system": system, "config": config, "name": name, "command": " ".join(cmd), "returncode": proc.returncode,
           "seconds": time.perf_counter() - t0, "dev_text": str(args.data / "heldout_dev.txt")}
    if proc.returncode == 0:
        history = json.loads((out_dir / "history.json").read_text())
        ppl = subprocess.run([sys.executable, "-m", "lightrnn_asr.cli", "ppl", "--model", str(out_dir / "best.pt"),
                              "--text", row["dev_text"], "--json"], capture_output=True, text=True, check=True)
        dev = json.loads(ppl.stdout)
        row.update({"dev_ppl": dev["perplexity"], "parameters": dev["parameters"], "rounds": len(history),
                    "best_valid_ppl": min(h["valid_ppl"] for h in history),
                    "train_tokens": sum(h["train_tokens"] for h in history),
                    "train_seconds": sum(h["train_seconds"] for h in history),
                    "tokens_per_s": sum(h["train_tokens"] for h in history) / sum(h["train_seconds"] for h in history)})
    else:
        row["stderr"] = proc.stderr[-3000:]
    with lock:
        emit(row, args.out)
    shutil.rmtree(out_dir, ignore_errors=True)


def table(rows: list[dict]) -> str:
    """All runs, and each system's best configuration by dev perplexity."""
    body = [[r["system"], ", ".join(f"{k} {v}" for k, v in r["config"].items()), f"{r.get('dev_ppl', float('nan')):.2f}",
             f"{r.get('parameters') or 0:,}", f"{r.get('train_tokens', 0) / 1e6:.2f}M", r.get("rounds", ""),
             f"{r.get('tokens_per_s', 0):.0f}"] for r in rows]
    best = {}
    for r in rows:
        if "dev_ppl" in r and (r["system"] not in best or r["dev_ppl"] < best[r["system"]]["dev_ppl"]):
            best[r["system"]] = r
    text = markdown_table(["system", "configuration", "dev ppl", "parameters", "tokens", "rounds", "tokens/s"], body)
    text += "\n\nBest on dev: " + "; ".join(f"{s}: {', '.join(f'{k} {v}' for k, v in r['config'].items())} "
                                          f"({r['dev_ppl']:.2f})" for s, r in best.items())
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="the recipe's data/lm (train.txt, valid.txt, heldout_dev.txt)")
    ap.add_argument("--vocab", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/bench/dev_search.jsonl"))
    ap.add_argument("--systems", nargs="+", default=["lightrnn", "adaptive", "bpe"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", type=json.loads, metavar="JSON",
                    help='configurations to run instead of the grid, each on top of the recipe\'s settings, e.g. '
                         '\'[{"--col-hidden-dim": "0"}, {"--output-shortlist": "0"}]\'')
    ap.add_argument("--table", type=Path, help="print the table of this results file instead")
    args = ap.parse_args()
    if args.table:
        print(table([json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]))
        return
    if not (args.data and args.vocab):
        ap.error("--data and --vocab are needed to run")
    configs = args.configs or [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    jobs = [(s, c) for s in args.systems for c in configs]
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="dev_search.") as work:
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda job: run_one(*job, args, Path(work), lock), jobs))


if __name__ == "__main__":
    main()
