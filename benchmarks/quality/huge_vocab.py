#!/usr/bin/env python3
"""A LightRNN with a word-list vocabulary (|V| ~ 630K) beside a full-softmax LSTM of the same trunk.

1. Runs ``lightrnn-asr train`` (in a child process, whose peak RSS is
   recorded) on the real training text with ``--word-list`` added to the
   text's vocabulary, for ``--rounds`` rounds with reallocation between them.
2. Builds the full-softmax LSTM with the same vocabulary, embedding and
   hidden sizes and layers; reports its parameters and checkpoint bytes and
   times ``--lstm-steps`` training steps (of ``--lstm-max-tokens`` tokens: its
   output layer cannot take the LightRNN's batch in 24 GB).
3. On a held-out text, splits the tokens into words of the text's
   vocabulary, words only the list covers, and words neither has, and gives
   the LightRNN's mean log-probability (nats) of each kind.

    python benchmarks/quality/huge_vocab.py --train-text recipes/pocketsphinx/data/lm/train.txt \\
        --valid-text recipes/pocketsphinx/data/lm/valid.txt --heldout recipes/pocketsphinx/data/lm/heldout_test.txt \\
        --vocab recipes/pocketsphinx/exp/lm/vocab.txt --word-list /usr/share/dict/american-english-insane \\
        --out-dir exp/huge --json docs/bench/huge_vocab.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import peak_rss_bytes, run_child, write_record

from lightrnn_asr.lm import LMConfig, build_model
from lightrnn_asr.lm.checkpoint import load_checkpoint, save_checkpoint
from lightrnn_asr.text.corpus import encode_corpus, length_batches, make_batch
from lightrnn_asr.text.vocabulary import read_vocab

TRUNK = ["--embed-dim", "200", "--hidden-dim", "200", "--num-layers", "1", "--dropout", "0.1"]


def train_lightrnn(args) -> dict:
    cmd = [sys.executable, "-m", "lightrnn_asr.cli", "train", "--train-text", args.train_text, "--valid-text",
           args.valid_text, "--vocab", args.vocab, "--word-list", args.word_list, "--out-dir", str(args.out_dir),
           *TRUNK, "--rounds", str(args.rounds), "--max-tokens", str(args.max_tokens), "--max-len", "40",
           "--lr", "3e-3", "--threads", str(args.threads)]
    run = run_child(cmd, check=True)
    return {"wall_s": run.wall_s, "peak_rss_gb": run.peak_rss_bytes / 2**30}


def lstm_figures(config: LMConfig, vocab, corpus, steps: int, max_tokens: int) -> dict:
    """Parameters, checkpoint bytes and training tokens/s of the full-softmax LSTM."""
    lstm_cfg = LMConfig(model_type="lstm", vocab_size=config.vocab_size, n_rows=0, n_cols=0,
                        embed_dim=config.embed_dim, hidden_dim=config.hidden_dim, num_layers=config.num_layers,
                        dropout=config.dropout)
    model = build_model(lstm_cfg)
    with tempfile.TemporaryDirectory() as d:
        save_checkpoint(Path(d) / "lstm.pt", model, vocab, None)
        size = (Path(d) / "lstm.pt").stat().st_size
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = length_batches(corpus.lengths(), max_tokens)
    tokens, secs = 0, 0.0
    for i, idx in enumerate(batches[: steps + 1]):
        inputs, targets, mask = make_batch([corpus.sentence(j) for j in idx.tolist()], 0, 1)
        t0 = time.perf_counter()
        loss = model.loss(inputs, targets, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step allocates Adam's state
            secs += time.perf_counter() - t0
            tokens += int(mask.sum())
    return {"parameters": model.num_parameters(), "file_bytes": size, "train_tokens_per_s": tokens / secs,
            "timed_steps": steps, "max_tokens": max_tokens,
            "peak_rss_gb": peak_rss_bytes() / 2**30}


def heldout_kinds(ck, small_vocab, heldout: str) -> dict:
    """Mean log-probability (nats) of held-out tokens by kind of word."""
    corpus = encode_corpus(heldout, ck.vocab)
    sentences = [corpus.sentence(i) for i in range(len(corpus))]
    model = ck.model.eval()
    targets = []
    lp = []
    for idx in length_batches(corpus.lengths(), 4000):
        x, y, m = make_batch([sentences[i] for i in idx.tolist()], 0, 1)
        with torch.no_grad():
            lp.append(model.token_logprobs(x, y)[m])
        targets.append(y[m])
    lp, targets = torch.cat(lp), torch.cat(targets)
    in_text = torch.tensor([w in small_vocab for w in ck.vocab.words])
    unk = targets == ck.vocab.unk_id
    kinds = {"training-text vocabulary": in_text[targets] & ~unk, "word list only": ~in_text[targets] & ~unk,
             "neither (<unk>)": unk}
    return {name: {"tokens": int(m.sum()), "mean_logprob": float(lp[m].mean()) if m.any() else None}
            for name, m in kinds.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-text", required=True)
    ap.add_argument("--valid-text", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--vocab", required=True, help="the training text's vocabulary ('word count' lines)")
    ap.add_argument("--word-list", required=True)
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=3000)
    ap.add_argument("--lstm-steps", type=int, default=3)
    ap.add_argument("--lstm-max-tokens", type=int, default=500,
                    help="tokens per LSTM step: its (tokens, |V|) logits and their gradients take 5 GB at 500")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-train", action="store_true", help="use the model already in --out-dir")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    run = {} if args.skip_train else train_lightrnn(args)
    path = args.out_dir / "best.pt"
    ck = load_checkpoint(path)
    history = json.loads((args.out_dir / "history.json").read_text())
    small = set(read_vocab(args.vocab).words)
    corpus = encode_corpus(args.train_text, ck.vocab, max_len=40)
    lstm = lstm_figures(ck.model.config, ck.vocab, corpus, args.lstm_steps, args.lstm_max_tokens)
    light = {
        "vocab": len(ck.vocab), "table": [ck.table.n_rows, ck.table.n_cols], "parameters": ck.model.num_parameters(),
        "file_bytes": path.stat().st_size, "rounds": history,
        "train_tokens_per_s": float(np.mean([h["tokens_per_s"] for h in history])), **run,
    }
    result = {
        "training_vocab": len(small), "lightrnn": light, "lstm_full_softmax": lstm,
        "heldout": heldout_kinds(ck, small, args.heldout),
        "ratio_parameters": lstm["parameters"] / light["parameters"],
        "ratio_file_bytes": lstm["file_bytes"] / light["file_bytes"],
    }
    print(json.dumps(result, indent=1))
    if args.json:
        write_record(result, args.json)


if __name__ == "__main__":
    main()
