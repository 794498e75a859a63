#!/usr/bin/env python3
"""Training throughput of data-parallel runs: 1 process against N processes under torchrun.

Writes Zipf-distributed text, then trains one round of a LightRNN on it (no reallocation) with
``lightrnn-asr train``: one process with 1 thread, one process with all ``--threads``, and
``torchrun --standalone --nproc_per_node N`` with ``threads / N`` threads each. Throughput is the
round's tokens/s from ``history.json`` (all processes' tokens over wall time). Prints one JSON line
per configuration; ``--out`` appends them to a file.

    python benchmarks/speed/ddp_scaling.py --nproc 2 --threads 2 --out docs/bench/ddp_scaling.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

BIN = Path(sys.executable).parent


def write_text(path: Path, n_words: int, vocab_size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab_size + 1)
    ids = rng.choice(vocab_size, size=n_words, p=p / p.sum())
    cuts = np.cumsum(rng.integers(5, 30, size=n_words // 5))
    path.write_text("\n".join(" ".join(f"w{i}" for i in s) for s in np.split(ids, cuts[cuts < n_words])) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=400_000)
    ap.add_argument("--vocab-size", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=4000)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="threads in all")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_text(tmp / "train.txt", args.words, args.vocab_size, 0)
        write_text(tmp / "valid.txt", 5000, args.vocab_size, 1)
        train = ["train", "--train-text", str(tmp / "train.txt"), "--valid-text", str(tmp / "valid.txt"),
                 "--embed-dim", str(args.dim), "--hidden-dim", str(args.dim), "--num-layers", "1", "--rounds", "1",
                 "--no-realloc", "--max-tokens", str(args.max_tokens), "--device", args.device]
        configs = [(1, 1), (1, args.threads), (args.nproc, max(1, args.threads // args.nproc))]
        for nproc, threads in configs:
            out = tmp / f"exp_{nproc}_{threads}"
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            cmd = [str(BIN / "lightrnn-asr"), *train, "--out-dir", str(out), "--threads", str(threads)]
            if nproc > 1:
                cmd = [str(BIN / "torchrun"), "--standalone", f"--nproc_per_node={nproc}", *cmd]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            h = json.loads((out / "history.json").read_text())[0]
            row = {"processes": nproc, "threads_per_process": threads, "tokens": h["train_tokens"],
                   "tokens_per_s": round(h["tokens_per_s"]), "train_ppl": round(h["train_ppl"], 2),
                   "valid_ppl": round(h["valid_ppl"], 2), "vocab": args.vocab_size, "dim": args.dim,
                   "device": args.device}
            emit(row, args.out)


if __name__ == "__main__":
    main()
