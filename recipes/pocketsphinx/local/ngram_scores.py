#!/usr/bin/env python3
"""Add first-pass LM scores to N-best lists: log P(W </s> | <s>) in nats under the trigram
LM that ships with pocketsphinx (en-us.lm.bin), read with pocketsphinx's NGramModel.

pocketsphinx's HTK lattices hold acoustic scores only, so the N-best lists extracted from
them carry no first-pass LM score; this fills the optional lm_score field so that n-gram
rescoring, and neural + n-gram combinations, can be compared. Words unknown to the n-gram
LM get its <unk> probability (back-off as implemented by pocketsphinx).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from pocketsphinx import NGramModel, get_model_path

from lightrnn_asr.formats.nbest import Hypothesis, read_nbest, write_nbest

LN_BASE = math.log(1.0001)  # pocketsphinx's default LogMath base


def sentence_logprob(lm: NGramModel, words: tuple[str, ...], order: int) -> float:
    seq = ["<s>", *words, "</s>"]
    total = 0
    for i in range(1, len(seq)):
        history = seq[max(0, i - order + 1) : i]
        total += lm.prob([seq[i], *reversed(history)])  # NGramModel wants the word, then its history reversed
    return total * LN_BASE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nbest", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    lm = NGramModel.readfile(get_model_path("en-us/en-us.lm.bin"))
    order = lm.size()
    nbest = read_nbest(args.nbest)
    out = {u: [Hypothesis(h.words, h.am, sentence_logprob(lm, h.words, order)) for h in hyps]
           for u, hyps in nbest.items()}
    write_nbest(args.out, out)
    print(f"{args.out}: {sum(len(h) for h in out.values())} hypotheses scored with the {order}-gram first-pass LM")


if __name__ == "__main__":
    main()
