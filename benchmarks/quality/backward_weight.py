#!/usr/bin/env python3
"""N-best rescoring with a forward LM, a backward LM and the two interpolated, over the backward LM's weight.

For each ``--pair NAME FORWARD.pt BACKWARD.pt`` and each weight ``w`` of ``--weights`` (0: the forward LM
alone, 1: the backward LM alone), every hypothesis' ``lm`` is ``(1 - w) * forward + w * backward``
(:func:`lightrnn_asr.with_backward_lm`); the weights of the combination are tuned on each set's dev half
(the LM alone, and with the first-pass trigram) and the test WER, its 95 % interval and P(better than
the first pass) are appended, one JSON line per (set, pair, weight, system), to ``--out``.

    python benchmarks/quality/backward_weight.py --recipe recipes/pocketsphinx \\
        --pair LightRNN fwd/best.pt bwd/best.pt --out docs/bench/backward_lm_weights.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr import (
    bootstrap_ci,
    compute_wer,
    load_checkpoint,
    one_best,
    read_nbest,
    read_text,
    score_nbest,
    tune_scales,
)
from lightrnn_asr.scoring.nbest import with_backward_lm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=Path("recipes/pocketsphinx"),
                    help="a recipe directory with data/SET_{dev,test}/text and exp/decode/SET_{dev,test}/nbest.txt")
    ap.add_argument("--pair", nargs=3, action="append", metavar=("NAME", "FORWARD", "BACKWARD"), required=True)
    ap.add_argument("--sets", nargs="+", default=["synthetic", "asterisk"])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = {}
    for s in args.sets:
        dev_ref, test_ref = (read_text(args.recipe / f"data/{s}_{p}/text") for p in ("dev", "test"))
        dev_nb, test_nb = (read_nbest(args.recipe / f"exp/decode/{s}_{p}/nbest.txt") for p in ("dev", "test"))
        first = read_text(args.recipe / f"exp/decode/{s}_test/text")
        for name, fw, bw in args.pair:
            f, b = load_checkpoint(fw), load_checkpoint(bw)
            if f.model.backward or not b.model.backward:
                raise SystemExit(f"{name}: {fw} must be a forward LM and {bw} a backward one")
            t0 = time.perf_counter()
            scored = {p: (score_nbest(f.model, f.vocab, nb), score_nbest(b.model, b.vocab, nb))
                      for p, nb in (("dev", dev_nb), ("test", test_nb))}
            secs = time.perf_counter() - t0
            for w in args.weights:
                both = {p: with_backward_lm(fs, bs, w) for p, (fs, bs) in scored.items()}
                for system, fp in (("alone", [0.0]), ("+ trigram", None)):
                    tuned = tune_scales(both["dev"], dev_ref, fp_lm_scales=fp)
                    hyp = one_best(both["test"], tuned.scales)
                    c = bootstrap_ci(test_ref, first, hyp)
                    row = {**base, "set": s, "pair": name, "forward": fw, "backward": bw, "backward_weight": w,
                           "system": system, "test_wer": compute_wer(test_ref, hyp).wer,
                           "ci95": [100 * c["system2"]["ci95min"], 100 * c["system2"]["ci95max"]],
                           "p_better_than_first_pass": c["p_s2_improv_over_s1"], "dev_wer": tuned.dev_wer,
                           "scales": {"lm_scale": tuned.scales.lm_scale, "word_penalty": tuned.scales.word_penalty,
                                      "fp_lm_scale": tuned.scales.fp_lm_scale},
                           "first_pass_wer": compute_wer(test_ref, first).wer, "scoring_s": secs}
                    print(f"{s} {name} w={w} {system}: test {row['test_wer']:.2f} "
                          f"(P better {row['p_better_than_first_pass']:.3f}), dev {row['dev_wer']:.2f}", flush=True)
                    emit(row, args.out)


if __name__ == "__main__":
    main()
