#!/usr/bin/env python3
"""Word-level shallow fusion in pyctcdecode's CTC beam search, measured: no LM, the demo's LightRNN and
its adaptive-softmax LSTM (``lightrnn_asr.decoders.pyctcdecode_lm.PyctcdecodeLM``), on the emissions of
``ctc_fusion.py`` (``ctc_emissions.py``: the demo's synthetic sentences, words with a homophone of the
same length leaning acoustically to it). pyctcdecode decodes without a lexicon, so a word is any
string of letters; its n-gram LM is KenLM's, which is not installed here, so no n-gram row.

Each LM's ``alpha`` is chosen on synthetic dev sentences from one grid (``ALPHAS``) for every LM
(``beta`` 0: the emissions mark every word boundary), then the test sentences are decoded once.
Reported per system: WER [95% CI], errors on the confused words, seconds per sentence, and for the
other LM the paired-bootstrap P(LightRNN better); every dev run is recorded too. pyctcdecode pins
numpy < 2: run it in ``make test-k2``'s environment.

    .venv-k2/bin/python benchmarks/quality/ctc_pyctcdecode.py --demo recipes/pocketsphinx --out docs/bench/ctc_pyctcdecode.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import kaldialign

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from ctc_emissions import fusion_arguments, fusion_inputs
from harness import emit, timed
from pyctcdecode.alphabet import Alphabet
from pyctcdecode.decoder import BeamSearchDecoderCTC

from lightrnn_asr.decoders.pyctcdecode_lm import PyctcdecodeLM
from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer

LABELS = ["", " ", *"abcdefghijklmnopqrstuvwxyz", "'"]
#: The LM weights (pyctcdecode's alpha) every LM is tried with on dev (widened once: a choice sat on the
#: first grid's edge).
ALPHAS = [0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]


def decode(decoder, ems, beam: int) -> tuple[dict[str, list[str]], float]:
    with timed() as t:
        out = {u: decoder.decode(em.numpy(), beam_width=beam).split() for u, (em, _) in ems.items()}
    return out, t.seconds


def main() -> None:
    args = fusion_arguments(__doc__)
    sets, cks, vocab, confusions, ems = fusion_inputs(args, LABELS, "", " ")
    alphabet = Alphabet.build_alphabet(LABELS)
    common = {"benchmark": "ctc_pyctcdecode", "decoder": "pyctcdecode BeamSearchDecoderCTC", "vocab": len(vocab),
              "beam": args.beam, "threads": args.threads}
    hyps = {}
    for name in ["no LM", *cks]:
        alpha, dev_wer = 0.0, {}
        if name != "no LM":
            for a in ALPHAS:
                lm = PyctcdecodeLM(cks[name].model, cks[name].vocab, alpha=a, beta=0.0)
                out, secs = decode(BeamSearchDecoderCTC(alphabet, language_model=lm), ems["dev"], args.beam)
                dev_wer[a] = compute_wer(sets["dev"], out).wer
                emit({**common, "split": "dev", "system": name, "sentences": len(out), "alpha": a, "wer": dev_wer[a],
                      "seconds": secs}, args.out)
            alpha = min(ALPHAS, key=lambda a: (dev_wer[a], a))
        lm = None if name == "no LM" else PyctcdecodeLM(cks[name].model, cks[name].vocab, alpha=alpha, beta=0.0)
        refs = sets["test"]
        hyps[name], secs = decode(BeamSearchDecoderCTC(alphabet, language_model=lm), ems["test"], args.beam)
        w = compute_wer(refs, hyps[name])
        ci = bootstrap_ci(refs, hyps[name], replications=1000)
        wrong = sum(1 for u, ref in refs.items() for r, h in kaldialign.align(ref, hyps[name][u], "*")
                    if r in confusions and h != r)
        paired = ({} if name in ("no LM", "LightRNN") else
                  {"p_lightrnn_better": bootstrap_ci(refs, hyps[name], hyps["LightRNN"], replications=1000)[
                      "p_s2_improv_over_s1"]})
        emit({**common, "split": "test", "system": name, **paired, "sentences": len(refs), "words": w.ref_words,
              "confused_words": sum(n for _, n in ems["test"].values()), "alpha": alpha,
              "alpha_grid": ALPHAS if dev_wer else None, "dev_wer": dev_wer.get(alpha), "wer": w.wer,
              "ci95": [100 * ci["ci95min"], 100 * ci["ci95max"]], "confused_word_errors": wrong, "seconds": secs},
             args.out)


if __name__ == "__main__":
    main()
