#!/usr/bin/env python3
"""N-best rescoring with every distinct prefix scored once, against whole-sentence scoring, on real lists.

    python benchmarks/speed/prefix_scoring.py --nbest recipes/pocketsphinx/exp/decode/synthetic_test/nbest.txt \\
        recipes/pocketsphinx/exp/decode/asterisk_test/nbest.txt --model recipes/pocketsphinx/exp/lm/lightrnn/best.pt \\
        --out docs/bench/prefix_scoring.jsonl

Per list and model: words (and ``</s>``) over distinct prefixes, the largest score difference, and
words/s of :func:`~lightrnn_asr.scoring.sentences.score_sentences` (length-sorted batches, the path
``rescore`` takes) and of :func:`~lightrnn_asr.scoring.prefix.prefix_logprobs`, each the best of
``--repeats`` timed runs, in one process.

With ``--vocab-size N`` the lists' words are mapped one to one into a vocabulary of N words (a
seeded random injection: the prefix structure of the real lists is kept, the word ids are spread
over the whole table) and untrained models of that size are built (``--systems``, ``--hidden``):
the speed of scoring real lists' shape at a vocabulary the demo's text does not have.

    python benchmarks/speed/prefix_scoring.py --nbest .../synthetic_test/nbest.txt --vocab-size 100000 \
        --hidden 512 --max-utts 30 --out docs/bench/prefix_scoring_100k.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr.formats.nbest import read_nbest
from lightrnn_asr.lm import LMConfig, build_model
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.scoring.prefix import PrefixTree, prefix_logprobs
from lightrnn_asr.scoring.sentences import score_sentences


def best_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    out, best = None, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


#: --systems: name -> (model_type, recurrence)
SYSTEMS = {"lightrnn-wordsum": ("lightrnn", "word-sum"), "lightrnn": ("lightrnn", "halfword"),
           "adaptive": ("adaptive", "halfword"), "lstm": ("lstm", "halfword")}


def mapped_lists(path: str, vocab_size: int, max_utts: int | None, top: int, seed: int = 0) -> list[list[int]]:
    """The hypotheses of the first ``max_utts`` lists of ``path`` (each list's best ``top``), every
    distinct word mapped to its own id in ``3 .. vocab_size - 1`` (seeded, one to one)."""
    nbest = read_nbest(path)
    keys = list(nbest)[:max_utts]
    hyps = [h.words for k in keys for h in nbest[k][:top]]
    words = sorted({w for h in hyps for w in h})
    if len(words) > vocab_size - 3:
        raise SystemExit(f"{path}: {len(words)} distinct words do not fit in --vocab-size {vocab_size}")
    ids = np.random.default_rng(seed).choice(np.arange(3, vocab_size), size=len(words), replace=False)
    to_id = dict(zip(words, ids.tolist()))
    return [[to_id[w] for w in h] for h in hyps]


def mapped_models(args, meta: dict) -> None:
    """Words/s of whole-sentence and prefix-tree scoring for untrained models at ``--vocab-size``."""
    for path in args.nbest:
        for top in args.top:
            sents = mapped_lists(path, args.vocab_size, args.max_utts, top)
            words = sum(len(s) + 1 for s in sents)
            tree = PrefixTree(sents, 1)
            for system in args.systems:
                model_type, recurrence = SYSTEMS[system]
                torch.manual_seed(0)
                table = WordTable.sequential(args.vocab_size) if model_type == "lightrnn" else None
                cfg = LMConfig(model_type=model_type, vocab_size=args.vocab_size, n_rows=table.n_rows if table else 0,
                               n_cols=table.n_cols if table else 0, embed_dim=args.hidden, hidden_dim=args.hidden,
                               num_layers=1, dropout=0.1, recurrence=recurrence, col_hidden_dim=0, input_shortlist=0,
                               output_shortlist=0)
                model = build_model(cfg, table).eval()
                row = {**meta, "nbest": path, "top": top, "max_utts": args.max_utts, "vocab_size": args.vocab_size,
                       "hidden": args.hidden, "embed": args.hidden, "layers": 1, "system": system,
                       "lm": type(model).__name__, "recurrence": recurrence, "hypotheses": len(sents), "words": words,
                       "prefix_nodes": tree.num_nodes - 1, "prefix_ratio": words / (tree.num_nodes - 1),
                       "trained": False, "max_tokens": args.max_tokens}
                tensors = [torch.tensor(s, dtype=torch.long) for s in sents]
                score_sentences(model, tensors[:50], max_tokens=args.max_tokens)  # warm-up
                prefix_logprobs(model, sents[:50])
                t_whole, whole = best_time(lambda: score_sentences(model, tensors, max_tokens=args.max_tokens),
                                           args.repeats)
                row["whole_words_per_s"] = words / t_whole
                row["whole_seconds"] = t_whole
                if system in args.prefix_systems:
                    t_tree, shared = best_time(lambda: prefix_logprobs(model, sents), args.repeats)
                    row.update({"prefix_words_per_s": words / t_tree, "prefix_seconds": t_tree,
                                "speedup": t_whole / t_tree, "max_abs_diff_nats": float(np.abs(whole - shared).max())})
                emit(row, args.out)


def list_name(path: str) -> str:
    """``.../synthetic_test/nbest.txt`` -> ``synthetic_test``; ``.../asterisk_test_1000.nbest`` -> its stem."""
    p = Path(path)
    return p.parent.name if p.stem == "nbest" else p.stem


def table(files: list[Path]) -> str:
    """Markdown table of ``--vocab-size`` rows: words/s per system and method, and the ratios to the
    full-softmax LSTM scoring whole sentences (icefall's way) of the same lists."""
    rows = [json.loads(line) for f in files for line in open(f) if line.strip()]
    rows = [r for r in rows if "vocab_size" in r]
    out = ["| lists | hypotheses | words over distinct prefixes | LM | whole sentences words/s | prefix tree words/s "
           "| prefix tree / full-softmax LSTM whole |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lstm = next(x for x in rows if x["system"] == "lstm" and x["nbest"] == r["nbest"] and x["top"] == r["top"])
        pre = r.get("prefix_words_per_s")
        out.append(f"| {list_name(r['nbest'])} {r['top']}-best | {r['hypotheses']:,} | "
                   f"{r['prefix_ratio']:.2f}x | {r['system']} | {r['whole_words_per_s']:,.0f} | "
                   f"{pre:,.0f} | **{pre / lstm['whole_words_per_s']:.1f}x** |" if pre else "")
    return "\n".join(x for x in out if x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nbest", nargs="+")
    ap.add_argument("--model", nargs="+", help="trained checkpoints (the lists' own vocabulary)")
    ap.add_argument("--vocab-size", type=int, help="instead of --model: untrained models of this |V|, the lists' "
                    "words mapped into it")
    ap.add_argument("--systems", nargs="+", default=["lightrnn-wordsum", "lightrnn", "lstm"], choices=SYSTEMS)
    ap.add_argument("--prefix-systems", nargs="*", default=["lightrnn-wordsum", "lightrnn", "lstm"],
                    help="--vocab-size: the systems also timed with the prefix tree")
    ap.add_argument("--hidden", type=int, default=512, help="--vocab-size: embedding and hidden size")
    ap.add_argument("--max-utts", type=int, default=None, help="--vocab-size: the first N lists of each file")
    ap.add_argument("--max-tokens", type=int, default=2000, help="--vocab-size: padded tokens per whole-sentence "
                    "batch (2000 measured best for the 100K full softmax in lm_compare)")
    ap.add_argument("--top", type=int, nargs="+", default=[100], help="keep the N best of each list (N-best sizes)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", nargs="+", type=Path, help="print the Markdown table of these JSON-lines files")
    args = ap.parse_args()
    if args.table:
        return print(table(args.table))
    torch.set_num_threads(args.threads)
    meta = {"threads": args.threads}
    if args.vocab_size:
        return mapped_models(args, meta)
    if not args.model or not args.nbest:
        ap.error("give --nbest and --model or --vocab-size")
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
