#!/usr/bin/env python3
"""The spread of training: the demo's LMs retrained with other seeds, everything else the recipe's, each
seed's LMs then evaluated as ``make demo``'s stage 7 does, so that the verdicts of one run (a paired
bootstrap over test sentences, which knows nothing of how the LMs came out) can be set beside those of
other equally good runs.

For each ``--seed``, in ``WORK/seedN/exp``: the demo's first pass (``exp/decode``, linked) and vocabulary, the
LightRNN, the adaptive-softmax LSTM and the BPE LSTM trained with ``lightrnn-asr train`` exactly as
``recipes/pocketsphinx/run.sh`` trains them (options and token budgets read from it:
``quality.dev_search.recipe_settings``) plus ``--seed N`` (the recipe's: 0), then the recipe's
``local/evaluate.py``. Each seed's report is copied to ``docs/bench/demo_repeats/`` with its seed
(``training_seed``), where ``make results`` sets it beside the other runs of the recipe.

    python benchmarks/reliability/seed_spread.py --demo recipes/pocketsphinx --seed 1 --seed 2 --work /tmp/seeds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from quality.dev_search import recipe_settings

from lightrnn_asr.utils.provenance import provenance

ROOT = Path(__file__).resolve().parents[2]
REPEATS = ROOT / "docs" / "bench" / "demo_repeats"
SYSTEMS = ("lightrnn", "adaptive", "bpe")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, required=True, help="the recipe directory after make demo")
    ap.add_argument("--seed", type=int, action="append", required=True, help="a training seed (repeatable)")
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    prov = provenance()  # at the start: the commit this run loaded
    common, opts, budget = recipe_settings()
    demo = args.demo.resolve()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for seed in args.seed:
        exp = (args.work / f"seed{seed}" / "exp").resolve()
        (exp / "lm").mkdir(parents=True, exist_ok=True)
        if not (exp / "decode").exists():
            (exp / "decode").symlink_to(demo / "exp" / "decode")
        (exp / "lm" / "vocab.txt").write_bytes((demo / "exp" / "lm" / "vocab.txt").read_bytes())
        for system in SYSTEMS:
            out = exp / "lm" / system
            if (out / ".done").exists():
                continue
            subprocess.run(["lightrnn-asr", "train", "--valid-text", str(demo / "data" / "lm" / "valid.txt"), *common,
                            *opts[system], "--token-budget", budget[system], "--seed", str(seed),
                            "--train-text", str(demo / "data" / "lm" / "train.txt"), "--vocab", str(exp / "lm" / "vocab.txt"),
                            "--out-dir", str(out), "--resume"], check=True, env=env)
            (out / ".done").touch()
        report = exp / "report"
        subprocess.run([sys.executable, "local/evaluate.py", "--data", "data", "--exp", str(exp), "--out", str(report)],
                       cwd=demo, check=True, env=env)
        result = json.loads((report / "results.json").read_text())
        result["training_seed"] = seed
        result["seed_spread"] = {"command": prov["command"], "commit": prov["commit"]}
        REPEATS.mkdir(exist_ok=True)
        name = f"{result['provenance']['date'][:10]}_{(result['provenance'].get('commit') or 'unknown')[:7]}_seed{seed}.json"
        (REPEATS / name).write_text(json.dumps(result, indent=1))
        print(f"wrote {REPEATS / name}")


if __name__ == "__main__":
    main()
