#!/usr/bin/env python3
"""Peak memory of ``lightrnn-asr ppl`` on one long line: sentences up to the scoring limit
(``MAX_SENTENCE_WORDS``), a sentence over it, and a line over the reader's byte limit
(``MAX_LINE_BYTES``), each in a fresh process, with a LightRNN of the demo's size (|V| and settings
of recipes/pocketsphinx, trained one round on one sentence: memory does not depend on the weights' values).

    python benchmarks/speed/long_line_memory.py --vocab recipes/pocketsphinx/exp/lm/vocab.txt \\
        --out docs/bench/long_line_memory.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit, run_child

from lightrnn_asr.text.corpus import MAX_SENTENCE_WORDS
from lightrnn_asr.utils.io import MAX_LINE_BYTES


def demo_sized_model(vocab_path: Path, out: Path) -> None:
    """A LightRNN as ``train`` builds it with the recipe's settings (200 x 1, word-sum), one round on one sentence."""
    text = out.parent / "one.txt"
    text.write_text("the\n")
    cmd = [sys.executable, "-m", "lightrnn_asr.cli", "train", "--train-text", str(text), "--valid-text", str(text),
           "--vocab", str(vocab_path), "--out-dir", str(out.parent / "run"), "--embed-dim", "200", "--hidden-dim", "200",
           "--num-layers", "1", "--rounds", "1", "--no-realloc", "--threads", "2"]
    subprocess.run(cmd, check=True, capture_output=True)
    (out.parent / "run" / "best.pt").rename(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("docs/bench/long_line_memory.jsonl"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        model = work / "lm.pt"
        demo_sized_model(args.vocab, model)
        cases = {f"{n} words": ("the " * n).strip() + "\n" for n in (100, 1000, MAX_SENTENCE_WORDS, MAX_SENTENCE_WORDS + 1)}
        cases["10 MB, no line break"] = "the " * 2_500_000
        for name, line in cases.items():
            path = work / "line.txt"
            path.write_text(line)
            run = run_child([sys.executable, "-m", "lightrnn_asr.cli", "ppl", "--model", str(model), "--text", str(path),
                             "--device", "cpu"])
            output = (run.stdout + run.stderr).strip()
            last = output.splitlines()[-1] if output else ""
            emit({"benchmark": "long_line_memory", "case": name, "bytes": len(line.encode()),
                  "peak_rss_bytes": run.peak_rss_bytes, "exit_code": run.returncode, "output": last[:200],
                  "seconds": run.wall_s,
                  "max_sentence_words": MAX_SENTENCE_WORDS, "max_line_bytes": MAX_LINE_BYTES}, args.out)
    print(json.dumps({"out": str(args.out)}))


if __name__ == "__main__":
    main()
