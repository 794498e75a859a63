#!/usr/bin/env python3
"""Render the results document (docs/results.md) and README's results table from the records, so that
no figure in them is typed by hand.

Records: docs/bench/demo.json (the latest ``make demo`` report, ``exp/report/results.json``, with its
provenance), docs/bench/dev_search.jsonl (benchmarks/quality/dev_search.py) and docs/bench/long_line_memory.jsonl
(benchmarks/speed/long_line_memory.py), docs/bench/demo_runs.jsonl (benchmarks/reliability/fresh_clone_demo.sh),
docs/bench/demo_determinism.jsonl (benchmarks/reliability/compare_reports.py), docs/bench/lexicon_scale.jsonl and
docs/bench/demo_vocab_speed.jsonl (benchmarks/speed/lexicon_scale.py), docs/bench/ctc_fusion.jsonl
(benchmarks/quality/ctc_fusion.py).

    python benchmarks/render_results.py                   # write docs/results.md and README's table
    python benchmarks/render_results.py --demo recipes/pocketsphinx/exp/report/results.json   # take a new demo record
    python benchmarks/render_results.py --check           # exit 1 when either is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the recipe's settings
from quality.dev_search import recipe_settings, without  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "docs" / "bench" / "demo.json"
REPEATS = ROOT / "docs" / "bench" / "demo_repeats"
SEARCH = ROOT / "docs" / "bench" / "dev_search.jsonl"
SEARCH_LEXICON = ROOT / "docs" / "bench" / "dev_search_lexicon.jsonl"
CTC_TUNED = ROOT / "docs" / "bench" / "ctc_fusion_dev_tuned.jsonl"
CTC_PYCTCDECODE = ROOT / "docs" / "bench" / "ctc_pyctcdecode.jsonl"
LONG_LINES = ROOT / "docs" / "bench" / "long_line_memory.jsonl"
RUNS = ROOT / "docs" / "bench" / "demo_runs.jsonl"
SAME = ROOT / "docs" / "bench" / "demo_determinism.jsonl"
LEXICON = ROOT / "docs" / "bench" / "lexicon_scale.jsonl"
BUDGETS = ROOT / "docs" / "bench" / "lexicon_budgets.jsonl"
DEMO_VOCAB = ROOT / "docs" / "bench" / "demo_vocab_speed.jsonl"
CTC = ROOT / "docs" / "bench" / "ctc_fusion.jsonl"
CTC_NAMES = ROOT / "docs" / "bench" / "ctc_fusion_names.jsonl"
CTC_PYCTC_NAMES = ROOT / "docs" / "bench" / "ctc_pyctcdecode_names.jsonl"
RESULTS = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
BEGIN = "<!-- results: generated from docs/bench/demo.json by benchmarks/render_results.py (make results); do not edit -->"
END = "<!-- /results -->"
SETS = ("librivox", "asterisk", "synthetic", "names")
NOISE = 0.95  # a paired-bootstrap P(better) below this, either way, is called noise


def table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def sets(demo: dict) -> list[str]:
    """The evaluation sets of a record (older records have no name-rich set)."""
    return [s for s in SETS if s in demo["sets"]]


def systems(demo: dict) -> list[str]:
    """The systems every set reports, in the report's order (its per-system entries are dicts with a ``wer``)."""
    first = demo["sets"][SETS[0]]
    return [k for k, v in first.items() if isinstance(v, dict) and "wer" in v]


def ci_cell(value: float | None, ci: list[float], digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f} [{ci[0]:.1f}, {ci[1]:.1f}]"


def names_table(demo: dict) -> str:
    """The name-rich test: WER, name error rate and WER without a name of every system."""
    res = demo["sets"]["names"]["names"]
    rows = [[k, ci_cell(r["wer"], r["ci95"]), ci_cell(r["ner"], r["ner_ci95"], 1),
             ci_cell(r["synthetic_without_a_name"]["wer"], r["synthetic_without_a_name"]["ci95"])
             if "synthetic_without_a_name" in r else ""] for k, r in res["systems"].items()]
    first = next(iter(res["systems"].values()))
    lines = [f"- P(LightRNN + trigram makes fewer name errors than {k.removesuffix(' rescoring')}) = {p:.3f}: "
             + verdict(p, "LightRNN better", "LightRNN worse")
             for k, p in res["p_lightrnn_fewer_name_errors"].items()]
    return (f"Name-rich test ({first['name_tokens']} name tokens, every utterance has one), and the synthetic test's "
            "utterances without a name: % [95 % CI]\n\n"
            + table(["system", "name-rich: WER", "name-rich: name error rate", "synthetic, without a name: WER"], rows)
            + "\n\n" + "\n".join(lines))


