"""Reports people look at: Markdown tables and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["markdown_table", "plot_scale_sweep", "plot_perplexity_rounds"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; floats are printed as given (format them first)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scale_sweep(sweeps: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str) -> None:
    """WER (percent) versus lm_scale, one line per system.

    Args:
        sweeps: ``{system: (lm_scales (S,), wer (S,))}``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, (scales, wer) in sweeps.items():
        ax.plot(scales, wer, marker=".", label=name)
        i = int(np.argmin(wer))
        ax.scatter([scales[i]], [wer[i]], s=40, zorder=3)
    ax.set_xlabel("lm_scale")
    ax.set_ylabel("dev WER (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_perplexity_rounds(histories: Mapping[str, Sequence[dict]], path: str | Path) -> None:
    """Validation perplexity per training round (and right after each reallocation)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, hist in histories.items():
        rounds = [h["round"] for h in hist]
        ax.plot(rounds, [h["valid_ppl"] for h in hist], marker="o", label=f"{name} (after training)")
        re = [(h["round"] + 0.5, h["realloc"]["valid_ppl_after"]) for h in hist if "realloc" in h]
        if re:
            ax.plot(*zip(*re), ls="", marker="x", label=f"{name} (after reallocation)")
    ax.set_xlabel("round")
    ax.set_ylabel("validation perplexity")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
