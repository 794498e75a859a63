#!/usr/bin/env python3
"""Compressed variants of the demo's LMs on its real data: size, CPU speed, perplexity, WER.

For each variant (``lightrnn-asr compress``: int8, low-rank LSTM weights, both) of each
checkpoint: weight bytes and checkpoint-file bytes, held-out perplexity, CPU rescoring
throughput over all the real N-best lists (words/s and hypotheses/s), and the WER of
each test set with lm_scale x word_penalty tuned on its dev set (as the demo's
evaluation does). The TorchScript export of every variant is checked against the
model it came from on all those hypotheses (largest sentence-score difference).

    python benchmarks/quality/compress_eval.py --data recipes/pocketsphinx/data --exp recipes/pocketsphinx/exp \\
        --ranks 100 50 --out docs/bench/compress_eval.jsonl
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr import (
    compute_wer,
    load_checkpoint,
    one_best,
    perplexity,
    read_nbest,
    read_text,
    score_nbest,
    tune_scales,
)
from lightrnn_asr.lm.checkpoint import save_checkpoint
from lightrnn_asr.lm.compress import Compression, compress_model, compressed_state, state_bytes
from lightrnn_asr.lm.export import export_torchscript
from lightrnn_asr.text.corpus import encode_corpus, make_batch

SETS = ("librivox", "asterisk", "synthetic")
LM_SCALES = np.round(np.arange(0.0, 40.01, 1.0), 4)
WORD_PENALTIES = np.round(np.arange(-30.0, 10.01, 2.5), 4)


def torchscript_diff(model, vocab, hyps: list[list[str]], path: Path) -> float:
    """Largest |exported - original| sentence log-probability (nats) over ``hyps``."""
    export_torchscript(model, path, vocab.bos_id, vocab.eos_id)
    scripted = torch.jit.load(str(path))
    worst = 0.0
    for i in range(0, len(hyps), 256):
        batch = make_batch([torch.tensor(vocab.encode(h), dtype=torch.long) for h in hyps[i: i + 256]],
                           vocab.bos_id, vocab.eos_id)
        with torch.inference_mode():
            worst = max(worst, float((scripted(*batch) - model.sentence_logprobs(*batch)).abs().max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--exp", type=Path, required=True)
    ap.add_argument("--models", nargs="+", default=["lightrnn", "lstm"])
    ap.add_argument("--ranks", type=int, nargs="+", default=[100, 50])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    heldout = args.data / "lm" / "heldout_test.txt"
    nbest = {f"{s}_{half}": read_nbest(args.exp / "decode" / f"{s}_{half}" / "nbest.txt")
             for s in SETS for half in ("dev", "test")}
    refs = {f"{s}_{half}": read_text(args.data / f"{s}_{half}" / "text") for s in SETS for half in ("dev", "test")}
    all_hyps = [list(h.words) for nb in nbest.values() for hyps in nb.values() for h in hyps]
    n_words = sum(len(h) for h in all_hyps)
    meta = {"threads": args.threads,
            "hypotheses": len(all_hyps), "words": n_words}
    variants = [Compression()] + [Compression(0, True)] + [Compression(r) for r in args.ranks] + [
        Compression(min(args.ranks), True)]
    for name in args.models:
        path = args.exp / "lm" / name / "best.pt"
        base = load_checkpoint(path)
        fp32_bytes = state_bytes(compressed_state(base.model))
        for comp in variants:
            model = compress_model(copy.deepcopy(base.model), comp) if comp != Compression() else base.model
            with tempfile.TemporaryDirectory() as d:
                save_checkpoint(Path(d) / "lm.pt", model, base.vocab, base.table)
                file_bytes = (Path(d) / "lm.pt").stat().st_size
                ts_diff = torchscript_diff(model, base.vocab, all_hyps, Path(d) / "lm.ts")
            ppl = perplexity(model, encode_corpus(heldout, base.vocab), unk_id=base.vocab.unk_id).perplexity
            t0 = time.perf_counter()
            scored = {k: score_nbest(model, base.vocab, nb) for k, nb in nbest.items()}
            secs = time.perf_counter() - t0
            wer = {}
            for s in SETS:
                tuned = tune_scales(scored[f"{s}_dev"], refs[f"{s}_dev"], LM_SCALES, WORD_PENALTIES, [0.0])
                wer[s] = compute_wer(refs[f"{s}_test"], one_best(scored[f"{s}_test"], tuned.scales)).wer
            weights = state_bytes(compressed_state(model))
            emit({**meta, "model": name, "variant": comp.name, "parameters": model.num_parameters(),
                  "weights_bytes": weights, "file_bytes": file_bytes, "smaller_than_fp32": fp32_bytes / weights,
                  "heldout_ppl": ppl, "words_per_s": n_words / secs, "hyps_per_s": len(all_hyps) / secs,
                  "test_wer": wer, "torchscript_max_abs_diff_nats": ts_diff}, args.out)


if __name__ == "__main__":
    main()
