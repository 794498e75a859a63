#!/usr/bin/env python3
"""Word-level shallow fusion in a CTC decoder, measured: flashlight-text's lexicon decoder (torchaudio's
``ctc_decoder``) with no LM, with the demo's LightRNN, and with its adaptive-softmax LSTM.

No acoustic model can be downloaded here, so the emissions are built from real text: the demo's
synthetic test sentences (held-out *Sense and Sensibility*), one frame per letter and a blank frame
after it, a boundary frame after each word. Where a word has a homophone of the same length that the
LM knows (CMUdict, pocketsphinx's ``cmudict-en-us.dict``: the same phones, another spelling; e.g.
"their"/"there", "right"/"write"), its letters lean to the homophone's (0.52 against 0.46), so that
the acoustics alone pick the wrong word and only context can settle it. The lexicon is the LM's whole
vocabulary (the recognizer's lexicon of the demo), the trie smeared with unigram frequencies.
Reported per system: WER [95% CI] over the sentences, errors on the confused words (aligned with
kaldialign), decoding seconds (the systems one after the other on the same emissions), and for each
other LM the paired-bootstrap P(LightRNN better).

    python benchmarks/ctc_fusion.py --demo recipes/pocketsphinx --out docs/bench/ctc_fusion.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import kaldialign
import numpy as np
import torch
from bench_io import emit
from flashlight.lib.text.decoder import CriterionType, LexiconDecoder, LexiconDecoderOptions, SmearingMode, Trie, ZeroLM

from lightrnn_asr.decoders.flashlight_lm import FlashlightLM, smearing_scores, word_dictionary
from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer
from lightrnn_asr.formats.nbest import read_text
from lightrnn_asr.lm.checkpoint import load_checkpoint

TOKENS = ["-", "|", *"abcdefghijklmnopqrstuvwxyz", "'"]
LMS = {"LightRNN": "lightrnn", "LSTM (adaptive softmax)": "adaptive"}


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


def emissions(words: list[str], confusions: dict[str, str]) -> tuple[torch.Tensor, int]:
    """CTC log-probabilities ``(T, len(TOKENS))`` float32 and the number of confused words."""
    def frame(probs):
        p = np.full(len(TOKENS), (1.0 - sum(probs.values())) / (len(TOKENS) - len(probs)))
        for c, v in probs.items():
            p[TOKENS.index(c)] = v
        return np.log(p)

    frames, n = [], 0
    for w in words:
        wrong = confusions.get(w)
        n += wrong is not None
        for i, ch in enumerate(w):
            probs = {ch: 0.98} if wrong is None or wrong[i] == ch else {wrong[i]: 0.52, ch: 0.46}
            frames += [frame({c: v for c, v in probs.items() if c in TOKENS}), frame({"-": 0.98})]
        frames.append(frame({"|": 0.98}))
    return torch.from_numpy(np.stack(frames).astype(np.float32)).contiguous(), n


def build(lm, vocab, lm_weight: float, beam: int):
    words = word_dictionary(vocab)
    trie = Trie(len(TOKENS), TOKENS.index("|"))
    unigram = smearing_scores(vocab)
    for i, w in enumerate(words[3:], 3):
        if all(c in TOKENS for c in w):
            trie.insert([TOKENS.index(c) for c in w] + [TOKENS.index("|")], i, unigram[i])
    trie.smear(SmearingMode.MAX)
    opts = LexiconDecoderOptions(beam_size=beam, beam_size_token=len(TOKENS), beam_threshold=30.0, lm_weight=lm_weight,
                                 word_score=0.0, unk_score=float("-inf"), sil_score=0.0, log_add=False,
                                 criterion_type=CriterionType.CTC)
    return (LexiconDecoder(opts, trie, lm, TOKENS.index("|"), TOKENS.index("-"), vocab.unk_id, [], False), lm, trie), words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, required=True, help="the recipe directory after make demo")
    ap.add_argument("--limit", type=int, default=200, help="test sentences (the first N)")
    ap.add_argument("--beam", type=int, default=20)
    ap.add_argument("--lm-weight", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    refs = dict(list(read_text(args.demo / "data" / "synthetic_test" / "text").items())[: args.limit])
    cks = {name: load_checkpoint(args.demo / "exp" / "lm" / d / "best.pt") for name, d in LMS.items()}
    vocab = next(iter(cks.values())).vocab
    confusions = homophones(vocab)
    ems = {u: emissions(w, confusions) for u, w in refs.items()}
    systems = {"no LM": (ZeroLM(), 0.0), **{n: (FlashlightLM(ck.model, ck.vocab), args.lm_weight) for n, ck in cks.items()}}
    confused_words = sum(n for _, n in ems.values())
    hyps = {}
    for name, (lm, weight) in systems.items():
        dec, words = build(lm, vocab, weight, args.beam)
        t0 = time.perf_counter()
        hyps[name] = {}
        for u, (em, _) in ems.items():
            best = dec[0].decode(em.data_ptr(), em.shape[0], em.shape[1])[0]
            hyps[name][u] = [words[i] for i in best.words if i >= 0]
        secs = time.perf_counter() - t0
        w = compute_wer(refs, hyps[name])
        ci = bootstrap_ci(refs, hyps[name], replications=1000)
        wrong = sum(1 for u, ref in refs.items() for r, h in kaldialign.align(ref, hyps[name][u], "*")
                    if r in confusions and h != r)
        paired = ({} if name in ("no LM", "LightRNN") or "LightRNN" not in hyps else
                  {"p_lightrnn_better": bootstrap_ci(refs, hyps[name], hyps["LightRNN"], replications=1000)[
                      "p_s2_improv_over_s1"]})
        emit({"benchmark": "ctc_fusion", "decoder": "flashlight-text LexiconDecoder", "system": name, **paired,
              "sentences": len(refs), "words": w.ref_words, "confused_words": confused_words, "vocab": len(vocab),
              "beam": args.beam, "lm_weight": weight, "wer": w.wer, "ci95": [100 * ci["ci95min"], 100 * ci["ci95max"]],
              "confused_word_errors": wrong, "seconds": secs, "threads": args.threads}, args.out)


if __name__ == "__main__":
    main()
