#!/usr/bin/env python3
"""Where rescoring time goes: torch.profiler's self-time shares of the top operators per system.

Scores the same synthetic Zipf hypotheses (3-30 words) as ``lm_compare.py`` with each system
at one vocabulary size and prints, per system, the operators that take the most self time.
``aten::mkldnn_rnn_layer`` is the LSTM (oneDNN on the CPU); ``aten::mm``/``addmm`` the output
layers; ``aten::_log_softmax``/``logsumexp`` the normalisation.

    python benchmarks/speed/profile_scoring.py --vocab 100000 --out docs/bench/profile_scoring.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit
from lm_compare import SYSTEMS, build, zipf_corpus
from torch.profiler import ProfilerActivity, profile

from lightrnn_asr.scoring.sentences import score_sentences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=100_000)
    ap.add_argument("--embed", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=2000)
    ap.add_argument("--hyps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=6)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpus = zipf_corpus(args.vocab, args.hyps, 3, 30, seed=2)
    hyps = [corpus.sentence(i) for i in range(len(corpus))]
    for system in SYSTEMS:
        torch.manual_seed(0)
        model, _ = build(system, args.vocab, args)
        model.eval()
        score_sentences(model, hyps[:100], max_tokens=args.max_tokens)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            score_sentences(model, hyps, max_tokens=args.max_tokens)
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        emit({"threads": args.threads,
              "system": system, "vocab": args.vocab, "embed": args.embed,
              "hidden": args.hidden, "layers": args.layers, "max_tokens": args.max_tokens,
              "seconds": total / 1e6,
              "top": {e.key: round(e.self_cpu_time_total / total, 3) for e in events[: args.top]}}, args.out)


if __name__ == "__main__":
    main()
