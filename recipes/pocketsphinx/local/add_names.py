#!/usr/bin/env python3
"""Names after training: add the held-out novel's names to the trained LightRNN and measure.

*Sense and Sensibility* is held out of LM training, so its people and places
(Elinor, Marianne, Dashwood, Willoughby, Norland, ...) are out of the
vocabulary: the LightRNN reads and predicts them as ``<unk>``. This script
plays the user with a new contact list: it adds the names of
``sense_and_sensibility_names.txt`` that the model lacks with ``add_words``

- with examples: sentences of the novel that use them (half of the held-out
  sentences with a name, none of the synthetic dev/test sentences);
- without examples: the documented fallback (a free cell in ``<unk>``'s row);

then compares the models on the other half of those sentences (perplexity
and the log-probability of the name tokens) and by rescoring the synthetic
dev/test N-best lists (scales tuned on dev for each model, WER on test, all
utterances and those whose reference has an added name).

Writes OUT/names.md and OUT/names.json.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from evaluate import provenance_line

from lightrnn_asr import (
    add_words,
    compute_wer,
    load_checkpoint,
    one_best,
    read_nbest,
    read_sentences,
    read_text,
    score_nbest,
    tune_scales,
)
from lightrnn_asr.evaluation.report import markdown_table
from lightrnn_asr.text.corpus import length_batches, make_batch
from lightrnn_asr.utils.provenance import provenance


def token_logprobs(model, vocab, sentences):
    """Per-token log-probabilities (nats, ``</s>`` included) of every sentence, as one flat array, and the words."""
    ids = [torch.tensor(vocab.encode(s), dtype=torch.long) for s in sentences]
    out, words = [], []
    model.eval()
    for idx in length_batches(torch.tensor([len(x) for x in ids]), 4000):
        x, y, m = make_batch([ids[i] for i in idx.tolist()], vocab.bos_id, vocab.eos_id)
        with torch.no_grad():
            lp = model.token_logprobs(x, y)
        for row, i in enumerate(idx.tolist()):
            out.append(lp[row, : len(sentences[i]) + 1].numpy())
            words.extend(sentences[i] + ["</s>"])
    return np.concatenate(out), words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--exp", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--names", type=Path, default=Path(__file__).with_name("sense_and_sensibility_names.txt"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    provenance()  # the commit, read when the run starts
    args.out.mkdir(parents=True, exist_ok=True)

    base = load_checkpoint(args.exp / "lm" / "lightrnn" / "best.pt")
    names = [w for w in (line.strip() for line in args.names.open()) if w and w not in base.vocab]
    known = set(names)
    test_sents = {tuple(w) for s in ("synthetic_dev", "synthetic_test")
                  for w in read_text(args.data / s / "text").values()}
    def with_names(half: str) -> list[list[str]]:
        return [s for s in read_sentences(args.data / "lm" / f"heldout_{half}.txt")
                if known & set(s) and tuple(s) not in test_sents]

    examples, evaluation = with_names("dev"), with_names("test")  # examples from the dev chapters

    models = {"before (names map to `<unk>`)": base.model}
    vocabs = {"before (names map to `<unk>`)": base.vocab}
    placements = {}
    # the background: held-out sentences without a name (the domain's share of sentences with names)
    plain = [s for s in read_sentences(args.data / "lm" / "heldout_dev.txt")
             if not known & set(s) and tuple(s) not in test_sents][:2000]
    variants = (("added, examples, fitted rows + background", examples, 100, plain),
                ("added, examples, fitted rows", examples, 100, None),
                ("added, examples, free cells", examples, 0, None),
                ("added, fallback (no examples)", None, 0, None))
    for label, ex, steps, bg in variants:
        model, vocab, _, placed = add_words(base.model, base.vocab, base.table, names, ex, fit_steps=steps,
                                            background=bg)
        models[label], vocabs[label] = model, vocab
        placements[label] = [{"word": p.word, "row": p.row, "col": p.col, "method": p.method} for p in placed]

    results = {"names_added": names, "examples": len(examples), "evaluation_sentences": len(evaluation),
               "models": {}}
    ppl_rows = []
    valid = list(read_sentences(args.data / "lm" / "valid.txt"))  # other books: the cost to everything else
    for label, model in models.items():
        lp, words = token_logprobs(model, vocabs[label], evaluation)
        is_name = np.array([w in known for w in words])
        other_lp, _ = token_logprobs(model, vocabs[label], valid)
        r = {"perplexity": math.exp(-lp.mean()), "name_tokens": int(is_name.sum()),
             "name_logprob": float(lp[is_name].mean()), "other_logprob": float(lp[~is_name].mean()),
             "valid_perplexity": math.exp(-other_lp.mean())}
        results["models"][label] = r
        ppl_rows.append([label, f"{r['perplexity']:.1f}", f"{r['name_logprob']:.2f}", f"{r['other_logprob']:.3f}",
                         f"{r['valid_perplexity']:.2f}"])

    dev_ref = read_text(args.data / "synthetic_dev" / "text")
    test_ref = read_text(args.data / "synthetic_test" / "text")
    dev_nb = read_nbest(args.exp / "decode" / "synthetic_dev" / "nbest.txt")
    test_nb = read_nbest(args.exp / "decode" / "synthetic_test" / "nbest.txt")
    name_utts = [u for u, ref in test_ref.items() if known & set(ref)]
    first = read_text(args.exp / "decode" / "synthetic_test" / "text")

    def wers(hyp):
        whole = compute_wer(test_ref, hyp)
        sub = compute_wer({u: test_ref[u] for u in name_utts}, {u: hyp[u] for u in name_utts})
        return whole, sub

    w_all, w_sub = wers(first)
    wer_rows = [["first pass (pocketsphinx 1-best)", "", f"{w_all.wer:.2f}", f"{w_sub.wer:.2f}"]]
    results["first_pass"] = {"wer": w_all.wer, "wer_name_utts": w_sub.wer}
    for label, model in models.items():
        dev_scored = score_nbest(model, vocabs[label], dev_nb)
        test_scored = score_nbest(model, vocabs[label], test_nb)
        for system, tuned in (("LightRNN", tune_scales(dev_scored, dev_ref, fp_lm_scales=[0.0])),
                              ("LightRNN + trigram", tune_scales(dev_scored, dev_ref))):
            w_all, w_sub = wers(one_best(test_scored, tuned.scales))
            results["models"][label][system] = {"wer": w_all.wer, "wer_name_utts": w_sub.wer,
                                                "dev_wer": tuned.best_wer}
            wer_rows.append([system, label, f"{w_all.wer:.2f}", f"{w_sub.wer:.2f}"])

    report = (
        f"{len(names)} names added ({', '.join(names)}); {len(examples)} example sentences; "
        f"perplexity on {len(evaluation)} other held-out sentences with a name "
        f"({results['models']['before (names map to `<unk>`)']['name_tokens']} name tokens):\n\n"
        + markdown_table(["model", "perplexity", "mean log P(name) (nats)", "mean log P(other words)",
                          "valid.txt perplexity (other books)"], ppl_rows)
        + f"\n\nRescoring the synthetic N-best lists (scales tuned on dev for every model); {len(test_ref)} test "
        f"utterances, {len(name_utts)} of them with an added name in the reference:\n\n"
        + markdown_table(["system", "LightRNN", "WER % (all)", "WER % (utterances with a name)"], wer_rows)
        + "\n"
    )
    results["placements"] = placements
    results["provenance"] = provenance()
    report = f"{provenance_line(results['provenance'])}.\n\n" + report
    (args.out / "names.md").write_text(report)
    (args.out / "names.json").write_text(json.dumps(results, indent=1))
    print(report)


if __name__ == "__main__":
    main()