def names_ways(demo: dict) -> str:
    """How each LM was given the contact list (chosen on the name-rich dev set), every way tried."""
    rows = [[n, i["names"]["way"], f"{i['names']['offset']:+g}",
             "; ".join(f"{k} {t['dev_wer']:.2f} ({t['offset']:+g})" for k, t in i["names"]["tried"].items())]
            for n, i in demo["lms"].items() if "names" in i]
    return table(["LM", "the contact list", "offset per name (nats)", "every way tried: best dev WER % (its offset)"],
                 rows)


def relative_line(demo: dict) -> str:
    """The LightRNN + trigram against the first pass on the synthetic test, relative."""
    syn = demo["sets"]["synthetic"]
    first = syn.get("first pass (pocketsphinx 1-best)")
    mine = syn.get("LightRNN + pocketsphinx trigram rescoring")
    if not (first and mine):
        return ""
    return (f"On the synthetic test, LightRNN + trigram is {100 * (1 - mine['wer'] / first['wer']):.1f} % relative "
            f"below the first pass ({mine['wer']:.2f} against {first['wer']:.2f}).")


def wer_cell(r: dict) -> str:
    return f"{r['wer']:.2f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]"


def provenance_text(prov: dict) -> str:
    return (f"commit `{(prov.get('commit') or 'unknown')[:12]}`, {prov['date']}, {prov['cpu']} ({prov['cores']} cores, "
            f"{prov['threads']} torch threads), torch {prov['versions'].get('torch')}; command `{prov['command']}`")


def run_time(run: dict) -> str:
    st = run["stage_min"]
    return (f"{run['total_min']:.1f} minutes on a fresh clone ({run['provenance']['date'][:10]}, commit "
            f"`{run['provenance']['commit'][:12]}`, {run['provenance']['cpu']}, {run['provenance']['cores']} cores: set-up "
            f"{run['setup_min'] + st.get('stage 0', 0) + st.get('stage 1', 0):.1f}, decoding {st.get('stage 4', 0):.1f}, "
            f"LM training {st.get('stage 6', 0):.1f}, rescoring and report {st.get('stage 7', 0):.1f})")


def totals(runs: list[dict]) -> str:
    return ", ".join(f"{r['total_min']:.1f}" for r in runs)


def ratio_lines(demo: dict) -> list[str]:
    """Each other LM against the LightRNN, from the demo record: parameters, and rescoring speed on every set's
    test and dev N-best lists (one run; the LMs scored in turn)."""
    lms, out = demo["lms"], []
    light = lms.get("LightRNN")
    if not light:
        return out
    for name, info in lms.items():
        if name == "LightRNN" or name.endswith(" backward"):
            continue
        speeds = [f"{s} {demo['sets'][s]['lm']['LightRNN']['hyps_per_s'] / demo['sets'][s]['lm'][name]['hyps_per_s']:.2f}x"
                  for s in sets(demo) if "hyps_per_s" in demo["sets"][s]["lm"].get(name, {})
                  and "hyps_per_s" in demo["sets"][s]["lm"].get("LightRNN", {}) and s != "librivox"]
        out.append(f"- The LightRNN against the {name}: {light['parameters'] / info['parameters']:.2f}x the parameters, "
                   f"{light['file_mb'] / info['file_mb']:.2f}x the file size; rescoring speed (hypotheses/s, "
                   f"each set's dev and test lists) " + ", ".join(speeds) + ".")
    return out


def full_softmax_line(demo: dict) -> str:
    """Where the demo trains no full-softmax LSTM: its speed and memory at the same vocabulary, from the last
    lexicon_scale run, in its place."""
    if "LSTM (full softmax)" in demo["lms"]:
        return ""
    rows = {r["system"]: r for r in last_run(read_jsonl(LEXICON))}
    full, light = rows.get("lstm"), rows.get("lightrnn")
    if not (full and light):
        return ""
    return (f"The full-softmax word LSTM is not trained here: at {full['vocab']:,} words it has {full['parameters'] / 1e6:.1f}M "
            f"parameters and trains at {full['tokens_per_s']:,.0f} tokens/s with {full['peak_rss_mb']:,.0f} MB peak memory, "
            f"against the LightRNN's {light['tokens_per_s']:,.0f} tokens/s and {light['peak_rss_mb']:,.0f} MB in the same run "
            f"(`docs/bench/lexicon_scale.jsonl`), so in the LightRNN's time it would see "
            f"{full['tokens_per_s'] / light['tokens_per_s']:.2f}x its tokens.")


