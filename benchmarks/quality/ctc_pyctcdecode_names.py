#!/usr/bin/env python3
"""Contact names in pyctcdecode's CTC beam search, measured: the LM and pyctcdecode's hotword biasing, alone
and together, over the demo's name-rich sentences, where every contact name leans acoustically to a word the
LM knows (the emissions of ``ctc_fusion_names.py``, ``ctc_emissions.names_inputs``; with ``--decoys``, as many
name-free sentences in which words one letter from a name lean to it, so that biasing toward names has a cost).

pyctcdecode decodes without a lexicon: any string of letters is a word, a word the LM lacks gets
``unk_score_offset`` (pyctcdecode's default, -10 log10 units) and its prefixes the same, unless they are a
hotword's prefix. Hotwords (the contact list) get ``hotword_weight`` per match (pyctcdecode's
``HotwordScorer``).

Systems: no LM; the first pass's trigram (pocketsphinx's en-us, ``NgramPyctcdecodeLM``; pyctcdecode's own
n-gram is KenLM's, not installed here); each of the demo's word LMs knowing the names the ways the demo's
recipe gives them (``recipes/pocketsphinx/local/evaluate.py``): the LightRNN with ``add_words`` through
``lightrnn_asr.decoders.pyctcdecode_lm.build_pyctcdecoder`` (each name in a free cell, its row copied from a
like-word of its class) and as ``<unk>``; the adaptive-softmax LSTM scoring a name as its like-word and as
``<unk>``. Every LM system gets the same search on dev: alpha (``ALPHAS``) x hotword weight
(``HOTWORD_WEIGHTS``; ``None``: no hotwords); no LM gets the hotword weights; beta is 0 (the emissions mark
every word boundary). Then each decodes the test sentences once. Reported per system: WER [95% CI], name error
rate [95% CI], decoding seconds, and P(LightRNN + add-words makes fewer name errors) against every other
system. pyctcdecode pins numpy < 2: run it in ``make test-k2``'s environment.

    .venv-k2/bin/python benchmarks/quality/ctc_pyctcdecode_names.py --demo recipes/pocketsphinx --decoys \\
        --out docs/bench/ctc_pyctcdecode_names.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from ctc_emissions import OOV_LOGPROB, against_reference, contact_list, fusion_arguments, names_inputs, names_scores
from harness import emit, timed
from pocketsphinx import get_model_path
from pyctcdecode.alphabet import Alphabet
from pyctcdecode.decoder import BeamSearchDecoderCTC
from pyctcdecode.language_model import AbstractLanguageModel

from lightrnn_asr.decoders.pyctcdecode_lm import LN10, PyctcdecodeLM, build_pyctcdecoder, partial_token_score
from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.ngram import NgramLM

LABELS = ["", " ", *"abcdefghijklmnopqrstuvwxyz", "'"]
#: The LM weights (pyctcdecode's alpha) and hotword weights (``None``: no hotwords) every LM system is tried
#: with on dev.
ALPHAS = [0.25, 0.5, 1.0, 2.0, 4.0]
HOTWORD_WEIGHTS = [None, 5.0, 10.0, 20.0]
REFERENCE = "LightRNN + add-words"


class NgramPyctcdecodeLM(AbstractLanguageModel):
    """pyctcdecode's ``AbstractLanguageModel`` over the first pass's n-gram (:class:`NgramLM`, nats), with
    :class:`PyctcdecodeLM`'s conventions: ``alpha * (log P(word | last order-1 words) [+ OOV offset]
    [+ log P(</s> | ...)]) + beta``; a word the n-gram lacks scores ``OOV_LOGPROB`` plus ``unk_score_offset``;
    partial words are scored against ``words`` (the decoder's known words)."""

    def __init__(self, ngram: NgramLM, words: list[str], alpha: float = 0.5, beta: float = 0.0,
                 unk_score_offset: float = -10.0) -> None:
        self.ngram, self.alpha, self.beta, self.unk_score_offset = ngram, alpha, beta, unk_score_offset
        self._sorted = sorted(words)

    @property
    def order(self) -> int:
        return self.ngram.order

    def reset_params(self, **params) -> None:
        for key in ("alpha", "beta", "unk_score_offset"):
            if params.get(key) is not None:
                setattr(self, key, params[key])

    def get_start_state(self) -> tuple[str, ...]:
        return ("<s>",)

    def score_partial_token(self, partial_token: str) -> float:
        return partial_token_score(self._sorted, partial_token, self.unk_score_offset)

    def score(self, prev_state: tuple[str, ...], word: str, is_last_word: bool = False):
        lp = self.ngram.logprob(word, prev_state)
        if lp == OOV_LOGPROB:
            lp += self.unk_score_offset * LN10
        state = (*prev_state, word)[-(self.ngram.order - 1):]
        if is_last_word:
            lp += self.ngram.logprob("</s>", state)
        return self.alpha * lp + self.beta, state


class LikeWordPyctcdecodeLM(PyctcdecodeLM):
    """A :class:`PyctcdecodeLM` scoring each contact name as its like-word (``alias``: ``{name: like-word}``)."""

    def __init__(self, model, vocab, alias: dict[str, str], **params) -> None:
        super().__init__(model, vocab, **params)
        self.alias = alias
        self._sorted = sorted(self._sorted + list(alias))

    def score(self, prev_state, word: str, is_last_word: bool = False):
        return super().score(prev_state, self.alias.get(word, word), is_last_word)


def systems(demo: Path, contacts: dict[str, str], like_of: dict[str, str]) -> dict[str, BeamSearchDecoderCTC]:
    """``{system: decoder}``, beta 0, alpha set per run with ``reset_params``."""
    alphabet = Alphabet.build_alphabet(LABELS)
    lightrnn = load_checkpoint(demo / "exp" / "lm" / "lightrnn" / "best.pt")
    adaptive = load_checkpoint(demo / "exp" / "lm" / "adaptive" / "best.pt")
    ngram = NgramLM(get_model_path("en-us/en-us.lm.bin"), oov_logprob=OOV_LOGPROB)
    known = list(lightrnn.vocab.words[3:])
    like = {n: like_of[c] for n, c in contacts.items()}
    return {
        "no LM": BeamSearchDecoderCTC(alphabet),
        "first-pass trigram": BeamSearchDecoderCTC(alphabet, language_model=NgramPyctcdecodeLM(ngram, known)),
        "LightRNN (names as <unk>)": BeamSearchDecoderCTC(
            alphabet, language_model=PyctcdecodeLM(lightrnn.model, lightrnn.vocab, beta=0.0)),
        REFERENCE: build_pyctcdecoder(LABELS, lightrnn.model, lightrnn.vocab, lightrnn.table, names=list(contacts),
                                      like=like, beta=0.0)[0],
        "LSTM (adaptive softmax) (names as <unk>)": BeamSearchDecoderCTC(
            alphabet, language_model=PyctcdecodeLM(adaptive.model, adaptive.vocab, beta=0.0)),
        "LSTM (adaptive softmax) (names as the like-word)": BeamSearchDecoderCTC(
            alphabet, language_model=LikeWordPyctcdecodeLM(adaptive.model, adaptive.vocab,
                                                           {n: w for n, w in like.items() if n not in adaptive.vocab},
                                                           beta=0.0)),
    }


def decode(decoder, ems, beam: int, hotwords: list[str], weight: float | None) -> tuple[dict[str, list[str]], float]:
    kw = {} if weight is None else {"hotwords": hotwords, "hotword_weight": weight}
    with timed() as t:
        out = {u: decoder.decode(em.numpy(), beam_width=beam, **kw).split() for u, (em, _) in ems.items()}
    return out, t.seconds


def main() -> None:
    args = fusion_arguments(__doc__, dev_limit=40, names=True)
    contacts, like_of = contact_list(args.demo)
    table = systems(args.demo, contacts, like_of)
    vocab_words = [w for w in load_checkpoint(args.demo / "exp" / "lm" / "lightrnn" / "best.pt").vocab.words[3:]
                   if w not in contacts]
    sets, ems, alike, decoy = names_inputs(args, contacts, vocab_words, LABELS, "", " ")
    common = {"benchmark": "ctc_pyctcdecode_names", "decoder": "pyctcdecode BeamSearchDecoderCTC", "beam": args.beam,
              "contacts": len(contacts), "contacts_with_a_sound_alike": len(alike), "lean": args.lean,
              "decoys": args.decoys, "decoy_words": len(decoy), "unk_score_offset": -10.0, "threads": args.threads}
    names, hotwords, hyps, rows = set(contacts), list(contacts), {}, {}
    for system, decoder in table.items():
        dev = {}
        for alpha in ([None] if system == "no LM" else ALPHAS):
            if alpha is not None:
                decoder.reset_params(alpha=alpha, beta=0.0)
            for weight in HOTWORD_WEIGHTS:
                out, secs = decode(decoder, ems["dev"], args.beam, hotwords, weight)
                dev[(alpha, weight)] = compute_wer(sets["dev"], out).wer
                emit({**common, "split": "dev", "system": system, "sentences": len(out), "alpha": alpha,
                      "hotword_weight": weight, "wer": dev[(alpha, weight)], "seconds": secs}, args.out)
        chosen = min(dev, key=lambda k: (dev[k], k[0] or 0.0, k[1] or 0.0))
        if chosen[0] is not None:
            decoder.reset_params(alpha=chosen[0], beta=0.0)
        refs = sets["test"]
        hyps[system], secs = decode(decoder, ems["test"], args.beam, hotwords, chosen[1])
        rows[system] = {**common, "split": "test", "system": system, "reference": REFERENCE,
                        "alpha": chosen[0], "hotword_weight": chosen[1],
                        "grid": {"alpha": ALPHAS if chosen[0] is not None else None, "hotword_weight": HOTWORD_WEIGHTS},
                        "dev_wer": dev[chosen], **names_scores(refs, hyps[system], names), "seconds": secs}
    against_reference(rows, hyps, sets["test"], names, REFERENCE)
    for row in rows.values():
        emit(row, args.out)


if __name__ == "__main__":
    main()
