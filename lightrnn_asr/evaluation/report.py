"""Reports people look at: Markdown tables and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from lightrnn_asr.evaluation.names import name_report
from lightrnn_asr.evaluation.wer import WerResult, bootstrap_ci, compute_wer

__all__ = ["report_json", "markdown_table", "plot_scale_sweep", "plot_perplexity_rounds", "SystemWer", "compare_systems",
           "wer_report", "plot_wer", "names_report"]


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


@dataclass
class SystemWer:
    """One system's WER on one test set.

    Attributes:
        test_set, system: names.
        wer: error counts (:class:`~lightrnn_asr.evaluation.wer.WerResult`).
        ci95: ``(low, high)`` bootstrap 95% confidence interval of the WER, percent.
        p_better: probability that this system is better than the baseline (the
            first system of the set), paired bootstrap; ``None`` for the baseline.
    """

    test_set: str
    system: str
    wer: WerResult
    ci95: tuple[float, float]
    p_better: float | None


def compare_systems(
    refs: Mapping[str, Mapping[str, Sequence[str]]],
    hyps: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]],
    replications: int = 1000,
    seed: int = 0,
) -> list[SystemWer]:
    """WER with confidence intervals of several systems on several test sets.

    Args:
        refs: ``{test_set: {utt_id: words}}``.
        hyps: ``{test_set: {system: {utt_id: words}}}``; the first system of each
            set is the baseline the others are compared with (Bisani-Ney paired
            bootstrap, ``kaldialign.bootstrap_wer_ci``, ``replications`` draws).

    Returns:
        One :class:`SystemWer` per (set, system), in the input order.

    Raises:
        ValueError: for a set without references or without hypotheses, or hypotheses whose
            utterance ids differ from the references' (naming the set and system).
    """
    unknown = [s for s in hyps if s not in refs]
    if unknown:
        raise ValueError(f"test set {unknown[0]!r} has hypotheses but no references")
    unused = [s for s in refs if not hyps.get(s)]
    if unused:
        raise ValueError(f"test set {unused[0]!r} has references but no hypotheses")
    out = []
    for test_set, systems in hyps.items():
        ref = refs[test_set]
        baseline = None
        for system, hyp in systems.items():
            try:
                w = compute_wer(ref, hyp)
                if baseline is None:
                    ci, p = bootstrap_ci(ref, hyp, replications=replications, seed=seed), None
                else:
                    both = bootstrap_ci(ref, baseline, hyp, replications=replications, seed=seed)
                    ci, p = both["system2"], float(both["p_s2_improv_over_s1"])
            except ValueError as e:
                raise ValueError(f"{test_set} / {system}: {e}") from None
            baseline = hyp if baseline is None else baseline
            out.append(SystemWer(test_set, system, w, (100 * ci["ci95min"], 100 * ci["ci95max"]), p))
    return out


def wer_report(results: Sequence[SystemWer], sizes: Mapping[str, Mapping[str, object]] | None = None) -> str:
    """Markdown: a table per test set (WER, errors as ins/del/sub, 95% CI, P(better than the
    baseline)) and, with ``sizes`` (``{system: {"parameters": int, "bytes": int}}``), a table of
    model sizes."""
    sections = []
    for test_set in dict.fromkeys(r.test_set for r in results):
        rows = [r for r in results if r.test_set == test_set]
        base = rows[0].system
        table = markdown_table(
            ["system", "WER %", "errors (ins / del / sub)", "95% CI", f"P(better than {base})"],
            [[r.system, f"{r.wer.wer:.2f}", f"{r.wer.errors} ({r.wer.ins} / {r.wer.dels} / {r.wer.subs})",
              f"[{r.ci95[0]:.2f}, {r.ci95[1]:.2f}]", "" if r.p_better is None else f"{r.p_better:.3f}"]
             for r in rows])
        sections.append(f"### {test_set} ({rows[0].wer.utterances} utterances, {rows[0].wer.ref_words} words)"
                        f"\n\n{table}")
    if sizes:
        sections.append("### Model sizes\n\n" + markdown_table(
            ["system", "parameters", "checkpoint MB"],
            [[name, f"{int(v['parameters']):,}", f"{int(v['bytes']) / 1e6:.2f}"] for name, v in sizes.items()]))
    return "\n\n".join(sections) + "\n"


def plot_wer(results: Sequence[SystemWer], path: str | Path, title: str = "WER per test set") -> None:
    """Grouped bars: WER (percent) per test set and system, with 95% confidence intervals."""
    plt = _pyplot()
    sets = list(dict.fromkeys(r.test_set for r in results))
    systems = list(dict.fromkeys(r.system for r in results))
    width = 0.8 / max(1, len(systems))
    fig, ax = plt.subplots(figsize=(max(6.4, 1.6 * len(sets) * max(1, len(systems)) / 2), 4.0))
    for k, system in enumerate(systems):
        xs, ys, err = [], [], [[], []]
        for i, test_set in enumerate(sets):
            r = next((x for x in results if x.test_set == test_set and x.system == system), None)
            if r is None:
                continue
            xs.append(i + (k - (len(systems) - 1) / 2) * width)
            ys.append(r.wer.wer)
            err[0].append(r.wer.wer - r.ci95[0])
            err[1].append(r.ci95[1] - r.wer.wer)
        ax.bar(xs, ys, width, yerr=np.clip(np.array(err), 0, None), capsize=3, label=system)
    ax.set_xticks(range(len(sets)))
    ax.set_xticklabels(sets)
    ax.set_ylabel("WER %")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report_json(results: Sequence[SystemWer], sizes: Mapping[str, dict] | None = None) -> dict:
    """The results of :func:`compare_systems` (and model sizes) as a JSON-ready dict: ``{"results":
    [{test_set, system, wer (percent), errors, ins, del, sub, ref_words, utterances, ci95,
    p_better_than_baseline}], "models": {system: {parameters, bytes}}}``."""
    return {"results": [{"test_set": r.test_set, "system": r.system, "wer": r.wer.wer, "errors": r.wer.errors,
                         "ins": r.wer.ins, "del": r.wer.dels, "sub": r.wer.subs, "ref_words": r.wer.ref_words,
                         "utterances": r.wer.utterances, "ci95": list(r.ci95), "p_better_than_baseline": r.p_better}
                        for r in results],
            "models": dict(sizes or {})}


def names_report(refs: Mapping[str, Mapping[str, Sequence[str]]],
                 hyps: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]], names: set[str],
                 replications: int = 1000, seed: int = 0) -> tuple[str, dict]:
    """Markdown (a table per test set: name error rate, WER with and without names, 95% intervals)
    and the same as ``{test_set: {system: name_report(...)}}``; see :mod:`lightrnn_asr.evaluation.names`."""
    sections, out = [], {}
    fmt = lambda v, ci: "" if v is None else f"{v:.2f} [{ci[0]:.1f}, {ci[1]:.1f}]"  # noqa: E731
    for test_set, systems in hyps.items():
        out[test_set] = {s: name_report(refs[test_set], h, names, replications, seed) for s, h in systems.items()}
        first = next(iter(out[test_set].values()))
        if not first["name_tokens"]:
            sections.append(f"### {test_set}: names\n\nNo word of the names list occurs in the references.")
            continue
        rows = [[s, fmt(r["ner"], r["ner_ci95"]), f"{r['name_errors']}/{r['name_tokens']}", r["false_names"],
                 fmt(r["with_names"]["wer"], r["with_names"]["ci95"]),
                 fmt(r["without_names"]["wer"], r["without_names"]["ci95"])] for s, r in out[test_set].items()]
        sections.append(
            f"### {test_set}: names ({first['name_tokens']} name tokens in {first['with_names']['utterances']} "
            f"utterances; {first['without_names']['utterances']} utterances without a name)\n\n"
            + markdown_table(["system", "name error rate % [95% CI]", "names missed", "names inserted or wrong",
                              "WER % with names", "WER % without names"], rows))
    return "\n\n".join(sections) + "\n", out
