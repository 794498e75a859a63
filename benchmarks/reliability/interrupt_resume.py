#!/usr/bin/env python3
"""Kill a training run at random moments, resume it each time, and compare with an uninterrupted run.

A small LightRNN is trained with ``lightrnn-asr train`` on synthetic sentences (a toy grammar,
1,500 sentences; 6 rounds with reallocation). One run goes uninterrupted. Another is killed
with SIGKILL, SIGTERM or SIGINT (chosen at random) after a random delay, again and again,
and restarted with ``--resume`` until it finishes. Checkpoints must stay readable after
every kill, and the final weights and allocation must equal the uninterrupted run's,
bit for bit. Prints one JSON line.

    python benchmarks/reliability/interrupt_resume.py --kills 20
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr.lm.checkpoint import load_checkpoint

SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the old man"]
VERBS = ["sees", "likes", "follows", "calls"]
OBJECTS = ["the ball", "a tree", "the house", "her sister", "the river"]


def sentences(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "\n".join(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}" for _ in range(n)) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "train.txt").write_text(sentences(1500, 0))
        (tmp / "valid.txt").write_text(sentences(50, 1))

        def cmd(out: Path) -> list[str]:
            return [sys.executable, "-m", "lightrnn_asr.cli", "train", "--train-text", str(tmp / "train.txt"),
                    "--valid-text", str(tmp / "valid.txt"), "--out-dir", str(out), "--rounds", "6",
                    "--epochs-per-round", "8", "--patience", "6", "--embed-dim", "16", "--hidden-dim", "32",
                    "--num-layers", "1", "--dropout", "0.1", "--lr", "0.01", "--max-tokens", "400", "--seed", "7",
                    "--device", "cpu", "--threads", "1"]

        t0 = time.perf_counter()
        subprocess.run(cmd(tmp / "full"), check=True, capture_output=True)
        full_seconds = time.perf_counter() - t0
        out, kills, by_signal, rounds_at_kill, done = tmp / "killed", 0, {}, [], False
        while not done:
            extra = ["--resume"] if (out / "last.pt").exists() else []
            proc = subprocess.Popen(cmd(out) + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if kills < args.kills:
                try:
                    proc.wait(timeout=rng.uniform(2.0, 0.4 * full_seconds))
                except subprocess.TimeoutExpired:
                    sig = rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
                    proc.send_signal(sig)
                    proc.wait()
                    kills += 1
                    by_signal[sig.name] = by_signal.get(sig.name, 0) + 1
                    if (out / "last.pt").exists():
                        rounds_at_kill.append(load_checkpoint(out / "last.pt").train_state["round"])  # readable
                    continue
            else:
                proc.wait()
            done = proc.returncode == 0 and (out / "last.pt").exists() and \
                load_checkpoint(out / "last.pt").train_state["round"] == 5
        a, b = load_checkpoint(tmp / "full" / "last.pt"), load_checkpoint(out / "last.pt")
        sa, sb = a.model.state_dict(), b.model.state_dict()
        identical = all(torch.equal(sa[k], sb[k]) for k in sa) and torch.equal(a.table.cell, b.table.cell)
        emit({
            "kills": kills, "by_signal": by_signal, "last_round_saved_at_each_kill": rounds_at_kill,
            "final_weights_identical": identical, "final_valid_ppl": b.train_state["best_ppl"],
            "uninterrupted_seconds": round(full_seconds, 1), }, None)
        if not identical:
            sys.exit(1)


if __name__ == "__main__":
    main()
