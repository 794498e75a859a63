#!/usr/bin/env python3
"""Peak memory and speed of encoding LM training text (``encode_corpus``) as the text grows.

Writes Zipf-distributed text (a 200K-word vocabulary, 5-40 words per line) of growing size,
then encodes each file in a fresh process (``encode_corpus(max_len=60)``, as ``lightrnn-asr
train`` does) and reads that process's peak resident memory (``getrusage`` of the child).
The vocabulary is built in the parent and passed as a file. Prints one JSON line per size
with the bytes of peak memory per word above the empty process's, to extrapolate to the
800M-word LibriSpeech LM text.

    python benchmarks/speed/encode_memory.py --million-words 5 20 40 --out docs/bench/encode_memory.jsonl
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

CHILD = """
import resource, sys, time
from lightrnn_asr.text.corpus import encode_corpus
from lightrnn_asr.text.vocabulary import read_vocab
vocab = read_vocab(sys.argv[2])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
corpus = encode_corpus(sys.argv[1], vocab, max_len=60)
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - t, corpus.ids.numel(), len(corpus))
"""


def write_text(path: Path, n_words: int, vocab_size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocab_size)])
    p = 1.0 / np.arange(1, vocab_size + 1)
    p /= p.sum()
    written = 0
    with open(path, "w") as f:
        while written < n_words:
            ids = rng.choice(vocab_size, size=1_000_000, p=p)
            lengths = rng.integers(5, 41, size=60_000)
            cuts = np.cumsum(lengths)
            cuts = cuts[cuts < ids.size]
            f.write("\n".join(" ".join(s) for s in np.split(words[ids], cuts)) + "\n")
            written += ids.size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--million-words", type=float, nargs="+", default=[5, 20, 40])
    ap.add_argument("--vocab-size", type=int, default=200_000)
    ap.add_argument("--out", type=Path, help="append the JSON lines here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vocab_path = Path(tmp) / "vocab.txt"
        vocab_path.write_text("<s> 0\n</s> 0\n<unk> 0\n" + "".join(f"w{i} 1\n" for i in range(args.vocab_size)))
        for mw in args.million_words:
            text = Path(tmp) / "text.txt"
            write_text(text, int(mw * 1e6), args.vocab_size)
            res = subprocess.run([sys.executable, "-c", CHILD, str(text), str(vocab_path)], capture_output=True,
                                 text=True, check=True)
            base_kb, peak_kb, seconds, words, sentences = res.stdout.split()
            growth = (int(peak_kb) - int(base_kb)) * 1024
            row = {"words": int(words), "sentences": int(sentences), "text_mb": round(text.stat().st_size / 1e6, 1),
                   "peak_rss_mb": round(int(peak_kb) / 1024, 1), "growth_mb": round(growth / 2**20, 1),
                   "bytes_per_word": round(growth / int(words), 2), "words_per_s": round(int(words) / float(seconds))}
            emit(row, args.out)


if __name__ == "__main__":
    main()
