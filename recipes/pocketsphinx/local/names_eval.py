#!/usr/bin/env python3
"""Names side by side: what each way of giving the LightRNN a contact list does to the name-rich set.

Systems (the demo's LightRNN in every one; scales and an OOV penalty tuned on dev for each, WER on
test; N-best lists of the name-rich set from ``prepare_names.py``):

  names as ``<unk>``               the trained model unchanged, each unknown name scored as ``<unk>``
                                   plus a tuned OOV penalty (what Kaldi and icefall users do);
  add-words, no examples           ``add_words`` without examples: a free cell in ``<unk>``'s row;
  add-words, like a known name     each name placed like a known word of its class (``EXEMPLARS``:
                                   "john", "smith", "london", and "fanny" for the novel's names):
                                   a free cell near it, or (copied rows) a copy of its row, so
                                   that P(name | h) = P(exemplar | h) / k;
  add-words, examples              rows fitted to example sentences (other carrier phrases and
                                   other novel sentences than the test's) with background text;
  retrained (upper bound)          a LightRNN trained as the demo's, for the same time, with the names
                                   in its vocabulary and the example sentences in its text
                                   (``exp/names/lm_retrained``, run.sh stage 11).

Each system alone and with the first-pass trigram on the N-best lists, and with the trigram by
pruned lattice rescoring of the same lattices (``--max-histories`` per state). Reported: WER and name error rate
(``lightrnn_asr.evaluation.names``) on the name-rich test, each with a bootstrap 95% interval, and
the name error rate of the N-best oracle (the hypothesis with fewest name errors: what rescoring
can reach); the WER of the same system on the demo's synthetic test (scales tuned on its dev), on
its utterances without an added name (what adding names costs elsewhere) and with one; the seconds
``add_words`` took, and the seconds to add 10,000 words without examples.

Writes OUT/names_systems.md and OUT/names_systems.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path

import torch
from evaluate import exemplars, provenance_line, read_contacts

from lightrnn_asr import add_words, compute_wer, load_checkpoint, one_best, read_nbest, read_sentences, read_text, score_nbest, tune_scales
from lightrnn_asr.evaluation.names import name_errors, name_report, p_fewer_name_errors
from lightrnn_asr.evaluation.report import markdown_table
from lightrnn_asr.evaluation.wer import bootstrap_ci
from lightrnn_asr.formats.lattice import read_htk
from lightrnn_asr.lm.checkpoint import save_checkpoint
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, rescore_lattices
from lightrnn_asr.scoring.nbest import Scales
from lightrnn_asr.utils.provenance import provenance

HERE = Path(__file__).parent
OOV_PENALTIES = (0.0, -2.0, -4.0, -6.0, -8.0, -10.0, -14.0, -20.0, -30.0)


def with_penalty(scored: dict, penalty: float) -> dict:
    return {u: dataclasses.replace(x, lm=x.lm + penalty * x.n_oov) for u, x in scored.items()}


def tune(dev: dict, refs: dict, alone: bool):
    """Best (dev WER, OOV penalty, scales) over the OOV-penalty grid; the LM alone or with the trigram."""
    best = None
    for p in OOV_PENALTIES:
        t = tune_scales(with_penalty(dev, p), refs, fp_lm_scales=[0.0] if alone else None)
        if best is None or t.best_wer < best[0] - 1e-9:
            best = (t.best_wer, p, t.scales)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--exp", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fit-steps", type=int, default=100)
    ap.add_argument("--replications", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-lattices", dest="lattices", action="store_false", help="N-best rescoring only")
    ap.add_argument("--max-histories", type=int, default=2, help="lattice rescoring: histories per lattice state")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    provenance()  # the commit, read when the run starts
    args.out.mkdir(parents=True, exist_ok=True)
    names_dir = args.data / "names"
    classes = read_contacts(names_dir / "words.txt")
    names = list(classes)
    examples = list(read_sentences(names_dir / "examples.txt"))
    background = list(read_sentences(args.data / "lm" / "train.txt"))[:2000]
    base = load_checkpoint(args.exp / "lm" / "lightrnn" / "best.pt")
    like_of = exemplars(base.vocab)
    like = {w: like_of[c] for w, c in classes.items()}

    models, seconds = {"names as `<unk>`": (base.model, base.vocab)}, {}
    cache = args.exp / "names"  # the extended models, kept for a rerun and for the user to try
    cache.mkdir(parents=True, exist_ok=True)
    variants = {"add-words, no examples": {},
                "add-words, like a known name of the class": {"like": like},
                "add-words, like a known name, copied rows": {"like": like, "like_placement": "copy-row"},
                "add-words, examples (fitted rows + background)": {"examples": examples, "fit_steps": args.fit_steps,
                                                                    "background": background}}
    for label, kw in variants.items():
        path = cache / ("lm_" + "".join(c if c.isalnum() else "_" for c in label.split("(")[0].strip()) + ".pt")
        if path.exists():
            ck = load_checkpoint(path)
            model, vocab, seconds[label] = ck.model, ck.vocab, ck.train_state["add_words_seconds"]
        else:
            t0 = time.perf_counter()
            model, vocab, table, _ = add_words(base.model, base.vocab, base.table, names, **kw)
            seconds[label] = time.perf_counter() - t0
            save_checkpoint(path, model, vocab, table, {"added_words": names, "add_words_seconds": seconds[label]})
        models[label] = (model, vocab)
    retrained = args.exp / "names" / "lm_retrained" / "best.pt"
    if retrained.exists():
        ck = load_checkpoint(retrained)
        models["retrained with the names (upper bound)"] = (ck.model, ck.vocab)
    # adding a large list: 10,000 words of pocketsphinx's dictionary the model lacks, no examples
    from prepare_names import pronunciations

    pool = sorted(w for w in pronunciations() if w not in base.vocab and w.isalpha())
    many = random.Random(0).sample(pool, 10_000)
    for label, placement in (("10,000 words, like a known name", "free"), ("10,000 words, copied rows", "copy-row")):
        t0 = time.perf_counter()
        add_words(base.model, base.vocab, base.table, many, like={w: like_of["first"] for w in many},
                  like_placement=placement)
        seconds[label] = time.perf_counter() - t0

    refs = {s: read_text(args.data / f"names_{s}" / "text") for s in ("dev", "test")}
    nbest = {s: read_nbest(args.exp / "decode" / f"names_{s}" / "nbest.txt") for s in ("dev", "test")}
    other_refs = {s: read_text(args.data / f"synthetic_{s}" / "text") for s in ("dev", "test")}
    other_nbest = {s: read_nbest(args.exp / "decode" / f"synthetic_{s}" / "nbest.txt") for s in ("dev", "test")}
    name_set = set(names)
    results = {"names": len(names), "examples": len(examples), "exemplars": like_of, "add_words_seconds": seconds,
               "systems": {}}

    def record(label: str, hyp: dict, extra: dict, other: dict | None = None) -> list[str]:
        rep = name_report(refs["test"], hyp, name_set, replications=args.replications)
        c = bootstrap_ci(refs["test"], hyp, replications=args.replications)
        w = compute_wer(refs["test"], hyp)
        row = {"wer": w.wer, "ci95": [100 * c["ci95min"], 100 * c["ci95max"]], **rep, **extra}
        cells = [label, f"{w.wer:.2f} ({row['ci95'][0]:.1f}-{row['ci95'][1]:.1f})",
                 f"{rep['ner']:.1f} ({rep['ner_ci95'][0]:.1f}-{rep['ner_ci95'][1]:.1f})"]
        if other is not None:
            o = name_report(other_refs["test"], other, name_set, replications=args.replications)
            row["synthetic_test"] = o
            cells += [f"{o['without_names']['wer']:.2f} ({o['without_names']['ci95'][0]:.1f}-"
                      f"{o['without_names']['ci95'][1]:.1f})",
                      f"{o['with_names']['wer']:.2f} ({o['with_names']['ci95'][0]:.1f}-"
                      f"{o['with_names']['ci95'][1]:.1f})"]
        else:
            cells += ["", ""]
        results["systems"][label] = row
        hyps[label] = hyp
        return cells + [str(extra.get("oov_penalty", ""))]

    hyps: dict[str, dict] = {}

    first = read_text(args.exp / "decode" / "names_test" / "text")
    rows = [record("first pass (pocketsphinx 1-best)", first, {},
                   read_text(args.exp / "decode" / "synthetic_test" / "text"))]
    # the N-best oracle for names: per utterance the hypothesis with the fewest name errors, then fewest errors
    oracle = {}
    for u, candidates in nbest["test"].items():
        oracle[u] = list(min(candidates, key=lambda h: (name_errors({u: refs["test"][u]}, {u: h.words}, name_set).errors,
                                                  compute_wer({u: refs["test"][u]}, {u: h.words}).wer)).words)
    rows.append(record("N-best oracle for names", oracle, {}))
    trigram_dev = score_nbest(None, None, nbest["dev"])
    trigram_dev = {u: dataclasses.replace(x, lm=x.fp_lm, fp_lm=None) for u, x in trigram_dev.items()}
    t = tune_scales(trigram_dev, refs["dev"])
    trigram_test = {u: dataclasses.replace(x, lm=x.fp_lm, fp_lm=None)
                    for u, x in score_nbest(None, None, nbest["test"]).items()}
    rows.append(record("trigram (first-pass LM) rescoring", one_best(trigram_test, t.scales), {}))
    for label, (model, vocab) in models.items():
        dev, test = (score_nbest(model, vocab, nbest[s]) for s in ("dev", "test"))
        other_dev, other_test = (score_nbest(model, vocab, other_nbest[s]) for s in ("dev", "test"))
        for suffix, alone in (("", True), (" + trigram", False)):
            dev_wer, p, scales = tune(dev, refs["dev"], alone)
            hyp = one_best(with_penalty(test, p), scales)
            _, op, oscales = tune(other_dev, other_refs["dev"], alone)
            other = one_best(with_penalty(other_test, op), oscales)
            rows.append(record(label + suffix, hyp, {"oov_penalty": p, "dev_wer": dev_wer,
                                                     "scales": dataclasses.asdict(scales)}, other))
    # lattice rescoring, LM + trigram (what is deployed), for every model: the trigram's histories, at most
    # --max-histories per lattice state, pruned with the scales tuned on the N-best lists
    if args.lattices:
        from nbest_from_lattices import first_pass_lm

        fp_lm = first_pass_lm()
        order = fp_lm.order

        lattice_paths = {s: sorted((args.exp / "decode" / f"names_{s}" / "lattices").glob("*.slf")) for s in refs}
        for label, (model, vocab) in models.items():
            nb = results["systems"][label + " + trigram"]
            cfg = LatticeRescoreConfig(ngram_order=order, max_histories=args.max_histories,
                                       scales=Scales(**nb["scales"]), oov_penalty=nb["oov_penalty"])
            t0 = time.perf_counter()
            scored = {s: rescore_lattices(((p.name.split(".")[0], read_htk(p)) for p in paths), model, vocab, cfg,
                                          fp_lm=fp_lm) for s, paths in lattice_paths.items()}
            secs = time.perf_counter() - t0
            t = tune_scales(scored["dev"], refs["dev"])
            rows.append(record(label + " + trigram, lattice", one_best(scored["test"], t.scales),
                               {"oov_penalty": nb["oov_penalty"], "dev_wer": t.best_wer,
                                "scales": dataclasses.asdict(t.scales), "seconds_per_utt":
                                secs / sum(len(p) for p in lattice_paths.values())}))
            results["systems"][label + " + trigram, lattice"]["max_histories"] = args.max_histories
    # paired bootstrap: fewer name errors than the same kind of system with the names as <unk>?
    for row in rows:
        label = row[0]
        kind = next((k for k in (" + trigram, lattice", " + trigram") if label.endswith(k)), "")
        base_label = "names as `<unk>`" + kind
        if label.removesuffix(kind) in models:
            p = p_fewer_name_errors(refs["test"], hyps[base_label], hyps[label], name_set, args.replications)
            results["systems"][label]["p_fewer_name_errors_than_unk"] = p
            row.insert(3, "" if label == base_label else f"{p:.3f}")
        else:
            row.insert(3, "")
    n_tokens = results["systems"]["first pass (pocketsphinx 1-best)"]["name_tokens"]
    results["provenance"] = provenance()
    report = (
        f"{provenance_line(results['provenance'])}.\n\n"
        f"{len(names)} names added ({len(examples)} example sentences for the fitted variant; classes' "
        f"exemplars {like_of}); {len(refs['test'])} test utterances, {n_tokens} name tokens. "
        "Scales and OOV penalty tuned on dev for every system; 95% bootstrap intervals in brackets.\n\n"
        + markdown_table(["system", "WER %", "name error rate %", "P(fewer name errors than `<unk>`)",
                          "synthetic test: WER %, utterances without an added name", "with one",
                          "OOV penalty (nats)"], rows)
        + "\n\nadd_words seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()) + "\n")
    (args.out / "names_systems.md").write_text(report, encoding="utf-8")
    (args.out / "names_systems.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