def readme_block(demo: dict, runs: list[dict], repeats: list[dict]) -> str:
    """README's table: test WER [95 % CI] of every system on every set, and the LMs' sizes."""
    rows = [[s, *(wer_cell(demo["sets"][t][s]) for t in sets(demo))] for s in systems(demo)]
    lms = [[n, f"{i['vocab']:,}", i.get("output_layer", ""), f"{i['parameters'] / 1e6:.2f}M", f"{i['dev_ppl']:.1f}",
            f"{i['heldout_ppl']:.1f}", i.get("names", {}).get("way", "")] for n, i in demo["lms"].items()]
    parts = [
        BEGIN,
        f"Test WER % [95 % CI] of `make demo` ({provenance_text(demo['provenance'])}):",
        table(["system", *sets(demo)], rows),
        names_table(demo) if "names" in demo["sets"] else "",
        f"Paired bootstrap on each test set, LightRNN + trigram against the LSTM + trigram with the lower dev WER "
        f"(P below {NOISE} either way: noise):\n\n" + "\n".join(comparison_lines(demo)),
        repeats_table(demo, repeats),
        relative_line(demo),
        table(["LM", "vocabulary", "output layer", "parameters", "dev ppl", "test ppl", "the contact list"], lms),
        "\n".join(ratio_lines(demo)),
        full_softmax_line(demo),
        (f"`make demo` on a fresh clone took {totals(runs)} minutes ({runs[-1]['provenance']['cpu']}, "
         f"{runs[-1]['provenance']['cores']} cores; per stage in docs/results.md). " if runs else "")
        + "More in [docs/results.md](docs/results.md); how they were made: [docs/protocol.md](docs/protocol.md).",
        END]
    return "\n\n".join(part for part in parts if part)


def verdict(p: float, better: str, worse: str) -> str:
    return better if p >= NOISE else worse if p <= 1 - NOISE else "noise"


def repeats_table(demo: dict, repeats: list[dict]) -> str:
    """The LightRNN's paired comparisons in every run of the demo's recipe on record (the latest demo record
    and ``docs/bench/demo_repeats/``), so that a reader sees which verdicts hold from run to run, and, per
    comparison, the verdict every run shares or the verdicts seen."""
    runs = [*repeats, demo]
    if len(runs) < 2:
        return ""
    names = [k for k in demo["sets"].get("names", {}).get("names", {}).get("p_lightrnn_fewer_name_errors", {})]
    compared = [*(f"{s}: P(LightRNN + trigram better)" for s in sets(demo)),
                *(f"P(fewer name errors than {k.removesuffix(' rescoring')})" for k in names)]
    head = ["run", "dev ppl: LightRNN / adaptive", *compared, "LightRNN's contact list"]
    rows, verdicts = [], {c: [] for c in compared}
    for r in runs:
        prov = r["provenance"]
        seed = f", training seed {r['training_seed']}" if "training_seed" in r else ""
        row = [f"`{(prov.get('commit') or '')[:8]}` {prov['date'][:10]}, {prov.get('cpu_id') or prov['cpu']}{seed}",
               f"{r['lms']['LightRNN']['dev_ppl']:.1f} / {r['lms']['LSTM (adaptive softmax)']['dev_ppl']:.1f}"]
        cells = []
        for s in sets(demo):
            c = r["sets"].get(s, {}).get("lightrnn_vs_lstm")
            cells.append((c["p_lightrnn_better"], "LightRNN better", c["lstm"].split(" +")[0] + " better") if c else None)
        ps = r["sets"].get("names", {}).get("names", {}).get("p_lightrnn_fewer_name_errors", {})
        cells += [(ps[k], "LightRNN fewer", "LightRNN more") if k in ps else None for k in names]
        for column, cell in zip(compared, cells):
            if cell is None:
                row.append("")
                continue
            v = verdict(*cell)
            verdicts[column].append(v)
            row.append(f"{cell[0]:.3f} ({v})")
        row.append(r["lms"]["LightRNN"].get("names", {}).get("way", ""))
        rows.append(row)
    holds = []
    for column, vs in verdicts.items():
        seen = list(dict.fromkeys(vs))
        holds.append(f"- {column}: " + (f"{seen[0]} in every run" if len(seen) == 1 and len(vs) == len(runs)
                                        else "changes from run to run (" + "; ".join(seen) + ")"))
    return (f"The same comparisons in every run of this recipe on record ({len(runs)} runs, the latest last; "
            "`docs/bench/demo_repeats/`; training seed 0, the recipe's, where none is named). Two runs on one machine "
            "type agree digit for digit; runs on different CPUs train LMs that agree to rounding only, and the "
            "LightRNN's reallocation and the weight tuning turn that into other WERs, as other training seeds do "
            "(`benchmarks/reliability/seed_spread.py`): a verdict that changes from run to run is within the spread "
            "of training, whatever its P in one run.\n\n" + table(head, rows) + "\n\nAcross the runs:\n\n"
            + "\n".join(holds))


def comparison_lines(demo: dict) -> list[str]:
    out = []
    for s in sets(demo):
        c = demo["sets"][s].get("lightrnn_vs_lstm")
        if c:
            p = c["p_lightrnn_better"]
            out.append(f"- {s}: P(LightRNN + trigram better than {c['lstm']}) = {p:.3f}: "
                       f"{verdict(p, 'LightRNN better', c['lstm'] + ' better')}.")
    return out


