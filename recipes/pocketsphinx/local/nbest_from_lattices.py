#!/usr/bin/env python3
"""Distinct N-best lists from pocketsphinx HTK lattices, ranked with its first-pass LM.

pocketsphinx's lattices hold acoustic scores only; ranked by acoustic score alone their
top 100 paths miss most good hypotheses (the 100-best oracle WER is then worse than the
first pass). So paths are ranked by ``am + BIGRAM_SCALE * log P(W)`` under the trigram LM
that ships with pocketsphinx (en-us.lm.bin, read by lightrnn_asr.lm.ngram.NgramLM and used as
a bigram inside the lattice: lightrnn_asr.formats.lattice_paths.lattice_nbest), and every hypothesis is written
with its exact acoustic score and, in the lm_score field, its full trigram log-probability
log P(W </s> | <s>) in nats.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pocketsphinx import get_model_path

from lightrnn_asr.formats.lattice import FillerMap, read_htk
from lightrnn_asr.formats.lattice_paths import lattice_nbest
from lightrnn_asr.formats.nbest import Hypothesis, write_nbest
from lightrnn_asr.lm.ngram import NgramLM


def first_pass_lm() -> NgramLM:
    """pocketsphinx's en-us trigram, the first pass's LM (nats)."""
    return NgramLM(get_model_path("en-us/en-us.lm.bin"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lattices", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("-n", "--nbest", type=int, default=100)
    ap.add_argument("--bigram-scale", type=float, default=8.0, help="LM weight for ranking paths (nats)")
    args = ap.parse_args()
    lm = first_pass_lm()
    out, fillers = {}, FillerMap()
    for path in sorted(args.lattices):
        utt = path.name.split(".")[0]
        hyps = lattice_nbest(read_htk(path), args.nbest, fillers, bigram=lm.bigram, bigram_scale=args.bigram_scale)
        out[utt] = [Hypothesis(h.words, h.am, lm.sentence_logprob(h.words)) for h in hyps]
    write_nbest(args.out, out)
    avg = sum(len(h) for h in out.values()) / max(1, len(out))
    print(f"{args.out}: {len(out)} utterances, {avg:.1f} distinct hypotheses on average (max {args.nbest})")


if __name__ == "__main__":
    main()
