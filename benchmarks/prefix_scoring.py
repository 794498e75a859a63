#!/usr/bin/env python3
"""N-best rescoring with every distinct prefix scored once, against whole-sentence scoring, on real lists.

    python benchmarks/prefix_scoring.py --nbest recipes/pocketsphinx/exp/decode/synthetic_test/nbest.txt \\
        recipes/pocketsphinx/exp/decode/asterisk_test/nbest.txt --model recipes/pocketsphinx/exp/lm/lightrnn/best.pt \\
        --out docs/bench/prefix_scoring.jsonl

Per list and model: words (and ``</s>``) over distinct prefixes, the largest score difference, and
words/s of :func:`~lightrnn_asr.scoring.sentences.score_sentences` (length-sorted batches, the path
``rescore`` takes) and of :func:`~lightrnn_asr.scoring.prefix.prefix_logprobs`, each the best of
``--repeats`` timed runs, in one process.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import numpy as np
import torch
from bench_io import emit

from lightrnn_asr.formats.nbest import read_nbest
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.scoring.prefix import PrefixTree, prefix_logprobs
from lightrnn_asr.scoring.sentences import score_sentences


def best_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    out, best = None, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nbest", nargs="+", required=True)
    ap.add_argument("--model", nargs="+", required=True)
    ap.add_argument("--top", type=int, nargs="+", default=[100], help="keep the N best of each list (N-best sizes)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    meta = {"date": datetime.date.today().isoformat(), "machine": platform.machine(), "threads": args.threads,
            "python": platform.python_version(), "torch": torch.__version__}
    for model_path in args.model:
        ck = load_checkpoint(model_path)
        model, vocab = ck.model.eval(), ck.vocab
        for path in args.nbest:
            nbest = read_nbest(path)
            for top in args.top:
                sents = [vocab.encode(h.words) for hyps in nbest.values() for h in hyps[:top]]
                words = sum(len(s) + 1 for s in sents)
                tree = PrefixTree(sents, vocab.eos_id)
                t_whole, whole = best_time(lambda: score_sentences(
                    model, [torch.tensor(s, dtype=torch.long) for s in sents], vocab.bos_id, vocab.eos_id), args.repeats)
                t_tree, shared = best_time(lambda: prefix_logprobs(model, sents, vocab.bos_id, vocab.eos_id), args.repeats)
                emit({**meta, "nbest": path, "top": top, "model": model_path, "lm": type(model).__name__,
                      "recurrence": model.config.recurrence, "utterances": len(nbest), "hypotheses": len(sents),
                      "words": words, "prefix_nodes": tree.num_nodes - 1, "prefix_ratio": words / (tree.num_nodes - 1),
                      "max_abs_diff_nats": float(np.abs(whole - shared).max()),
                      "whole_words_per_s": words / t_whole, "prefix_words_per_s": words / t_tree,
                      "speedup": t_whole / t_tree}, args.out)


if __name__ == "__main__":
    main()