def demo_section(demo: dict, repeats: list[dict]) -> str:
    lms = [[n, i["vocab"], f"{i['parameters']:,}", f"{i['file_mb']:.1f}", f"{i['dev_ppl']:.1f}", f"{i['heldout_ppl']:.1f}",
            f"{i['train_tokens']:,}", i["rounds"], f"{i['tokens_per_s']:.0f}",
            f"{demo['sets']['synthetic']['lm'].get(n, {}).get('hyps_per_s', float('nan')):.0f}"]
           for n, i in demo["lms"].items()]
    parts = [f"## `make demo` (recipes/pocketsphinx)\n\nRecord `docs/bench/demo.json`: {provenance_text(demo['provenance'])}.",
             "### Language models\n\nSame text, vocabulary and batches; each trains for its token budget (equal time on "
             "the reference machine) until validation perplexity stops improving. Perplexities on the held-out novel's "
             "dev and test chapters; speeds on the machine above (compare them as ratios).\n\n"
             + table(["LM", "vocabulary", "parameters", "file MB", "dev ppl", "test ppl", "train tokens", "rounds",
                      "train tokens/s", "rescoring hyps/s (synthetic)"], lms),
             "### Test WER % [95 % CI] of every system\n\n" + table(["system", *sets(demo)], [
                 [s, *(wer_cell(demo["sets"][t][s]) for t in sets(demo))] for s in systems(demo)]),
             f"Paired bootstrap, LightRNN + trigram against the LSTM + trigram with the lower dev WER (P below {NOISE} "
             "either way: noise):\n\n" + "\n".join(comparison_lines(demo))]
    if repeats:
        parts.append(repeats_table(demo, repeats))
    if "names" in demo["sets"]:
        parts += ["### Names\n\n" + names_table(demo),
                  "The contact list, given to each LM after training, the way chosen on the name-rich dev set "
                  "(LM + trigram dev WER):\n\n" + names_ways(demo)]
    for s in sets(demo):
        rows = []
        for name in systems(demo):
            r = demo["sets"][s][name]
            w = demo["sets"][s]["lm"].get(name.removesuffix(" rescoring"), {})
            weights = " / ".join(f"{w[k]:.3g}" for k in ("lm_scale", "word_penalty", "fp_lm_scale") if k in w)
            p = r.get("p_better_than_first_pass")
            rows.append([name, f"{r['wer']:.2f}", f"{r['errors']}/{r['ref_words']}",
                         f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]", "" if p is None else f"{p:.3f}", weights,
                         f"{w['dev_wer']:.2f}" if "dev_wer" in w else ""])
        parts.append(f"### {s}\n\n" + table(["system", "test WER %", "errors", "95 % CI", "P(better than first pass)",
                                             "lm_scale / word_penalty [/ fp_lm_scale] (tuned on dev)", "dev WER %"],
                                            rows))
    return "\n\n".join(parts)


def search_section(rows: list[dict], title: str = "Settings search on dev (`benchmarks/quality/dev_search.py`)",
                   what: str = "") -> str:
    body = [[r["system"], ", ".join(f"{k} {v}" for k, v in r["config"].items()),
             f"{r['dev_ppl']:.2f}" if "dev_ppl" in r else "failed", f"{r.get('parameters') or 0:,}",
             f"{r.get('train_tokens', 0):,}", r.get("rounds", ""), (r["provenance"].get("commit") or "")[:12]]
            for r in rows]
    best: dict[str, dict] = {}
    for r in rows:
        if "dev_ppl" in r and (r["system"] not in best or r["dev_ppl"] < best[r["system"]]["dev_ppl"]):
            best[r["system"]] = r
    counts = {}
    for r in rows:
        counts[r["system"]] = counts.get(r["system"], 0) + 1
    return (f"## {title}\n\n{what}"
            "Runs per system: " + ", ".join(f"{s} {n}" for s, n in counts.items()) + " (every system the same "
            "dropout x learning-rate grid; configurations beyond it name the option they change on top of the "
            "recipe's settings), judged by perplexity on the held-out novel's dev chapters; every run is listed.\n\n"
            + table(["system", "configuration", "dev ppl", "parameters", "train tokens", "rounds", "commit"], body)
            + "\n\nBest on dev: " + "; ".join(f"{s}: {', '.join(f'{k} {v}' for k, v in r['config'].items())} "
                                              f"({r['dev_ppl']:.2f})" for s, r in best.items()) + ".")


def last_run(rows: list[dict]) -> list[dict]:
    """The records of the last run of a script (the trailing lines with its command, one per system)."""
    out: list[dict] = []
    for r in reversed(rows):
        if r["provenance"]["command"] != rows[-1]["provenance"]["command"] or r["system"] in {x["system"] for x in out}:
            break
        out.insert(0, r)
    return out


#: The options that set a system's own output layer.
OWN_KEYS = ("--col-hidden-dim", "--output-shortlist", "--cutoffs", "--bpe-pieces")


def own_options(command: str) -> str:
    """The options of a ``lightrnn-asr train`` command line that set a system's own output layer."""
    words = command.split()
    return " ".join(f"{k} {words[i + 1]}" for i, k in enumerate(words[:-1]) if k in OWN_KEYS)


