"""Emissions for measuring shallow fusion without an acoustic model: CTC log-probabilities built from
real text, where words that have a homophone of the same length (CMUdict) lean acoustically to it, so
that only an LM's context can settle them (``ctc_fusion.py``, ``ctc_pyctcdecode.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from lightrnn_asr.formats.nbest import read_text
from lightrnn_asr.lm.checkpoint import load_checkpoint

#: The demo's LMs the fusion benchmarks compare: ``{system: its directory under exp/lm}``.
LMS = {"LightRNN": "lightrnn", "LSTM (adaptive softmax)": "adaptive"}


def fusion_arguments(description: str, dev_limit: int = 100, names: bool = False) -> argparse.Namespace:
    """The fusion benchmarks' command line: the recipe directory, sentences, beam, threads, record."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, required=True, help="the recipe directory after make demo")
    ap.add_argument("--limit", type=int, default=200, help="test sentences (the first N)")
    ap.add_argument("--dev-limit", type=int, default=dev_limit, help="dev sentences for the weights (the first N)")
    ap.add_argument("--beam", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    if names:
        ap.add_argument("--lean", type=float, default=0.52,
                        help="probability on the sound-alike's letter where it differs (the right letter: 0.98 - LEAN)")
        ap.add_argument("--decoys", action="store_true",
                        help="add as many name-free synthetic sentences, each word one letter from a contact name "
                             "leaning to that name: writing a name costs where none was said")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return args


def fusion_inputs(args: argparse.Namespace, tokens: list[str], blank: str, boundary: str):
    """``(sets, checkpoints, vocabulary, confusions, emissions)``: the synthetic dev and test sentences
    (``{split: {utt: words}}``), the demo's LMs, their vocabulary, the homophones, and
    ``{split: {utt: (emissions, confused words)}}``."""
    sets = {split: dict(list(read_text(args.demo / "data" / f"synthetic_{split}" / "text").items())[:n])
            for split, n in (("dev", args.dev_limit), ("test", args.limit))}
    cks = {name: load_checkpoint(args.demo / "exp" / "lm" / d / "best.pt") for name, d in LMS.items()}
    vocab = next(iter(cks.values())).vocab
    confusions = homophones(vocab)
    ems = {split: {u: emissions(w, confusions, tokens, blank, boundary) for u, w in refs.items()}
           for split, refs in sets.items()}
    return sets, cks, vocab, confusions, ems


def homophones(vocab) -> dict[str, str]:
    """``{word: its homophone of the same length}`` for words of ``vocab`` (first such pair in CMUdict order)."""
    from pocketsphinx import get_model_path

    by_phones: dict[str, list[str]] = {}
    for line in open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8"):
        word, *phones = line.split()
        word = word.split("(")[0]
        if word in vocab and word.isalpha():
            by_phones.setdefault(" ".join(phones), []).append(word)
    out = {}
    for words in by_phones.values():
        for a in words:
            for b in words:
                if a != b and len(a) == len(b) and a not in out:
                    out[a] = b
    return out


def emissions(words: list[str], confusions: dict[str, str], tokens: list[str], blank: str,
              boundary: str, lean: float = 0.52) -> tuple[torch.Tensor, int]:
    """CTC log-probabilities ``(T, len(tokens))`` float32 and the number of confused words: per letter a
    frame (0.98 on it, or ``lean`` on the homophone's letter and 0.98 - ``lean`` on it where they differ) and a ``blank``
    frame, a ``boundary`` frame after each word."""
    def frame(probs):
        p = np.full(len(tokens), (1.0 - sum(probs.values())) / (len(tokens) - len(probs)))
        for c, v in probs.items():
            p[tokens.index(c)] = v
        return np.log(p)

    frames, n = [], 0
    for w in words:
        wrong = confusions.get(w)
        n += wrong is not None
        for i, ch in enumerate(w):
            probs = {ch: 0.98} if wrong is None or wrong[i] == ch else {wrong[i]: lean, ch: 0.98 - lean}
            frames += [frame({c: v for c, v in probs.items() if c in tokens}), frame({blank: 0.98})]
        frames.append(frame({boundary: 0.98}))
    return torch.from_numpy(np.stack(frames).astype(np.float32)).contiguous(), n
