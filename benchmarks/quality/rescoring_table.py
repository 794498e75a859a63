#!/usr/bin/env python3
"""One Markdown table from several reports of ``recipes/pocketsphinx/local/evaluate.py`` (``results.json``):
for each LM of each report, its held-out perplexity and test WER alone and + trigram, with 95 % intervals,
P(better than the first pass) and the relative change against the first pass; with ``--plot``, test WER
against held-out perplexity for every LM of the reports (alone and + trigram), with a least-squares line
of WER on log perplexity through the reports whose label does not start with ``other text``.

    python benchmarks/quality/rescoring_table.py --set synthetic "demo text:docs/bench/more_text_demo_report.json" \\
        "other text, all books:docs/bench/more_text_all_report.json" --plot docs/img/wer_vs_ppl.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lightrnn_asr.evaluation.report import markdown_table

FIRST = "first pass (pocketsphinx 1-best)"
NGRAM = "pocketsphinx trigram"


def rows(label: str, report: dict, test_set: str) -> list[list[str]]:
    s = report["sets"][test_set]
    first = s[FIRST]["wer"]
    out = []
    for lm, info in report["lms"].items():
        for system in (f"{lm} rescoring", f"{lm} + {NGRAM} rescoring"):
            r = s[system]
            lo, hi = r["ci95"]
            out.append([label, system.removesuffix(" rescoring"), f"{info['heldout_ppl']:.1f}",
                        f"{r['wer']:.2f} [{lo:.1f}, {hi:.1f}]", f"{100 * (r['wer'] - first) / first:+.1f} %",
                        f"{r['p_better_than_first_pass']:.3f}"])
    return out


def load(path: Path) -> dict:
    """An evaluate.py ``results.json``, or a saved demo record that holds one under ``report``."""
    d = json.loads(path.read_text())
    return d.get("report", d)


def plot(reports: list[tuple[str, dict]], test_set: str, path: Path) -> str:
    """Scatter of test WER against held-out perplexity; returns the fitted lines as text."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    notes = []
    first = reports[0][1]["sets"][test_set][FIRST]["wer"]
    ax.axhline(first, color="gray", linestyle=":", label=f"first pass {first:.2f}")
    for k, (suffix, colour) in enumerate(((" rescoring", "tab:blue"), (f" + {NGRAM} rescoring", "tab:orange"))):
        xs, ys, kinds, seen = [], [], [], set()
        for label, report in reports:
            for lm, info in report["lms"].items():
                wer = report["sets"][test_set][f"{lm}{suffix}"]["wer"]
                if (lm, round(info["heldout_ppl"], 3)) in seen:
                    continue  # the same model in two reports (CPU training is deterministic): once
                seen.add((lm, round(info["heldout_ppl"], 3)))
                other = label.startswith("other text")
                marker = {"LightRNN": "o", "LSTM (adaptive softmax)": "s"}.get(lm, "^")
                ax.scatter(info["heldout_ppl"], wer, color=colour, marker=marker, facecolors="none" if other else colour)
                if not other:
                    xs.append(np.log(info["heldout_ppl"]))
                    ys.append(wer)
                    kinds.append(lm)
        slope, icept = np.polyfit(xs, ys, 1)
        grid = np.linspace(min(xs) - 0.3, max(xs), 20)
        name = "LM alone" if k == 0 else "LM + trigram"
        ax.plot(np.exp(grid), icept + slope * grid, color=colour, label=f"{name}: {slope:.1f} points per ln(ppl)")
        r = np.corrcoef(xs, ys)[0, 1]
        notes.append(f"{name}: WER = {icept:.2f} + {slope:.2f} ln(ppl), r = {r:.2f}, {len(xs)} LMs; "
                     f"the first pass's WER at ppl {np.exp((first - icept) / slope):.0f}, "
                     f"0.8 x it (-20 %) at ppl {np.exp((0.8 * first - icept) / slope):.0f}")
        residual = np.asarray(ys) - (icept + slope * np.asarray(xs))
        for lm in dict.fromkeys(kinds):
            mine = residual[[kind == lm for kind in kinds]]
            notes.append(f"  {lm}: mean residual {mine.mean():+.2f} points, from {mine.min():+.2f} to "
                         f"{mine.max():+.2f} ({mine.size} LMs)")
    ax.set_xscale("log")
    ax.set_xlabel("held-out perplexity (log scale)")
    ax.set_ylabel(f"{test_set} test WER %")
    ax.set_title("filled: demo text; open: other text; o LightRNN, s adaptive, ^ full softmax", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return "\n".join(notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="test_set", default="synthetic", help="test set (default synthetic)")
    ap.add_argument("reports", nargs="+", metavar="LABEL:RESULTS_JSON")
    ap.add_argument("--plot", type=Path, help="PNG: WER against held-out perplexity")
    args = ap.parse_args()
    reports = [(item.split(":", 1)[0], load(Path(item.split(":", 1)[1]))) for item in args.reports]
    first = reports[0][1]["sets"][args.test_set][FIRST]
    table = [["", "first pass", "", f"{first['wer']:.2f} [{first['ci95'][0]:.1f}, {first['ci95'][1]:.1f}]", "", ""]]
    for label, report in reports:
        table += rows(label, report, args.test_set)
    print(markdown_table(["LM text", "system", "held-out ppl", "WER % [95 % CI]", "vs first pass",
                          "P(better than first pass)"], table))
    if args.plot:
        print("\n" + plot(reports, args.test_set, args.plot))


if __name__ == "__main__":
    main()