def budgets_section(rows: list[dict]) -> str:
    """Equal-time budgets (``lexicon_scale.py --time-budget``): every run, each system's tokens in the time and
    its dev perplexity there."""
    body = [[r["system"], own_options(r["command"]), f"{r['time_budget_s']:g}", f"{r['train_tokens']:,}",
             f"{r['tokens_per_s']:,.0f}", f"{r['parameters']:,}", f"{r['dev_ppl']:.2f}",
             r["provenance"]["date"][:10], (r["provenance"].get("commit") or "")[:12]] for r in rows]
    _, opts, _ = recipe_settings()
    trunk = {}
    for system, options in opts.items():  # the recipe's options less the output layer's
        for key in OWN_KEYS:
            options = without(options, key)
        trunk[system] = options
    best: dict[str, dict] = {}
    for r in rows:  # each system's candidates (the recipe's systems are named by model type), its other options
        words = r["command"].split()
        system = words[words.index("--model-type") + 1]
        if system in trunk and " ".join(trunk[system]) in r["command"] \
                and r["dev_ppl"] < best.get(system, {"dev_ppl": 1e9})["dev_ppl"]:
            best[system] = r
    return ("## Equal-time token budgets at the recognizer's vocabulary (`benchmarks/speed/lexicon_scale.py "
            "--time-budget`)\n\nEach system trains for the same seconds, one after the other on a machine running "
            "nothing else; the tokens it trained are the demo's token budget for it (`recipes/pocketsphinx/run.sh`), "
            "and its dev perplexity there is its quality at equal time: the candidates of each system's own "
            "output-layer settings (docs/protocol.md) are compared here. Every run is listed; runs of other days may "
            "have had a faster or slower machine (the same system's tokens in the same seconds differ), so candidates "
            "are compared within one run (one date and commit).\n\n"
            + table(["system", "own settings", "seconds", "tokens trained", "tokens/s", "parameters", "dev ppl",
                     "date", "commit"], body)
            + "\n\nLowest dev perplexity at equal time, among the runs with the recipe's other options: "
            + "; ".join(f"{s}: {own_options(r['command']) or 'its defaults'} ({r['dev_ppl']:.2f}, "
                        f"{r['train_tokens']:,} tokens)" for s, r in best.items()) + ".")


def speed_section(rows: list[dict], title: str, what: str) -> str:
    """One run's systems side by side (``benchmarks/speed/lexicon_scale.py`` records), and the LightRNN's ratios."""
    body = [[r["system"], f"{r['vocab']:,}", f"{r['parameters']:,}", f"{r['file_mb']:.1f}", f"{r['peak_rss_mb']:.0f}",
             f"{r['tokens_per_s']:,.0f}", f"{r['hyps_per_s']:,.0f}", f"{r['words_per_s']:,.0f}", f"{r['dev_ppl']:.1f}",
             (r["provenance"].get("commit") or "")[:12]] for r in rows]
    light = next((r for r in rows if r["system"] == "lightrnn"), None)
    ratios = "" if light is None else "\n\nThe LightRNN against each: " + "; ".join(
        f"{r['system']}: {light['parameters'] / r['parameters']:.2f}x the parameters, "
        f"{light['tokens_per_s'] / r['tokens_per_s']:.2f}x the training tokens/s, "
        f"{light['hyps_per_s'] / r['hyps_per_s']:.2f}x the hypotheses/s" for r in rows if r is not light) + "."
    return (f"## {title}\n\n{what} Dev perplexity is after the short budget ({rows[0]['token_budget']:,} tokens): "
            "a speed run, not the quality comparison. N-best: `" + rows[0]["nbest"] + "`, "
            f"{rows[0]['hypotheses']:,} hypotheses, {rows[0]['threads']} threads.\n\n"
            + table(["system", "vocabulary", "parameters", "file MB", "peak RSS MB (training)", "train tokens/s",
                     "hyps/s", "words/s", "dev ppl", "commit"], body) + ratios)


def ctc_section(rows: list[dict]) -> str:
    """Shallow fusion in a CTC decoder (``benchmarks/quality/ctc_fusion.py``), one run."""
    body = [[r["system"], f"{r['wer']:.2f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]",
             f"{r['confused_word_errors']} / {r['confused_words']}", f"{r['seconds']:.1f}",
             f"{r['seconds'] / r['sentences']:.2f}",
             f"{r['p_lightrnn_better']:.3f}" if "p_lightrnn_better" in r else "",
             (r["provenance"].get("commit") or "")[:12]] for r in rows]
    first = rows[0]
    return ("## Shallow fusion in a CTC decoder (`benchmarks/quality/ctc_fusion.py`)\n\n"
            f"{first['decoder']}, lexicon = the LM vocabulary ({first['vocab']:,} words), beam {first['beam']}; "
            f"emissions built from {first['sentences']} synthetic test sentences ({first['words']:,} words), "
            f"{first['confused_words']} words of which lean acoustically to a homophone of the same length: what "
            "only context can settle. Every system on the same emissions, one after the other. The decoder breaks "
            "exact ties between hypotheses in an order that can change from run to run (two runs of the same "
            "commit differed in the second decimal); every run is in `docs/bench/ctc_fusion.jsonl`.\n\n"
            + table(["system", "WER % [95 % CI]", "errors on the confused words", "decoding s", "s per sentence",
                     f"P(LightRNN better) (below {NOISE} either way: noise)", "commit"], body))


