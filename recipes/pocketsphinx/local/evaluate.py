#!/usr/bin/env python3
"""Rescore the N-best lists with each LM, tune scales on dev, report WER on test.

For every evaluation set the weights (lm_scale, word_penalty and, for the LM +
trigram system, the trigram's weight) are tuned on the set's dev half by
``tune_scales``' automatic search, the same as ``lightrnn-asr rescore`` with no
scale option; the chosen weights are applied unchanged to its test half.
Writes REPORT/results.md (the table printed at the end), REPORT/results.json,
REPORT/scale_sweep_<set>.png (dev WER versus lm_scale) and
REPORT/perplexity_rounds.png, plus the 1-best of every system in REPORT/hyp/.

The contact list of the name-rich set (DATA/names/words.txt, names the LM text lacks, kept out of every
LM's training vocabulary) is then given to each LM its own way, the way chosen on the name-rich dev set
(LM + trigram dev WER, with an offset per name from one grid for every way, NAME_OFFSETS): the LightRNN by
``add_words`` with copied rows of a like-word of the name's class (``EXEMPLARS``), or scoring each name
as that like-word, or as ``<unk>``; the word LSTMs as the like-word (a class-based copy of its vectors)
or as ``<unk>``; the BPE LSTM spells them in its pieces (``spell_words``). The chosen LM rescores every set.
The name-rich test's table has WER, name error rate and the WER of the utterances without a name
for every system, and the paired bootstrap P(fewer name errors) of the LightRNN + trigram against
each other LM + trigram.

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
    load_checkpoint,
    one_best,
    oracle,
    perplexity,
    read_nbest,
    read_text,
    score_nbest,
    tune_scales,
)
from lightrnn_asr.evaluation.names import name_report, p_fewer_name_errors
from lightrnn_asr.evaluation.report import markdown_table, plot_perplexity_rounds, plot_scale_sweep
from lightrnn_asr.formats.nbest import write_text
from lightrnn_asr.lm.piece_lstm import spell_words
from lightrnn_asr.scoring.nbest import with_backward_lm
from lightrnn_asr.text.corpus import encode_corpus
from lightrnn_asr.text.pieces import load_pieces
from lightrnn_asr.training.openvocab import add_words
from lightrnn_asr.utils.provenance import provenance

SETS = ("librivox", "asterisk", "synthetic", "names")
NAMES_SET = "names"
#: per name class, a word every LM knows well that is used the way the class's names are
EXEMPLARS = {"first": "john", "last": "smith", "place": "london", "novel": "fanny"}
#: the offset (nats) added to the LM score per name of the contact list, for every way; tuned on dev
NAME_OFFSETS = (40.0, 32.0, 24.0, 20.0, 16.0, 12.0, 9.0, 6.0, 4.0, 2.0, 0.0, -2.0, -4.0, -8.0, -14.0, -20.0)
SET_NOTES = {
    "librivox": "real read speech (LibriVox, *Sense and Sensibility*)",
    "asterisk": "real telephony prompts (Asterisk, G.722)",
    "synthetic": "SYNTHETIC speech (flite) of held-out *Sense and Sensibility* sentences",
    "names": "SYNTHETIC speech (flite) of contact commands and held-out novel sentences, each with a name the "
             "LM text lacks (local/prepare_names.py)",
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


def read_contacts(path: Path) -> dict[str, str]:
    """``{name: class}`` from ``NAME CLASS`` lines (``prepare_names.py``'s words.txt)."""
    out = {}
    for n, line in enumerate(path.open(encoding="utf-8"), 1):
        parts = line.split()
        if len(parts) != 2 or parts[1] not in EXEMPLARS:
            raise SystemExit(f"{path}:{n}: expected 'NAME CLASS' (CLASS one of {sorted(EXEMPLARS)}), got {line.strip()!r}")
        out[parts[0]] = parts[1]
    return out


def exemplars(vocab) -> dict[str, str]:
    """:data:`EXEMPLARS`, checked against the vocabulary."""
    missing = sorted({w for w in EXEMPLARS.values() if w not in vocab})
    if missing:
        raise SystemExit(f"the like-words {missing} are not in the LM's vocabulary")
    return dict(EXEMPLARS)


def name_ways(ck, lm_dir: Path, contacts: dict[str, str]) -> dict[str, tuple]:
    """The ways an LM can know the contact list: ``{label: (model, vocab, substitute)}``, ``substitute`` a
    ``{name: word}`` map applied to the hypotheses before scoring (or ``None``)."""
    kind = ck.model.config.model_type
    if kind == "bpe":
        model, vocab = spell_words(ck.model, ck.vocab, list(contacts), load_pieces(lm_dir / "bpe.model"))
        return {"spelled in pieces": (model, vocab, None)}
    like_of = exemplars(ck.vocab)
    like = {w: like_of[c] for w, c in contacts.items()}
    ways = {}
    if kind == "lightrnn":
        model, vocab, _, _ = add_words(ck.model, ck.vocab, ck.table, list(contacts), like=like,
                                       like_placement="copy-row")
        ways["add-words, copied rows"] = (model, vocab, None)
    ways["as the like-word"] = (ck.model, ck.vocab, like)
    ways["as <unk>"] = (ck.model, ck.vocab, None)
    return ways


def score_way(way: tuple, nbest: dict) -> dict:
    """``score_nbest`` with a way of knowing the names: with a ``{name: word}`` map, each name is scored as
    its like-word (the hypotheses keep their own words)."""
    model, vocab, sub = way
    if not sub:
        return score_nbest(model, vocab, nbest)
    swapped = {u: [dataclasses.replace(h, words=tuple(sub.get(w, w) for w in h.words)) for h in hyps]
               for u, hyps in nbest.items()}
    return {u: dataclasses.replace(x, words=[tuple(h.words) for h in nbest[u]]) for u, x in
            score_nbest(model, vocab, swapped).items()}


def with_offset(scored: dict, names: set[str], offset: float) -> dict:
    """The LM score plus ``offset`` (nats) per name of the contact list in each hypothesis: the one weight
    of a way of knowing the names, tuned on dev (negative: a penalty; positive: a bonus)."""
    if not offset:
        return scored
    return {u: dataclasses.replace(x, lm=x.lm + offset * np.array([sum(w in names for w in ws) for ws in x.words]))
            for u, x in scored.items()}


def choose_name_way(ck, lm_dir: Path, contacts: dict, dev_nb: dict, dev_ref: dict) -> tuple[str, tuple, float, dict]:
    """The way of knowing the names, and its offset per name (``NAME_OFFSETS``, the same grid for every way),
    with the lowest LM + trigram dev WER on the name-rich dev set; and every way's best (the losing ones too)."""
    tried, best, names = {}, None, set(contacts)
    for label, way in name_ways(ck, lm_dir, contacts).items():
        dev = score_way(way, dev_nb)
        for offset in NAME_OFFSETS:
            wer = tune_scales(with_offset(dev, names, offset), dev_ref).best_wer
            if label not in tried or wer < tried[label]["dev_wer"] - 1e-9:
                tried[label] = {"dev_wer": wer, "offset": offset}
            if best is None or wer < best[0] - 1e-9:
                best = (wer, label, way, offset)
    return best[1], best[2], best[3], tried


def names_section(refs: dict, systems: dict, names: set[str], replications: int,
                  without: dict | None = None) -> tuple[str, dict]:
    """The name-rich test's table: WER and name error rate [95% CI] of every system, beside its WER on the
    synthetic test's utterances without a name (``without``: ``{system: {"wer", "ci95"}}``, what knowing the
    names costs elsewhere), and P(LightRNN + trigram makes fewer name errors) against every other LM + trigram."""
    res, rows = {}, []
    for sys_name, hyp in systems.items():
        r = name_report(refs, hyp, names, replications=replications)
        c = bootstrap_ci(refs, hyp, replications=replications)
        r["wer"], r["ci95"] = compute_wer(refs, hyp).wer, [100 * c["ci95min"], 100 * c["ci95max"]]
        if without and sys_name in without:
            r["synthetic_without_a_name"] = without[sys_name]
        res[sys_name] = r
        wo = r.get("synthetic_without_a_name")
        rows.append([sys_name, f"{r['wer']:.2f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]",
                     f"{r['ner']:.1f} [{r['ner_ci95'][0]:.1f}, {r['ner_ci95'][1]:.1f}]",
                     "" if wo is None else f"{wo['wer']:.2f} [{wo['ci95'][0]:.1f}, {wo['ci95'][1]:.1f}]"])
    n = next(iter(res.values()))
    text = (f"#### {NAMES_SET} test: names ({n['name_tokens']} name tokens)\n\n"
            + markdown_table(["system", "WER % [95% CI]", "name error rate % [95% CI]",
                              "synthetic test, utterances without a name: WER % [95% CI]"], rows))
    mine = f"LightRNN + {NGRAM} rescoring"
    cmp = {}
    if mine in systems:
        for other in [k for k in systems if k != mine and k.endswith(f" + {NGRAM} rescoring")]:
            cmp[other] = p_fewer_name_errors(refs, systems[other], systems[mine], names, replications)
        text += "".join(f"\n\nP(LightRNN + trigram makes fewer name errors than {k.removesuffix(' rescoring')}) = "
                        f"{p:.3f}" for k, p in cmp.items())
    return text, {"systems": res, "p_lightrnn_fewer_name_errors": cmp}


def output_layer(config) -> str:
    """An LM's output layer in words, its own settings (those the recipe chose on dev) included: the
    LightRNN's table, output shortlist and column head, the adaptive softmax's cutoffs, the piece count."""
    if config.model_type == "lightrnn":
        head = (f"column head K = {config.col_hidden_dim}" if config.col_hidden_dim
                else f"column head K = H = {config.hidden_dim}")
        short = f"{config.output_shortlist:,}-word output shortlist, " if config.output_shortlist else ""
        return f"{config.n_rows} x {config.n_cols} table, {short}{head}"
    if config.model_type == "adaptive":
        return "adaptive softmax, cutoffs " + ", ".join(f"{c:,}" for c in config.cutoffs)
    if config.model_type == "bpe":
        return f"softmax over {config.n_pieces:,} pieces"
    return f"full softmax over {config.vocab_size:,} words"


def main() -> None:
    provenance()  # the commit, read when the run starts
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
    contacts = read_contacts(args.data / "names" / "words.txt")
    names_dev = (read_nbest(args.exp / "decode" / f"{NAMES_SET}_dev" / "nbest.txt"),
                 read_text(args.data / f"{NAMES_SET}_dev" / "text"))
    for name, d in trained.items():
        ck = load_checkpoint(args.exp / "lm" / d / "best.pt")
        label, way, offset, tried = choose_name_way(ck, args.exp / "lm" / d, contacts, *names_dev)
        models[name] = (way, offset)
        ppl = perplexity(ck.model, encode_corpus(heldout, ck.vocab, backward=ck.model.backward),
                         unk_id=ck.vocab.unk_id)
        dev_ppl = perplexity(ck.model, encode_corpus(heldout.with_name("heldout_dev.txt"), ck.vocab,
                                                     backward=ck.model.backward), unk_id=ck.vocab.unk_id)
        hist = json.loads((args.exp / "lm" / d / "history.json").read_text())
        histories[name] = hist
        lm_info[name] = {
            "parameters": ck.model.num_parameters(),
            "output_layer": output_layer(ck.model.config),
            "file_mb": (args.exp / "lm" / d / "best.pt").stat().st_size / 2**20,
            "dev_ppl": dev_ppl.perplexity,
            "heldout_ppl": ppl.perplexity,
            "heldout_oov": ppl.oov_rate,
            "vocab": len(ck.vocab),
            "train_seconds": sum(h["train_seconds"] for h in hist),
            "train_tokens": sum(h["train_tokens"] for h in hist),
            "tokens_per_s": float(np.mean([h["tokens_per_s"] for h in hist])),
            "rounds": len(hist),
            "names": {"way": label, "offset": offset, "tried": tried},
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
        for name, (way, offset) in models.items():
            score_way(way, warm)  # untimed: the first call's set-up must not count against one LM
            t0 = time.perf_counter()
            scored[name] = (with_offset(score_way(way, dev_nb), set(contacts), offset),
                            with_offset(score_way(way, test_nb), set(contacts), offset),
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
                 "held-out ppl", "lm_scale / word_penalty [/ fp_lm_scale]"], rows))
        if s == NAMES_SET:
            part_md, res["names"] = names_section(test_ref, systems, set(contacts), args.replications,
                                                  results.get("synthetic", {}).get("parts", {}).get("without a name"))
        else:
            part_md, res["parts"] = subset_section(s, test_ref, systems, names, args.replications)
        part_md += paired_comparisons(test_ref, systems, res, args.replications)
        sections[-1] += "\n\n" + part_md
        results[s] = res

    lm_rows = [[n, i["vocab"], i.get("output_layer", ""), f"{i['parameters']:,}", f"{i['file_mb']:.1f}", f"{i['dev_ppl']:.1f}",
                f"{i['heldout_ppl']:.1f}",
                f"{100 * i['heldout_oov']:.2f}", i["rounds"], f"{i['train_tokens'] / 1e6:.2f}M",
                f"{i['train_seconds'] / 60:.1f}", f"{i['tokens_per_s']:.0f}",
                f"{i['names']['way']} ({i['names']['offset']:+g})"] for n, i in lm_info.items()]
    ratios = "".join(f"\n\nThe {n} has {i['parameters'] / lm_info['LightRNN']['parameters']:.1f}x the parameters of the "
                     "LightRNN." for n, i in lm_info.items()
                     if n != "LightRNN" and not n.endswith(" backward") and "LightRNN" in lm_info)
    prov = provenance()
    header = (
        f"## Results of `make demo` (recipes/pocketsphinx)\n\n{provenance_line(prov)}.\n\n"
        f"### Language models (same vocabulary and training text; each trained for as many tokens as it trains in "
        f"180 s on the 2-core reference machine)\n\n"
        + markdown_table(["LM", "vocabulary", "output layer", "parameters", "file MB", "dev ppl", "test ppl", "OOV %", "rounds",
                          "train tokens", "train min", "train tokens/s", "the contact list (offset per name, nats)"],
                         lm_rows)
        + ratios + "\n"
    )
    report = header + "\n" + "\n\n".join(sections) + "\n"
    (out / "results.md").write_text(report)
    (out / "results.json").write_text(json.dumps({"lms": lm_info, "sets": results, "provenance": prov}, indent=1))
    print(report)


if __name__ == "__main__":
    main()
