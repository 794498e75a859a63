#!/usr/bin/env python3
"""Training and scoring throughput of LightRNN versus the full-softmax LSTM.

Synthetic Zipf-distributed token ids (no real text needed), same trunk for both
models. Prints one JSON line per model with tokens/s for training steps and for
no-grad sentence scoring (the rescoring workload), parameters and peak memory.

    python benchmarks/train_throughput.py --vocab 16000 --hidden 200 --steps 30
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from lightrnn_asr.data import Corpus, length_batches, make_batch
from lightrnn_asr.model import LMConfig, build_model
from lightrnn_asr.scorer import autocast_for, score_sentences
from lightrnn_asr.table import WordTable


def zipf_corpus(vocab: int, n_sent: int, mean_len: int, seed: int) -> Corpus:
    g = torch.Generator().manual_seed(seed)
    ranks = torch.arange(1, vocab - 2, dtype=torch.float64)
    probs = 1.0 / ranks
    lengths = torch.randint(mean_len // 2, mean_len * 3 // 2 + 1, (n_sent,), generator=g)
    ids = torch.multinomial(probs / probs.sum(), int(lengths.sum()), replacement=True, generator=g) + 3
    offsets = torch.zeros(n_sent + 1, dtype=torch.long)
    torch.cumsum(lengths, 0, out=offsets[1:])
    return Corpus(ids, offsets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=16000)
    ap.add_argument("--embed", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    corpus = zipf_corpus(args.vocab, 4000, 20, 0)
    batches = length_batches(corpus.lengths(), args.max_tokens, torch.Generator().manual_seed(0))
    batches = (batches * (args.steps // len(batches) + 2))[: args.steps + 3]
    for kind in ("lightrnn", "lstm"):
        table = WordTable.sequential(args.vocab)
        cfg = LMConfig(kind, args.vocab, table.n_rows if kind == "lightrnn" else 0,
                       table.n_cols if kind == "lightrnn" else 0, args.embed, args.hidden, args.layers, 0.1)
        model = build_model(cfg, table).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        tokens, start = 0, None
        for step, idx in enumerate(batches):
            if step == 3:  # warm-up excluded
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start, tokens = time.perf_counter(), 0
            inputs, targets, mask = (t.to(device) for t in make_batch([corpus.sentence(i) for i in idx.tolist()], 0, 1))
            with autocast_for(device):
                loss = model.loss(inputs, targets, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tokens += int(mask.sum())
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_tps = tokens / (time.perf_counter() - start)
        sents = [corpus.sentence(i) for i in range(1000)]
        t0 = time.perf_counter()
        score_sentences(model, sents, max_tokens=2 * args.max_tokens)
        if device.type == "cuda":
            torch.cuda.synchronize()
        score_tps = (sum(int(s.numel()) + 1 for s in sents)) / (time.perf_counter() - t0)
        print(json.dumps({
            "model": kind, "vocab": args.vocab, "embed": args.embed, "hidden": args.hidden, "layers": args.layers,
            "parameters": model.num_parameters(), "train_tokens_per_s": round(train_tps),
            "score_tokens_per_s": round(score_tps), "device": str(device),
            "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else None,
            "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        }), flush=True)


if __name__ == "__main__":
    main()