def ctc_tuned_section(rows: list[dict], record: Path, weight: str = "lm_weight", note: str = "") -> str:
    """Shallow fusion in a CTC decoder with each LM's weight chosen on dev (``benchmarks/quality/ctc_fusion.py``,
    ``benchmarks/quality/ctc_pyctcdecode.py``): the test rows of the last run."""
    body = [[r["system"], f"{r[weight]:g}", "" if r.get("dev_wer") is None else f"{r['dev_wer']:.2f}",
             f"{r['wer']:.2f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]",
             f"{r['confused_word_errors']} / {r['confused_words']}", f"{r['seconds'] / r['sentences']:.2f}",
             f"{r['p_lightrnn_better']:.3f}" if "p_lightrnn_better" in r else "",
             (r["provenance"].get("commit") or "")[:12]] for r in rows]
    first, grid = rows[0], next((r[f"{weight}_grid"] for r in rows if r.get(f"{weight}_grid")), [])
    script = record.stem.replace("_dev_tuned", "")
    return (f"## Shallow fusion in a CTC decoder: {first['decoder']} (`benchmarks/quality/{script}.py`)\n\n"
            f"Beam {first['beam']}; vocabulary {first['vocab']:,} words; emissions built from {first['sentences']} "
            f"synthetic test sentences ({first['words']:,} words), {first['confused_words']} words of which lean "
            f"acoustically to a homophone of the same length. Each LM's weight is chosen from "
            f"{', '.join(f'{w:g}' for w in grid)} on synthetic dev sentences (every dev run is in "
            f"`{record.relative_to(ROOT)}`); the test was decoded once per system. {note}\n\n"
            + table(["system", "LM weight", "dev WER %", "test WER % [95 % CI]", "errors on the confused words",
                     "s per sentence", f"P(LightRNN better) (below {NOISE} either way: noise)", "commit"], body))


def runs_of(rows: list[dict]) -> list[list[dict]]:
    """The rows split into runs: consecutive rows with the same command."""
    out: list[list[dict]] = []
    for r in rows:
        if not out or r["provenance"]["command"] != out[-1][0]["provenance"]["command"] \
                or r["system"] in {x["system"] for x in out[-1]}:
            out.append([])
        out[-1].append(r)
    return out


