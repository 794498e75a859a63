#!/usr/bin/env python3
"""Reallocation's loss tables from a pass against tables summed during training, on a tiny model early in
training: the CLI tests' fixture (embedding 16, hidden 32, Adam at 0.01, a reallocation after each of 4
epochs; the 6 Asterisk reference prompts of ``tests/data`` x 100 plus 300 toy sentences). Appends one JSON
line per mode (command, validation perplexity per round and after each reallocation, machine, versions,
date) to ``--out``.

    python benchmarks/reliability/loss_tables_small.py --out docs/bench/loss_tables_small.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness

from harness import emit  # noqa: E402
from helpers import toy_sentences  # noqa: E402

from lightrnn_asr.formats.nbest import read_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/bench/loss_tables_small.jsonl"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="loss_tables_small.") as work:
        d = Path(work)
        refs = [" ".join(w) for w in read_text(ROOT / "tests" / "data" / "asterisk_dev_sample.ref").values()]
        (d / "train.txt").write_text("\n".join(refs * 100 + toy_sentences(300)) + "\n")
        (d / "valid.txt").write_text("\n".join(refs) + "\n")
        for mode in ("pass", "training"):
            cmd = [sys.executable, "-m", "lightrnn_asr.cli", "train", "--train-text", str(d / "train.txt"),
                   "--valid-text", str(d / "valid.txt"), "--out-dir", str(d / mode), "--embed-dim", "16",
                   "--hidden-dim", "32", "--num-layers", "1", "--rounds", "4", "--lr", "0.01", "--max-tokens", "300",
                   "--patience", "3", "--device", "cpu", "--threads", "1", "--loss-tables", mode]
            subprocess.run(cmd, check=True, capture_output=True)
            history = json.loads((d / mode / "history.json").read_text())
            row = {"loss_tables": mode,
                   "command": " ".join(cmd[2:]), "valid_ppl": [h["valid_ppl"] for h in history],
                   "valid_ppl_after_realloc": [h["realloc"]["valid_ppl_after"] for h in history if "realloc" in h],
                   "best_valid_ppl": min(h["valid_ppl"] for h in history)}
            print(f"{mode}: validation perplexity per round {[round(p, 2) for p in row['valid_ppl']]}")
            emit(row, args.out)


if __name__ == "__main__":
    main()
