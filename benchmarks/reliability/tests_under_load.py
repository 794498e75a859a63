"""The tests that start and signal subprocesses, run again and again while other processes keep
every core busy: they must never fail for reasons of timing.

    python benchmarks/reliability/tests_under_load.py --repeats 10 --out docs/bench/tests_under_load.jsonl

Each repetition is one ``pytest`` run of the given test files (by default the interruption and
torchrun tests) with ``--load`` busy-loop processes beside it (default: one per core). One JSON line
per repetition: pass/fail, counts, seconds, and the load; then a summary line.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TESTS = ["tests/test_interrupt.py", "tests/test_distributed.py"]


def commit() -> str:
    """The checked-out commit, with ``+dirty`` when the tree has changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def burn() -> None:
    """Keep one core busy until killed."""
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tests", nargs="*", default=DEFAULT_TESTS)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--load", type=int, default=os.cpu_count(), help="busy processes beside the tests")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    burners = [mp.Process(target=burn, daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    common = {"bench": "tests_under_load", "tests": args.tests, "load_processes": args.load,
              "commit": commit()}
    failures = 0
    try:
        for i in range(args.repeats):
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.tests],
                                 cwd=ROOT, capture_output=True, text=True)
            summary = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
            counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary)}
            failures += res.returncode != 0
            emit({**common, "repeat": i, "returncode": res.returncode, **counts, "summary": summary,
                  "seconds": round(time.perf_counter() - t0, 1)}, args.out)
            if res.returncode:
                print(res.stdout[-5000:], file=sys.stderr)
    finally:
        for b in burners:
            b.kill()
    emit({**common, "summary_of": args.repeats, "failed_runs": failures}, args.out)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
