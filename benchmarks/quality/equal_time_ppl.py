#!/usr/bin/env python3
"""Perplexity at equal training time on real text: LightRNN, adaptive-softmax LSTM, full-softmax LSTM.

Same vocabulary, trunk, optimiser (Adam), learning rate and batches for the three systems;
each trains for the same wall-clock budget, and held-out perplexity is measured at fixed
fractions of it (evaluation time is not counted). The LightRNN reallocates its words
(loss tables over the training text, then the ``auto`` solver) at one third and two thirds
of the budget, as ``lightrnn-asr train`` does between rounds; that time is counted.

    python benchmarks/quality/equal_time_ppl.py --train-text recipes/pocketsphinx/data/lm/train.txt \\
        --valid-text recipes/pocketsphinx/data/lm/heldout_dev.txt --vocab recipes/pocketsphinx/exp/lm/vocab.txt \\
        --seconds 240 --out docs/bench/equal_time_ppl.jsonl --plot docs/img/equal_time_ppl.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit
from speed.lm_compare import LABELS, MODELS  # the systems, as lm_compare.py names them

from lightrnn_asr.lm import LMConfig, build_model
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.scoring.sentences import perplexity
from lightrnn_asr.text.corpus import encode_corpus, length_batches, make_batch
from lightrnn_asr.text.vocabulary import read_vocab
from lightrnn_asr.training.reallocation import loss_tables, occurring_words, reallocate
from lightrnn_asr.utils.device import autocast_for


def run(system: str, vocab, train, valid, args, device) -> list[dict]:
    torch.manual_seed(0)
    model_type, recurrence = MODELS[system]
    table = WordTable.sequential(len(vocab)) if model_type == "lightrnn" else None
    cfg = LMConfig(model_type=model_type, vocab_size=len(vocab), n_rows=table.n_rows if table else 0,
                   n_cols=table.n_cols if table else 0, embed_dim=args.embed, hidden_dim=args.hidden,
                   num_layers=args.layers, dropout=args.dropout, recurrence=recurrence, col_hidden_dim=0,
                   input_shortlist=0, output_shortlist=0)
    model = build_model(cfg, table).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(0)
    evals = [args.seconds * f for f in (0.25, 0.5, 0.75, 1.0)]
    reallocs = [args.seconds / 3, 2 * args.seconds / 3] if model_type == "lightrnn" else []
    active = occurring_words(train, len(vocab), vocab.eos_id)
    out, elapsed, tokens = [], 0.0, 0
    while evals:
        for idx in length_batches(train.lengths(), args.max_tokens, gen):
            t0 = time.perf_counter()
            model.train()
            inputs, targets, mask = (t.to(device) for t in make_batch([train.sentence(i) for i in idx.tolist()],
                                                                      0, 1))
            with autocast_for(device):
                loss = model.loss(inputs, targets, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tokens += int(mask.sum())
            if reallocs and elapsed >= reallocs[0]:
                reallocs.pop(0)
                row_loss, col_loss = loss_tables(model, train, max_tokens=2 * args.max_tokens, words=active)
                table, _, _ = reallocate(row_loss, col_loss, table, "auto", words=active)
                model.set_table(table)
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed += time.perf_counter() - t0
            if elapsed >= evals[0]:
                evals.pop(0)
                ppl = perplexity(model, valid, unk_id=vocab.unk_id).perplexity
                out.append({"system": system, "seconds": round(elapsed, 1), "train_tokens": tokens,
                            "epochs": round(tokens / train.num_tokens, 2), "valid_ppl": ppl,
                            "parameters": model.num_parameters()})
                print(json.dumps(out[-1]), flush=True)
                if not evals:
                    break
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for system, label in LABELS.items():
        pts = [(r["seconds"], r["valid_ppl"]) for r in rows if r["system"] == system]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_xlabel("training seconds")
    ax.set_ylabel("held-out perplexity")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    r0 = rows[0]
    ax.set_title(f"equal training time, |V| = {r0['vocab']}, {r0['device']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-text", required=True)
    ap.add_argument("--valid-text", required=True)
    ap.add_argument("--vocab", required=True, help="'word count' lines (the demo's exp/lm/vocab.txt)")
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--systems", nargs="+", default=list(LABELS), choices=list(LABELS))
    ap.add_argument("--embed", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-tokens", type=int, default=3000)
    ap.add_argument("--max-len", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    vocab = read_vocab(args.vocab)
    train = encode_corpus(args.train_text, vocab, max_len=args.max_len)
    valid = encode_corpus(args.valid_text, vocab)
    meta = {"threads": args.threads,
            "device": str(device), "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "vocab": len(vocab), "train_words": train.num_tokens,
            "valid_words": valid.num_tokens, "embed": args.embed, "hidden": args.hidden, "layers": args.layers,
            "lr": args.lr, "max_tokens": args.max_tokens, "budget_s": args.seconds}
    rows = []
    for system in args.systems:
        for r in run(system, vocab, train, valid, args, device):
            rows.append({**meta, **r})
            emit(rows[-1], args.out)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
