#!/usr/bin/env python3
"""Speed and size at the recognizer's vocabulary, every LM in one run.

The vocabulary is what an ASR engineer gives a rescoring LM so that no hypothesis word is out of it: the LM
text's words (count >= 2, as the recipe's) and every word pocketsphinx's first pass can output
(``recipes/pocketsphinx/local/lexicon.py``). Each system of the recipe (the LightRNN, the adaptive- and
full-softmax LSTMs, the BPE LSTM; each with the recipe's options, ``recipes/pocketsphinx/run.sh``) trains for
the same token budget on the recipe's text, one after the other; then, in this process, each scores the same
N-best file in turn (a few lists untimed first, then ``--repeats`` timed passes, the best kept) and the
held-out novel's dev chapters. One JSON line per system: parameters, checkpoint MB, peak resident memory of
its training process, training tokens/s, N-best hypotheses/s and words/s, dev perplexity after the budget (a
short budget: a speed check, not the quality study). With ``--time-budget 180`` each trains for 180 s instead:
the tokens it trained are the recipe's equal-time token budget at this vocabulary
(``docs/bench/lexicon_budgets.jsonl``).

    python benchmarks/speed/lexicon_scale.py --data recipes/pocketsphinx/data \\
        --nbest recipes/pocketsphinx/exp/decode/synthetic_dev/nbest.txt --out docs/bench/lexicon_scale.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit, run_child, seconds_in_turn
from quality.dev_search import recipe_settings, with_setting

from lightrnn_asr.formats.nbest import read_nbest
from lightrnn_asr.lm import load_checkpoint
from lightrnn_asr.scoring.nbest import score_nbest
from lightrnn_asr.scoring.sentences import perplexity
from lightrnn_asr.text.corpus import encode_corpus, read_sentences
from lightrnn_asr.text.vocabulary import Vocabulary, read_word_list, write_vocab

RECIPE_LOCAL = Path(__file__).resolve().parents[2] / "recipes" / "pocketsphinx" / "local"


def vocabulary(data: Path, work: Path) -> tuple[Path, dict]:
    """The text's words (count >= 2) and the first pass's lexicon, written to ``work/vocab.txt``."""
    lexicon = work / "lexicon.txt"
    subprocess.run([sys.executable, str(RECIPE_LOCAL / "lexicon.py"), "--out", str(lexicon)], check=True)
    text = Vocabulary.from_sentences(read_sentences(data / "lm" / "train.txt"), min_count=2)
    words, _ = read_word_list(lexicon)
    vocab = text.with_words(words)
    write_vocab(work / "vocab.txt", vocab)
    return work / "vocab.txt", {"text_words": len(text), "lexicon_words": len(words), "vocab": len(vocab)}


def train(system: str, opts: list[str], common: list[str], data: Path, vocab: Path, budget: list[str],
          out: Path) -> dict:
    """Train one system in its own process (``budget``: train's budget option and value), its wall seconds
    and peak resident memory measured."""
    cmd = ["lightrnn-asr", "train", *common, *opts, *budget,
           "--train-text", str(data / "lm" / "train.txt"),
           "--valid-text", str(data / "lm" / "valid.txt"), "--vocab", str(vocab), "--out-dir", str(out)]
    run = run_child(cmd)
    if run.returncode:
        sys.exit(f"{system}: training failed\n{run.stderr[-3000:]}")
    hist = json.loads((out / "history.json").read_text())
    return {"command": " ".join(cmd), "wall_s": run.wall_s, "peak_rss_mb": run.peak_rss_bytes / 2**20,
            "train_tokens": sum(h["train_tokens"] for h in hist), "train_seconds": sum(h["train_seconds"] for h in hist),
            "tokens_per_s": sum(h["train_tokens"] for h in hist) / sum(h["train_seconds"] for h in hist)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the recipe's data directory")
    ap.add_argument("--nbest", type=Path, required=True)
    ap.add_argument("--token-budget", type=int, default=600_000)
    ap.add_argument("--time-budget", type=float, help="train each system for this many seconds instead (the tokens "
                    "it trains in them are the recipe's equal-time token budget on this machine)")
    ap.add_argument("--systems", default="lightrnn,adaptive,lstm,bpe", help="the recipe's systems ('': none, only "
                    "the variants)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=SYSTEM:OPTIONS",
                    help="also train SYSTEM with OPTIONS replacing the recipe's (e.g. 'bpe4000=bpe:--bpe-pieces 4000'), "
                    "recorded as NAME; repeatable")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocab", type=Path, help="this vocabulary instead of the text's and the lexicon's (e.g. the "
                    "demo's, to measure a system's tokens/s there)")
    ap.add_argument("--work", type=Path, help="keep the checkpoints here (default: a temporary directory)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    nbest = read_nbest(args.nbest)  # before hours of training: a wrong path fails now
    work = args.work or Path(tempfile.mkdtemp(prefix="lexicon_scale."))
    work.mkdir(parents=True, exist_ok=True)
    if args.vocab:
        vocab_path, sizes = args.vocab, {"vocab": sum(1 for _ in open(args.vocab, encoding="utf-8"))}
    else:
        vocab_path, sizes = vocabulary(args.data, work)
    common, opts, _ = recipe_settings()
    for variant in args.variant:
        name, _, spec = variant.partition("=")
        system, _, options = spec.partition(":")
        if name in opts or system not in opts:
            sys.exit(f"--variant {variant!r}: NAME must be new and SYSTEM one of {', '.join(opts)}")
        opts[name] = opts[system]
        for key, value in zip(options.split()[::2], options.split()[1::2]):
            opts[name] = with_setting(opts[name], key, value)
    budget = (["--time-budget", str(args.time_budget)] if args.time_budget
              else ["--token-budget", str(args.token_budget)])
    runs = {s: train(s, opts[s], common, args.data, vocab_path, budget, work / s)
            for s in [*filter(None, args.systems.split(",")), *(v.partition("=")[0] for v in args.variant)]}
    n_hyps = sum(len(h) for h in nbest.values())
    n_words = sum(len(x.words) + 1 for h in nbest.values() for x in h)
    models = {s: load_checkpoint(work / s / "best.pt") for s in runs}
    for ck in models.values():
        score_nbest(ck.model, ck.vocab, dict(list(nbest.items())[:20]))  # untimed set-up
    seconds = seconds_in_turn(models, lambda ck: score_nbest(ck.model, ck.vocab, nbest), args.repeats)
    for s, ck in models.items():
        dev = perplexity(ck.model, encode_corpus(args.data / "lm" / "heldout_dev.txt", ck.vocab), unk_id=ck.vocab.unk_id)
        emit({"benchmark": "lexicon_scale", "system": s, **sizes, "token_budget": None if args.time_budget else args.token_budget,
              "time_budget_s": args.time_budget, **runs[s],
              "parameters": ck.model.num_parameters(), "file_mb": (work / s / "best.pt").stat().st_size / 2**20,
              "nbest": str(args.nbest), "hypotheses": n_hyps, "words": n_words, "threads": args.threads,
              "rescore_seconds": seconds[s], "hyps_per_s": n_hyps / min(seconds[s]),
              "words_per_s": n_words / min(seconds[s]), "dev_ppl": dev.perplexity, "dev_oov": dev.oov_rate},
             args.out)


if __name__ == "__main__":
    main()
