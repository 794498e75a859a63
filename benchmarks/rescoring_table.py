#!/usr/bin/env python3
"""One Markdown table from several reports of ``recipes/pocketsphinx/local/evaluate.py`` (``results.json``):
for each LM of each report, its held-out perplexity and test WER alone and + trigram, with 95 % intervals,
P(better than the first pass) and the relative change against the first pass.

    python benchmarks/rescoring_table.py --set synthetic "demo text:docs/bench/more_text_demo_report.json" \\
        "all books:docs/bench/more_text_all_report.json"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIRST = "first pass (pocketsphinx 1-best)"
NGRAM = "pocketsphinx trigram"


def rows(label: str, report: dict, test_set: str) -> list[str]:
    s = report["sets"][test_set]
    first = s[FIRST]["wer"]
    out = []
    for lm, info in report["lms"].items():
        for system in (f"{lm} rescoring", f"{lm} + {NGRAM} rescoring"):
            r = s[system]
            lo, hi = r["ci95"]
            out.append(f"| {label} | {system.removesuffix(' rescoring')} | {info['heldout_ppl']:.1f} "
                       f"| {r['wer']:.2f} [{lo:.1f}, {hi:.1f}] | {100 * (r['wer'] - first) / first:+.1f} % "
                       f"| {r['p_better_than_first_pass']:.3f} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="test_set", default="synthetic", help="test set (default synthetic)")
    ap.add_argument("reports", nargs="+", metavar="LABEL:RESULTS_JSON")
    args = ap.parse_args()
    lines = ["| LM text | system | held-out ppl | WER % [95 % CI] | vs first pass | P(better than first pass) |",
             "|---|---|---|---|---|---|"]
    for item in args.reports:
        label, path = item.split(":", 1)
        report = json.loads(Path(path).read_text())
        if len(lines) == 2:
            r = report["sets"][args.test_set][FIRST]
            lines.append(f"| | first pass | | {r['wer']:.2f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] | | |")
        lines += rows(label, report, args.test_set)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