def ctc_names_section(rows: list[dict], record: Path) -> str:
    """Contact names in shallow fusion (``benchmarks/quality/ctc_fusion_names.py``, flashlight-text, and
    ``benchmarks/quality/ctc_pyctcdecode_names.py``, pyctcdecode): the test rows of every run in ``record``."""
    pyctc = record == CTC_PYCTC_NAMES
    if pyctc:
        title = "pyctcdecode, with its hotwords"
        setup = ("pyctcdecode decodes without a lexicon; its hotwords (the contact list) add a weight per match. "
                 "Emissions built from the demo's name-rich sentences, every contact name leaning acoustically to the "
                 "LM vocabulary's closest word of the same length, so that without an LM the decoder writes that word. "
                 "Each system's alpha (beta 0) and hotword weight (none: no hotwords) are chosen on dev sentences of "
                 "the same kind. A run's `--demo` is the recipe directory whose LMs it used (`/tmp/seeddemoN`: the "
                 "demo's data and first pass with the LMs `benchmarks/reliability/seed_spread.py` trained with seed N)")
        setting, column = (lambda r: ("-" if r["alpha"] is None else f"{r['alpha']:g}") + " / "
                           + ("none" if r["hotword_weight"] is None else f"{r['hotword_weight']:g}"),
                           "alpha / hotword weight")
    else:
        title = "flashlight-text"
        setup = ("The lexicon is the LM vocabulary and the contact list; emissions built from the demo's name-rich "
                 "sentences, every contact name leaning acoustically to the LM vocabulary's closest word of the same "
                 "length, so that without an LM the decoder writes that word. Each LM system's weight and offset per "
                 "name (nats) are chosen on dev sentences of the same kind")
        setting, column = (lambda r: "" if r["grid"] is None else f"{r['lm_weight']:g} / {r['name_offset']:+g}",
                           "LM weight / offset")
    script = "ctc_pyctcdecode_names" if pyctc else "ctc_fusion_names"
    parts = [f"## Contact names in shallow fusion: {title} (`benchmarks/quality/{script}.py`)\n\n{setup} (every dev "
             f"run is in `{record.relative_to(ROOT)}`); the test was decoded once per system and run. Every run is "
             "shown."]
    for run in runs_of(rows):
        ref, first = run[0]["reference"], run[0]
        grid = next(r["grid"] for r in run if r["grid"] and (not pyctc or r["grid"]["alpha"]))
        ref_wer = next(r["wer"] for r in run if r["system"] == ref)

        def paired(r: dict) -> list[str]:
            """P cells against the reference; two outputs with no error are the same output (older records
            do not say)."""
            if r["system"] != ref and (r.get("same_output_as_reference") or r["wer"] == ref_wer == 0):
                return ["same output"] * 2
            return [f"{r[k]:.3f}" if k in r else "" for k in ("p_reference_fewer_name_errors", "p_reference_better_wer")]

        body = [[r["system"].replace("<unk>", "`<unk>`"), setting(r),
                 "" if r.get("dev_wer") is None else f"{r['dev_wer']:.2f}",
                 f"{r['wer']:.2f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]",
                 f"{r['ner']:.1f} [{r['ner_ci95'][0]:.1f}, {r['ner_ci95'][1]:.1f}]",
                 f"{r['name_errors']} / {r['name_tokens']}", str(r.get("false_names", "")),
                 *paired(r),
                 f"{r['seconds'] / r['sentences']:.2f}", (r["provenance"].get("commit") or "")[:12]] for r in run]
        decoys = (f" and as many name-free sentences in which {first['decoy_words']} distinct words one letter from "
                  "a contact name lean to it (writing a name there is a false name)" if first.get("decoys") else
                  ", no name-free sentences (nothing is lost by writing a name)")
        if pyctc:
            grid_text = (f"alpha {', '.join(f'{w:g}' for w in grid['alpha'])} x hotword weight "
                         f"{', '.join('none' if w is None else f'{w:g}' for w in grid['hotword_weight'])}; OOV offset "
                         f"{first['unk_score_offset']:g} (log10)")
        else:
            grid_text = (f"LM weight {', '.join(f'{w:g}' for w in grid['lm_weight'])} x offset "
                         f"{', '.join(f'{o:+g}' for o in grid['name_offset'])}")
        parts.append(f"`{first['provenance']['command']}`: beam {first['beam']}, {first['contacts']} contact names, "
                     f"lean {first.get('lean', 0.52):g} against {0.98 - first.get('lean', 0.52):.2f} per differing "
                     f"letter; {first['sentences']} test sentences ({first['words']:,} words): the name-rich ones"
                     f"{decoys}. Grid: {grid_text}.\n\n"
                     + table(["system", column, "dev WER %", "test WER % [95 % CI]",
                              "name error rate % [95 % CI]", "name errors", "false names",
                              f"P({ref} fewer name errors)", f"P({ref} better WER)", "s per sentence", "commit"], body))
    return "\n\n".join(parts) + f"\n\nP below {NOISE} either way: noise."


def long_line_section(rows: list[dict]) -> str:
    body = [[r["case"], f"{r['bytes']:,}", f"{r['peak_rss_bytes'] / 2**20:.0f}", r["exit_code"], r["output"].split(": ", 1)[-1]
             if r["exit_code"] else "scored", (r["provenance"].get("commit") or "")[:12]] for r in rows]
    return ("## One long line (`benchmarks/speed/long_line_memory.py`)\n\n`lightrnn-asr ppl` with a LightRNN of the demo's "
            "size, each case in a fresh process; peak resident memory of the process.\n\n"
            + table(["line", "bytes", "peak MiB", "exit", "result", "commit"], body))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def runs_section(runs: list[dict], same: list[dict]) -> str:
    verdicts = [f"- `{r['reports'][0]}` against `{r['reports'][1]}` (commit `{(r['provenance']['commit'] or '')[:12]}`): "
                f"{r['values_compared']} values compared (times, speeds and provenance left out), "
                f"{'every checkpoint, ' if r['checkpoints'] else ''}{'every file of the first pass, ' if r.get('files') else ''}"
                + ("identical." if r["identical"] else f"{len(r['differences'])} differ: {'; '.join(r['differences'][:5])}.")
                for r in same]
    return ("## Time of `make demo` (`benchmarks/reliability/fresh_clone_demo.sh`)\n\n"
            + "\n".join(f"- {run_time(r)}: `{r['clone']}`{'; ' + r['note'] if r.get('note') else ''}." for r in runs)
            + ("\n\nTwo runs compared (`benchmarks/reliability/compare_reports.py`):\n\n" + "\n".join(verdicts) if verdicts else ""))


