#!/usr/bin/env python3
"""Rescore the N-best lists with each LM, tune scales on dev, report WER on test.

For every evaluation set the weights (lm_scale, word_penalty and, for the LM +
trigram system, the trigram's weight) are tuned on the set's dev half by
``tune_scales``' automatic search, the same as ``lightrnn-asr rescore`` with no
scale option; the chosen weights are applied unchanged to its test half.
Writes REPORT/results.md (the table printed at the end), REPORT/results.json,
REPORT/scale_sweep_<set>.png (dev WER versus lm_scale) and
REPORT/perplexity_rounds.png, plus the 1-best of every system in REPORT/hyp/.

An LM with a backward LM beside it (EXP/lm/DIR_backward/best.pt, ``train --backward`` on the same text)
also rescores as the pair, "LM + backward": the two log-probs averaged (``with_backward_lm``, weight 0.5).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from lightrnn_asr import (
    bootstrap_ci,
    compute_wer,
    encode_corpus,
    load_checkpoint,
    one_best,
    oracle,
    perplexity,
    read_nbest,
    read_text,
    score_nbest,
    tune_scales,
    with_backward_lm,
    write_text,
)
from lightrnn_asr.evaluation.report import markdown_table, plot_perplexity_rounds, plot_scale_sweep
from lightrnn_asr.utils.provenance import provenance

SETS = ("librivox", "asterisk", "synthetic")
SET_NOTES = {
    "librivox": "real read speech (LibriVox, *Sense and Sensibility*)",
    "asterisk": "real telephony prompts (Asterisk, G.722)",
    "synthetic": "SYNTHETIC speech (flite) of held-out *Sense and Sensibility* sentences",
}
#: LM name -> directory under EXP/lm; the ones trained (with a best.pt) are evaluated
LMS = {"LightRNN": "lightrnn", "LSTM (adaptive softmax)": "adaptive", "LSTM (full softmax)": "lstm", "LSTM (BPE)": "bpe"}
NGRAM = "pocketsphinx trigram"
BACKWARD = "_backward"  # EXP/lm/DIR_backward: the backward LM of EXP/lm/DIR
NAMES = Path(__file__).with_name("sense_and_sensibility_names.txt")
UNSEEN_VOICE = "kal16"  # synthetic test only (prepare_audio.py)


def subsets(refs: dict, names: set[str]) -> dict[str, list[str]]:
    """Utterance ids of the parts of a test set worth a WER of their own: with and without a name
    of the novel, and (synthetic) read by the voice that dev never has."""
    out = {"with a name": [u for u, r in refs.items() if names & set(r)],
           "without a name": [u for u, r in refs.items() if not names & set(r)]}
    unseen = [u for u in refs if f"-{UNSEEN_VOICE}-" in u]
    if unseen:
        out[f"voice {UNSEEN_VOICE} (not in dev)"] = unseen
    return {k: v for k, v in out.items() if v}


def subset_section(s: str, refs: dict, systems: dict, names: set[str], replications: int) -> tuple[str, dict]:
    """A markdown table: WER [95% CI] of every system on each part of the test set."""
    parts = subsets(refs, names)
    res, rows = {}, []
    for sys_name, hyp in systems.items():
        row = [sys_name]
        for part, utts in parts.items():
            r, h = {u: refs[u] for u in utts}, {u: hyp[u] for u in utts}
            c, w = bootstrap_ci(r, h, replications=replications), compute_wer(r, h).wer
            res.setdefault(part, {})[sys_name] = {"wer": w, "ci95": [100 * c["ci95min"], 100 * c["ci95max"]]}
            row.append(f"{w:.2f} {ci_text(c)}")
        rows.append(row)
    head = [f"{k} ({len(v)} utt, {sum(len(refs[u]) for u in v)} words)" for k, v in parts.items()]
    return (f"#### {s} test, by part: WER % [95% CI]\n\n" + markdown_table(["system", *head], rows)), res


def as_lm(scored: dict) -> dict:
    """The same N-best lists with the first-pass LM score moved into the ``lm`` slot."""
    return {u: dataclasses.replace(x, lm=x.fp_lm, fp_lm=None) for u, x in scored.items()}


def provenance_line(prov: dict) -> str:
    """One sentence of a report: date, commit, CPU, cores and threads, versions, command."""
    v = prov["versions"]
    return (f"{prov['date']}; commit {(prov['commit'] or 'unknown')[:12]}; {prov['cpu']}, {prov['cores']} cores, "
            f"{prov['threads']} torch threads; Python {v['python']}, torch {v.get('torch')}; "
            f"command `{prov['command']}`")


def write_report(out: Path, stem: str, title: str, lm: str, sections: list[str], results: dict,
                 versions: str = "") -> None:
    """OUT/STEM.md (title, provenance, then the sections) and OUT/STEM.json (with its provenance)."""
    prov = provenance()
    header = f"## {title}\n\n{provenance_line(prov)}{versions}; LM: {lm}.\n\n"
    (out / f"{stem}.md").write_text(header + "\n\n".join(sections) + "\n")
    (out / f"{stem}.json").write_text(json.dumps({**results, "provenance": prov}, indent=1))


def scales_text(r: dict | None) -> str:
    if not r:
        return ""
    text = f"{r['lm_scale']:.3g} / {r['word_penalty']:.3g}"
    return text + (f" / {r['fp_lm_scale']:.3g}" if "fp_lm_scale" in r else "")


def ci_text(c: dict) -> str:
    return f"[{100 * c['ci95min']:.1f}, {100 * c['ci95max']:.1f}]"


def paired_comparisons(test_ref: dict, systems: dict, res: dict, replications: int) -> str:
    """Paired bootstrap P of the comparisons worth a line under a set's table (also stored in ``res``): the
    LightRNN (+ backward) + trigram against the LSTM (+ backward) + trigram with the lower dev WER, and every
    forward/backward pair against its forward LM alone."""
    text = ""

    def p_better(first: str, second: str) -> float:
        c = bootstrap_ci(test_ref, systems[f"{first} rescoring"], systems[f"{second} rescoring"],
                         replications=replications)
        return c["p_s2_improv_over_s1"]

    for pair, key in (("", "lightrnn_vs_lstm"), (" + backward", "lightrnn_vs_lstm_backward")):
        best_lstm = min((n for n in res["lm"] if n.startswith("LSTM") and n.endswith(f"){pair} + {NGRAM}")),
                        key=lambda n: res["lm"][n]["dev_wer"], default=None)
        combo = f"LightRNN{pair} + {NGRAM}"
        if best_lstm and combo in res["lm"]:
            p = p_better(best_lstm, combo)
            res[key] = {"lstm": best_lstm, "p_lightrnn_better": p}
            text += (f"\n\n{combo} against {best_lstm} (the LSTM{pair} + trigram with the lower dev WER): "
                     f"P(LightRNN better) = {p:.3f} over {replications} replications.")
    for pair in [n for n in res["lm"] if " + backward" in n]:
        single = pair.replace(" + backward", "")
        p = p_better(single, pair)
        res.setdefault("backward_vs_forward", {})[pair] = {"forward": single, "p_pair_better": p}
        text += f"\n\n{pair} against {single}: P(pair better) = {p:.3f} over {replications} replications."
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--exp", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--replications", type=int, default=10000)
    args = ap.parse_args()
    out = args.out
    (out / "hyp").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)

    models, lm_info, histories = {}, {}, {}
    heldout = args.data / "lm" / "heldout_test.txt"  # the novel's test chapters
    trained = {n: d for n, d in LMS.items() if (args.exp / "lm" / d / "best.pt").exists()}
    trained.update({f"{n} backward": d + BACKWARD for n, d in LMS.items()
                    if n in trained and (args.exp / "lm" / (d + BACKWARD) / "best.pt").exists()})
    names = set(NAMES.read_text().split())
    for name, d in trained.items():
        ck = load_checkpoint(args.exp / "lm" / d / "best.pt")
        models[name] = ck
        ppl = perplexity(ck.model, encode_corpus(heldout, ck.vocab, backward=ck.model.backward),
                         unk_id=ck.vocab.unk_id)
        dev_ppl = perplexity(ck.model, encode_corpus(heldout.with_name("heldout_dev.txt"), ck.vocab,
                                                     backward=ck.model.backward), unk_id=ck.vocab.unk_id)
        hist = json.loads((args.exp / "lm" / d / "history.json").read_text())
        histories[name] = hist
        lm_info[name] = {
            "parameters": ck.model.num_parameters(),
            "file_mb": (args.exp / "lm" / d / "best.pt").stat().st_size / 2**20,
            "dev_ppl": dev_ppl.perplexity,
            "heldout_ppl": ppl.perplexity,
            "heldout_oov": ppl.oov_rate,
            "vocab": len(ck.vocab),
            "train_seconds": sum(h["train_seconds"] for h in hist),
            "train_tokens": sum(h["train_tokens"] for h in hist),
            "tokens_per_s": float(np.mean([h["tokens_per_s"] for h in hist])),
            "rounds": len(hist),
        }
    plot_perplexity_rounds(histories, out / "perplexity_rounds.png")

    results, sections = {}, []
    for s in SETS:
        dev_ref = read_text(args.data / f"{s}_dev" / "text")
        test_ref = read_text(args.data / f"{s}_test" / "text")
        dev_nb = read_nbest(args.exp / "decode" / f"{s}_dev" / "nbest.txt")
        test_nb = read_nbest(args.exp / "decode" / f"{s}_test" / "nbest.txt")
        first = read_text(args.exp / "decode" / f"{s}_test" / "text")
        systems = {"first pass (pocketsphinx 1-best)": first}
        am_only = score_nbest(None, None, test_nb)
        systems["N-best oracle"] = oracle(am_only, test_ref)
        sweeps, res = {}, {"lm": {}}
        tuned = tune_scales(as_lm(score_nbest(None, None, dev_nb)), dev_ref)
        sweeps[NGRAM] = (tuned.lm_scales, tuned.sweep_wer)
        systems[f"{NGRAM} rescoring"] = one_best(as_lm(am_only), tuned.scales)
        res["lm"][NGRAM] = {"lm_scale": tuned.scales.lm_scale, "word_penalty": tuned.scales.word_penalty,
                            "dev_wer": tuned.best_wer}
        scored = {}
        warm = dict(list(dev_nb.items())[:20])
        for name, ck in models.items():
            score_nbest(ck.model, ck.vocab, warm)  # untimed: the first call's set-up must not count against one LM
            t0 = time.perf_counter()
            scored[name] = (score_nbest(ck.model, ck.vocab, dev_nb), score_nbest(ck.model, ck.vocab, test_nb),
                            sum(len(h) for h in dev_nb.values()) + sum(len(h) for h in test_nb.values()))
            scored[name] += (time.perf_counter() - t0,)
        for name in [n for n in models if f"{n} backward" in models]:  # a forward LM beside its backward one
            (fd, ft, n_hyps, fs), (bd, bt, _, bs) = scored.pop(name), scored.pop(f"{name} backward")
            scored[name] = fd, ft, n_hyps, fs
            scored[f"{name} + backward"] = with_backward_lm(fd, bd), with_backward_lm(ft, bt), n_hyps, fs + bs
        for name, (dev_scored, test_scored, n_hyps, secs) in scored.items():
            tuned = tune_scales(dev_scored, dev_ref, fp_lm_scales=[0.0])  # the LM alone
            sweeps[name] = (tuned.lm_scales, tuned.sweep_wer)
            systems[f"{name} rescoring"] = one_best(test_scored, tuned.scales)
            res["lm"][name] = {"lm_scale": tuned.scales.lm_scale, "word_penalty": tuned.scales.word_penalty,
                               "dev_wer": tuned.best_wer, "hyps_per_s": n_hyps / secs}
            both = tune_scales(dev_scored, dev_ref)  # every LM also with the trigram, its weight tuned too
            combo = f"{name} + {NGRAM}"
            systems[f"{combo} rescoring"] = one_best(test_scored, both.scales)
            res["lm"][combo] = {"lm_scale": both.scales.lm_scale, "word_penalty": both.scales.word_penalty,
                                "fp_lm_scale": both.scales.fp_lm_scale, "dev_wer": both.best_wer}
        plot_scale_sweep(sweeps, out / f"scale_sweep_{s}.png", f"{s} dev: WER vs lm_scale (best word penalty)")
        rows, first_wer = [], compute_wer(test_ref, first)
        for sys_name, hyp in systems.items():
            w = compute_wer(test_ref, hyp)
            slug = "_".join(w for w in sys_name.lower().replace("(", "").replace(")", "").replace("+", "").split())
            write_text(out / "hyp" / f"{s}_test_{slug}.txt", hyp)
            cmp = bootstrap_ci(test_ref, first, hyp, replications=args.replications)
            lm_name = next((n for n in res["lm"] if sys_name == f"{n} rescoring"), None)
            info = lm_info.get(lm_name.split(" + ")[0], {}) if lm_name else {}
            if lm_name and lm_name.split(f" + {NGRAM}")[0].endswith(" + backward"):  # the pair: both LMs' size, ppls
                back = lm_info[lm_name.split(" + ")[0] + " backward"]
                info = {"parameters": info["parameters"] + back["parameters"],
                        "heldout_ppl_text": f"{info['heldout_ppl']:.1f} / {back['heldout_ppl']:.1f}"}
            res[sys_name] = {"wer": w.wer, "errors": w.errors, "ref_words": w.ref_words,
                             "ci95": [100 * cmp["system2"]["ci95min"], 100 * cmp["system2"]["ci95max"]],
                             "p_better_than_first_pass": cmp["p_s2_improv_over_s1"]}
            rows.append([
                sys_name, f"{w.wer:.2f}", f"{w.errors}/{w.ref_words}", ci_text(cmp["system2"]),
                f"{w.wer - first_wer.wer:+.2f}" if sys_name != next(iter(systems)) else "",
                f"{cmp['p_s2_improv_over_s1']:.3f}" if sys_name != next(iter(systems)) else "",
                f"{info['parameters'] / 1e6:.2f}M" if info else "",
                (info.get("heldout_ppl_text") or f"{info['heldout_ppl']:.1f}") if info else "",
                scales_text(res["lm"].get(lm_name)),
            ])
        n_avg = np.mean([len(h) for h in test_nb.values()])
        sections.append(
            f"### {s} test: {SET_NOTES[s]}\n\n{len(test_ref)} utterances, {first_wer.ref_words} reference words, "
            f"{n_avg:.1f} distinct hypotheses per N-best list on average; scales tuned on {len(dev_ref)} dev "
            f"utterances.\n\n" + markdown_table(
                ["system", "WER %", "errors", "95% CI", "vs first pass", "P(better)", "LM params",
                 "held-out ppl", "lm_scale / word_penalty [/ trigram scale]"], rows))
        part_md, res["parts"] = subset_section(s, test_ref, systems, names, args.replications)
        part_md += paired_comparisons(test_ref, systems, res, args.replications)
        sections[-1] += "\n\n" + part_md
        results[s] = res

    lm_rows = [[n, i["vocab"], f"{i['parameters']:,}", f"{i['file_mb']:.1f}", f"{i['dev_ppl']:.1f}",
                f"{i['heldout_ppl']:.1f}",
                f"{100 * i['heldout_oov']:.2f}", i["rounds"], f"{i['train_tokens'] / 1e6:.2f}M",
                f"{i['train_seconds'] / 60:.1f}", f"{i['tokens_per_s']:.0f}"] for n, i in lm_info.items()]
    ratios = "".join(f"\n\nThe {n} has {i['parameters'] / lm_info['LightRNN']['parameters']:.1f}x the parameters of the "
                     "LightRNN." for n, i in lm_info.items()
                     if n != "LightRNN" and not n.endswith(" backward") and "LightRNN" in lm_info)
    prov = provenance()
    header = (
        f"## Results of `make demo` (recipes/pocketsphinx)\n\n{provenance_line(prov)}.\n\n"
        f"### Language models (same vocabulary and training text; each trained for as many tokens as it trains in "
        f"180 s on the 2-core reference machine)\n\n"
        + markdown_table(["LM", "vocabulary", "parameters", "file MB", "dev ppl", "test ppl", "OOV %", "rounds",
                          "train tokens", "train min", "train tokens/s"], lm_rows)
        + ratios + "\n"
    )
    report = header + "\n" + "\n\n".join(sections) + "\n"
    (out / "results.md").write_text(report)
    (out / "results.json").write_text(json.dumps({"lms": lm_info, "sets": results, "provenance": prov}, indent=1))
    print(report)


if __name__ == "__main__":
    main()
