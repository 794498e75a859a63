"""The share of a text's running words that the N most frequent words of a vocabulary cover: what an
input shortlist of N words (``train --input-shortlist N``) gives a vector of its own.

    python benchmarks/speed/shortlist_coverage.py --text recipes/pocketsphinx/data/lm/train.txt \\
        --vocab recipes/pocketsphinx/exp/lm/vocab.txt --sizes 1000 4000 14848 \\
        --out docs/bench/shortlist_coverage.jsonl

Counts every token of the text (``</s>`` not counted); words outside the vocabulary count as not covered.
Appends one JSON line per size to ``--out`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr import read_sentences
from lightrnn_asr.text.vocabulary import read_vocab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", type=Path, required=True)
    ap.add_argument("--vocab", type=Path, required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    vocab = read_vocab(args.vocab)
    counts = Counter(w for s in read_sentences(args.text) for w in s)
    total = sum(counts.values())
    print("| shortlist N | words covered | share of running words |\n|---|---|---|")
    for n in args.sizes:
        covered = sum(counts[w] for w in vocab.words[:n])  # ids in frequency order: the specials first
        row = {"text": str(args.text),
               "vocab": str(args.vocab), "vocab_size": len(vocab), "shortlist": n, "running_words": total,
               "covered": covered, "share": covered / total}
        print(f"| {n:,} | {covered:,} of {total:,} | {100 * covered / total:.1f} % |")
        if args.out:
            emit(row, args.out)


if __name__ == "__main__":
    main()
