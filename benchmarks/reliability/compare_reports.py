#!/usr/bin/env python3
"""Compare two runs of the same recipe: every number of two JSON reports (e.g. two ``make demo``
runs' ``exp/report/results.json``) that is not a time, a speed, a date or provenance, and, with
``--checkpoints``, the weights of every ``best.pt`` under two experiment directories, and with ``--files``
every file of two directories byte for byte (the first pass's lattices).

Prints what differs and exits 1 when anything does (0: the two runs agree digit for digit).

    python benchmarks/reliability/compare_reports.py A/exp/report/results.json B/exp/report/results.json \\
        --checkpoints A/exp/lm B/exp/lm
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness

#: Keys whose values may differ between two runs of the same code: times, speeds, dates, the machine,
#: and file sizes (a checkpoint stores its training history, times included).
VOLATILE = re.compile(r"(seconds|_s$|per_s|rtf|wall|time|date|provenance|file_mb|elapsed)", re.IGNORECASE)


def flatten(obj, path: str = "") -> dict[str, object]:
    """``{"a/b/0": leaf}`` for every leaf of a JSON value, volatile keys left out."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not VOLATILE.search(str(k)):
                out.update(flatten(v, f"{path}/{k}"))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{path}/{i}"))
        return out
    return {path: obj}


def machines(a: dict, b: dict) -> str | None:
    """A warning when two reports' provenance names different CPUs or CPU kernel sets (older reports without
    them: unknown), else ``None``: floating-point results then agree to rounding only, and a LightRNN's
    reallocation, a discrete choice, can turn a last-digit difference into a different model."""
    pa, pb = a.get("provenance") or {}, b.get("provenance") or {}
    keys = ("cpu", "cpu_id", "cpu_capability")
    ca, cb = [{k: p.get(k) for k in keys} for p in (pa, pb)]
    if ca == cb and all(ca.values()):
        return None
    return (f"the two runs' machines differ or are not fully known ({ca} against {cb}): digit-for-digit agreement "
            "is expected on one machine type only")


def compare_reports(a: Path, b: Path) -> list[str]:
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    warning = machines(ja, jb)
    if warning:
        print(f"warning: {warning}")
    fa, fb = flatten(ja), flatten(jb)
    lines = [f"{k}: {fa.get(k, '(missing)')!r} against {fb.get(k, '(missing)')!r}"
             for k in sorted(set(fa) | set(fb)) if fa.get(k, "(missing)") != fb.get(k, "(missing)")]
    print(f"{a} against {b}: {len(set(fa) | set(fb))} values compared, {len(lines)} differ")
    return lines


def flatten_all(paths: list[Path]) -> set[str]:
    return set().union(*(flatten(json.loads(p.read_text())) for p in paths))


def compare_checkpoints(a: Path, b: Path) -> list[str]:
    import torch

    lines = []
    files = sorted(p.relative_to(a) for p in a.rglob("best.pt"))
    for rel in files:
        if not (b / rel).exists():
            lines.append(f"{b / rel}: missing")
            continue
        sa = torch.load(a / rel, map_location="cpu", weights_only=True)["state_dict"]
        sb = torch.load(b / rel, map_location="cpu", weights_only=True)["state_dict"]
        differ = [k for k in sorted(set(sa) | set(sb)) if k not in sa or k not in sb or not torch.equal(sa[k], sb[k])]
        lines += [f"{rel}: weight {k} differs" for k in differ]
    print(f"{a} against {b}: {len(files)} checkpoints compared")
    return lines


def compare_files(a: Path, b: Path) -> list[str]:
    """Every file under ``a`` against the same path under ``b``, byte for byte (e.g. the first pass's
    lattices, N-best lists and 1-best; timing files such as ``rtf.txt`` left out)."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != "rtf.txt")
    lines = [f"{rel}: differs" for rel in files if not (b / rel).is_file() or (a / rel).read_bytes() != (b / rel).read_bytes()]
    print(f"{a} against {b}: {len(files)} files compared byte for byte")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", type=Path, nargs=2)
    ap.add_argument("--checkpoints", type=Path, nargs=2, metavar=("DIR_A", "DIR_B"))
    ap.add_argument("--files", type=Path, nargs=2, metavar=("DIR_A", "DIR_B"),
                    help="also compare every file under DIR_A with DIR_B byte for byte (e.g. exp/decode)")
    ap.add_argument("--out", type=Path, help="append the verdict as one JSON line (with provenance) to this record")
    args = ap.parse_args()
    lines = compare_reports(*args.reports)
    if args.checkpoints:
        lines += compare_checkpoints(*args.checkpoints)
    if args.files:
        lines += compare_files(*args.files)
    print("\n".join(lines) if lines else "identical")
    if args.out:
        from harness import emit

        emit({"benchmark": "compare_reports", "reports": [str(p) for p in args.reports],
              "checkpoints": [str(p) for p in args.checkpoints or []], "files": [str(p) for p in args.files or []],
              "values_compared": len(flatten_all(args.reports)),
              "differences": lines, "identical": not lines}, args.out)
    sys.exit(1 if lines else 0)


if __name__ == "__main__":
    main()
