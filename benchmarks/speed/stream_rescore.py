#!/usr/bin/env python3
"""Peak memory of N-best rescoring as the N-best file grows: streamed, not loaded whole.

Writes synthetic N-best files (10 hypotheses of 5-15 words per utterance, random scores)
of growing size, then runs ``lightrnn-asr rescore FILE --model M --lm-scale 1`` in a
fresh process on each and reads its peak resident memory (``getrusage`` of the child). For
contrast, a process that only reads the file whole (``read_nbest``) is measured too. The
model is a small LightRNN over the files' 5,000-word vocabulary, built here with random
weights: the memory of the scoring, not of the model, is the point. Prints one JSON line
per file size.

    python benchmarks/speed/stream_rescore.py --sizes-mb 25 100 400
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit, run_child

from lightrnn_asr.lm import LightRNN, LMConfig
from lightrnn_asr.lm.checkpoint import save_checkpoint
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.vocabulary import Vocabulary

WORDS = [f"w{i}" for i in range(5000)]


def write_nbest(path: Path, size_mb: float, seed: int = 0) -> int:
    """An N-best file of about ``size_mb`` MB; returns its number of utterances."""
    rng = np.random.default_rng(seed)
    target, written, utt = size_mb * 1e6, 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            lines = []
            for _ in range(10):
                words = " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), int(rng.integers(5, 16))))
                lines.append(f"utt{utt:08d}\t{rng.normal(-500, 50):.4f}\t{words}\n")
            chunk = "".join(lines)
            f.write(chunk)
            written += len(chunk)
            utt += 1
    return utt


def child_peak(cmd: list[str]) -> tuple[float, float]:
    """``cmd``'s peak resident memory (MiB) and wall seconds."""
    run = run_child(cmd, check=True)
    return run.peak_rss_bytes / 2**20, run.wall_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", type=float, nargs="+", default=[25, 100, 400])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vocab = Vocabulary(["<s>", "</s>", "<unk>", *WORDS], [0, 1, 0] + [1] * len(WORDS))
        table = WordTable.random(len(vocab), torch.Generator().manual_seed(0))
        torch.manual_seed(0)
        model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows,
                                  n_cols=table.n_cols, embed_dim=32, hidden_dim=32, num_layers=1, dropout=0.0,
                                  recurrence="halfword"), table)
        save_checkpoint(tmp / "lm.pt", model, vocab, table)
        for size in args.sizes_mb:
            nbest = tmp / "x.nbest"
            n_utts = write_nbest(nbest, size)
            mb = nbest.stat().st_size / 1e6
            rescore = [sys.executable, "-m", "lightrnn_asr.cli", "rescore", str(nbest), "--model",
                       str(tmp / "lm.pt"), "--lm-scale", "1", "--device", "cpu", "--out", str(tmp / "o.txt")]
            whole = [sys.executable, "-c", f"from lightrnn_asr.formats.nbest import read_nbest; read_nbest({str(nbest)!r})"]
            rss, secs = child_peak(["env", f"OMP_NUM_THREADS={args.threads}", *rescore])
            rss_whole, _ = child_peak(whole)
            emit({
                "file_mb": round(mb, 1), "utterances": n_utts, "hypotheses": 10 * n_utts,
                "rescore_peak_rss_mb": round(rss, 1), "rescore_seconds": round(secs, 1),
                "read_whole_peak_rss_mb": round(rss_whole, 1),
                "threads": args.threads, }, None)


if __name__ == "__main__":
    main()