def results_document(demo: dict, search: list[dict], long_lines: list[dict], runs: list[dict],
                     repeats: list[dict]) -> str:
    parts = ["# Results", "<!-- generated from docs/bench by benchmarks/render_results.py (make results); do not edit -->",
             "Every figure below comes from a record under `docs/bench/` that names its commit and command. How the "
             "runs were made (dev and test, equal search effort, budgets that do not depend on the machine): "
             "[protocol.md](protocol.md). The studies before that protocol: [studies/README.md](studies/README.md).",
             demo_section(demo, repeats)]
    if search:
        parts.append(search_section(search))
    if read_jsonl(SEARCH_LEXICON):
        parts.append(search_section(read_jsonl(SEARCH_LEXICON), "Settings search on dev at the recognizer's vocabulary "
                                    "(`benchmarks/quality/dev_search.py`)", "The demo's LMs at its vocabulary (73,255 words) "
                                    "and token budgets: the dropout x learning-rate grid, widened until no system's best "
                                    "sat on its edge; then each system's own output-layer settings on top of its best "
                                    "grid point, widened the same way. "))
    if read_jsonl(BUDGETS):
        parts.append(budgets_section(read_jsonl(BUDGETS)))
    if read_jsonl(LEXICON):
        parts.append(speed_section(last_run(read_jsonl(LEXICON)), "Every LM at the recognizer's vocabulary "
                                   "(`benchmarks/speed/lexicon_scale.py`)", "The vocabulary an ASR engineer gives a rescoring "
                                   "LM: the text's words and every word pocketsphinx's first pass can output. Each "
                                   "system trains for the same tokens, one after the other, then scores the same N-best "
                                   "lists in turn, in one run."))
    if read_jsonl(DEMO_VOCAB):
        parts.append(speed_section(last_run(read_jsonl(DEMO_VOCAB)), "The same at the demo's vocabulary",
                                   "The demo's vocabulary (the text's words seen twice or more), one run."))
    if read_jsonl(CTC_TUNED):
        parts.append(ctc_tuned_section(last_run([r for r in read_jsonl(CTC_TUNED) if r["split"] == "test"]), CTC_TUNED,
                                       note="The lexicon is the LM vocabulary; the first-pass trigram is "
                                            "pocketsphinx's en-us (`lightrnn_asr.lm.ngram.NgramLM`), scoring the "
                                            "lexicon's words it lacks -20 nats. flashlight-text breaks exact ties "
                                            "between hypotheses in an order that can change from run to run, so "
                                            "two runs of one commit can differ in the second decimal."))
    if read_jsonl(CTC_PYCTCDECODE):
        parts.append(ctc_tuned_section(last_run([r for r in read_jsonl(CTC_PYCTCDECODE) if r["split"] == "test"]),
                                       CTC_PYCTCDECODE, "alpha", "pyctcdecode decodes without a lexicon (beta 0); "
                                       "its n-gram LM is KenLM's, not installed here, so it has no n-gram row."))
    if read_jsonl(CTC_NAMES):
        parts.append(ctc_names_section([r for r in read_jsonl(CTC_NAMES) if r["split"] == "test"], CTC_NAMES))
    if read_jsonl(CTC_PYCTC_NAMES):
        parts.append(ctc_names_section([r for r in read_jsonl(CTC_PYCTC_NAMES) if r["split"] == "test"],
                                       CTC_PYCTC_NAMES))
    if read_jsonl(CTC):
        parts.append(ctc_section(last_run(read_jsonl(CTC))))
    if runs:
        parts.append(runs_section(runs, read_jsonl(SAME)))
    if long_lines:
        parts.append(long_line_section(long_lines))
    return "\n\n".join(parts) + "\n"


def rendered_readme(readme: str, demo: dict, runs: list[dict], repeats: list[dict]) -> str:
    block = readme_block(demo, runs, repeats)
    if BEGIN in readme:
        return re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S)
    raise SystemExit(f"{README}: no '{BEGIN}' marker")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, help="a new make demo record (results.json) to copy to docs/bench/demo.json")
    ap.add_argument("--repeat", action="store_true",
                    help="with --demo: the new record repeats the current one's recipe; keep the current one in "
                         "docs/bench/demo_repeats/ (its date and commit name it), so that both runs are shown")
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/results.md or README's table is out of date")
    args = ap.parse_args()
    if args.demo:
        if args.repeat:
            prov = json.loads(DEMO.read_text())["provenance"]
            REPEATS.mkdir(exist_ok=True)
            shutil.copyfile(DEMO, REPEATS / f"{prov['date'][:10]}_{(prov.get('commit') or 'unknown')[:7]}.json")
        shutil.copyfile(args.demo, DEMO)
    demo = json.loads(DEMO.read_text())
    runs = read_jsonl(RUNS)
    repeats = sorted((json.loads(p.read_text()) for p in REPEATS.glob("*.json")), key=lambda r: r["provenance"]["date"])
    want = {RESULTS: results_document(demo, read_jsonl(SEARCH), read_jsonl(LONG_LINES), runs, repeats),
            README: rendered_readme(README.read_text(), demo, runs, repeats)}
    stale = [p for p, text in want.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date: run make results")
        sys.exit(1 if stale else 0)
    for p in stale:
        p.write_text(want[p])
        print(f"wrote {p.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
