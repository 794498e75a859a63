#!/usr/bin/env python3
"""Word-level shallow fusion in a CTC decoder, measured: flashlight-text's lexicon decoder (torchaudio's
``ctc_decoder``) with no LM, with the first pass's trigram (pocketsphinx's en-us, the n-gram a user
has; :class:`NgramFusionLM`), with the demo's LightRNN, and with its adaptive-softmax LSTM.

No acoustic model can be downloaded here, so the emissions are built from real text: the demo's
synthetic test sentences (held-out *Sense and Sensibility*), one frame per letter and a blank frame
after it, a boundary frame after each word. Where a word has a homophone of the same length that the
LM knows (CMUdict, pocketsphinx's ``cmudict-en-us.dict``: the same phones, another spelling; e.g.
"their"/"there", "right"/"write"), its letters lean to the homophone's (0.52 against 0.46), so that
the acoustics alone pick the wrong word and only context can settle it. The lexicon is the LM's whole
vocabulary (the recognizer's lexicon of the demo), the trie smeared with unigram frequencies.
Each LM's weight is chosen on the demo's synthetic dev sentences (the same grid, ``LM_WEIGHTS``, for
every LM), then the test sentences
are decoded once. Reported per system: WER [95% CI] over the test sentences, errors on the confused
words (aligned with kaldialign), decoding seconds (the systems one after the other on the same
emissions), and for each other LM the paired-bootstrap P(LightRNN better); every dev run is recorded
too (``"split": "dev"``).

    python benchmarks/quality/ctc_fusion.py --demo recipes/pocketsphinx --out docs/bench/ctc_fusion_dev_tuned.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import kaldialign

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from ctc_emissions import OOV_LOGPROB, fusion_arguments, fusion_inputs
from flashlight.lib.text.decoder import (
    LM,
    CriterionType,
    LexiconDecoder,
    LexiconDecoderOptions,
    LMState,
    SmearingMode,
    Trie,
    ZeroLM,
)
from harness import emit, timed

from lightrnn_asr.decoders.flashlight_lm import FlashlightLM, smearing_scores, word_dictionary
from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer
from lightrnn_asr.lm.ngram import NgramLM

TOKENS = ["-", "|", *"abcdefghijklmnopqrstuvwxyz", "'"]
#: The LM weights every LM is tried with on dev (widened once: two choices sat on the first grid's edges).
LM_WEIGHTS = [0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]


class NgramFusionLM(LM):
    """flashlight-text's ``LM`` over the first pass's n-gram (:class:`~lightrnn_asr.lm.ngram.NgramLM`, nats),
    its word indices those of ``words`` (the decoder's dictionary). A state is the last ``order - 1`` words.
    pocketsphinx's trigram cannot be written as ARPA for flashlight's ``KenLM`` (its ARPA writer fails), so
    this stands in for it; words the trigram lacks (text words outside the recognizer's lexicon) score
    ``NgramLM.oov_logprob``."""

    def __init__(self, ngram: NgramLM, words: list[str]) -> None:
        LM.__init__(self)
        self.ngram, self.words, self.history = ngram, words, {}

    def start(self, start_with_nothing: bool) -> LMState:
        state = LMState()
        self.history[state] = ("<s>",)
        return state

    def score(self, state: LMState, usr_token_idx: int) -> tuple[LMState, float]:
        h, w = self.history[state], self.words[usr_token_idx]
        child = state.child(usr_token_idx)
        self.history.setdefault(child, (*h, w)[-(self.ngram.order - 1):])
        return child, self.ngram.logprob(w, h)

    def finish(self, state: LMState) -> tuple[LMState, float]:
        return state, self.ngram.logprob("</s>", self.history[state])


def build(lm, words: list[str], smear: list[float], unk_id: int, lm_weight: float, beam: int):
    """A lexicon decoder over ``words`` (its dictionary: index = word id, each inserted into the trie with its
    ``smear`` score) with ``lm``, returned with ``lm`` and the trie: the decoder keeps no Python object alive."""
    trie = Trie(len(TOKENS), TOKENS.index("|"))
    for i, w in enumerate(words[3:], 3):
        if all(c in TOKENS for c in w):
            trie.insert([TOKENS.index(c) for c in w] + [TOKENS.index("|")], i, smear[i])
    trie.smear(SmearingMode.MAX)
    opts = LexiconDecoderOptions(beam_size=beam, beam_size_token=len(TOKENS), beam_threshold=30.0, lm_weight=lm_weight,
                                 word_score=0.0, unk_score=float("-inf"), sil_score=0.0, log_add=False,
                                 criterion_type=CriterionType.CTC)
    return LexiconDecoder(opts, trie, lm, TOKENS.index("|"), TOKENS.index("-"), unk_id, [], False), lm, trie


def decode(dec, words, ems) -> tuple[dict[str, list[str]], float]:
    """The 1-best words of every utterance, and the seconds it took."""
    out = {}
    with timed() as t:
        for u, (em, _) in ems.items():
            best = dec[0].decode(em.data_ptr(), em.shape[0], em.shape[1])[0]
            out[u] = [words[i] for i in best.words if i >= 0]
    return out, t.seconds


def main() -> None:
    args = fusion_arguments(__doc__)
    sets, cks, vocab, confusions, ems = fusion_inputs(args, TOKENS, "-", "|")
    from pocketsphinx import get_model_path

    trigram = NgramFusionLM(NgramLM(get_model_path("en-us/en-us.lm.bin"), oov_logprob=OOV_LOGPROB), word_dictionary(vocab))
    systems = {"no LM": ZeroLM(), "first-pass trigram": trigram,
               **{n: FlashlightLM(ck.model, ck.vocab) for n, ck in cks.items()}}
    common = {"benchmark": "ctc_fusion", "decoder": "flashlight-text LexiconDecoder", "vocab": len(vocab),
              "beam": args.beam, "threads": args.threads}
    hyps, words, smear = {}, word_dictionary(vocab), smearing_scores(vocab)
    for name, lm in systems.items():
        weight, dev_wer = 0.0, {}
        if name != "no LM":  # the weight, on dev
            for w in LM_WEIGHTS:
                out, secs = decode(build(lm, words, smear, vocab.unk_id, w, args.beam), words, ems["dev"])
                dev_wer[w] = compute_wer(sets["dev"], out).wer
                emit({**common, "split": "dev", "system": name, "sentences": len(out), "lm_weight": w,
                      "wer": dev_wer[w], "seconds": secs}, args.out)
            weight = min(LM_WEIGHTS, key=lambda w: (dev_wer[w], w))
        refs = sets["test"]
        hyps[name], secs = decode(build(lm, words, smear, vocab.unk_id, weight, args.beam), words, ems["test"])
        w = compute_wer(refs, hyps[name])
        ci = bootstrap_ci(refs, hyps[name], replications=1000)
        wrong = sum(1 for u, ref in refs.items() for r, h in kaldialign.align(ref, hyps[name][u], "*")
                    if r in confusions and h != r)
        paired = ({} if name in ("no LM", "LightRNN") or "LightRNN" not in hyps else
                  {"p_lightrnn_better": bootstrap_ci(refs, hyps[name], hyps["LightRNN"], replications=1000)[
                      "p_s2_improv_over_s1"]})
        emit({**common, "split": "test", "system": name, **paired, "sentences": len(refs), "words": w.ref_words,
              "confused_words": sum(n for _, n in ems["test"].values()), "lm_weight": weight,
              "lm_weight_grid": LM_WEIGHTS if dev_wer else None, "dev_wer": dev_wer.get(weight),
              "wer": w.wer, "ci95": [100 * ci["ci95min"], 100 * ci["ci95max"]], "confused_word_errors": wrong,
              "seconds": secs}, args.out)


if __name__ == "__main__":
    main()
