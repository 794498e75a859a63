#!/usr/bin/env python3
"""Contact names in word-level shallow fusion, measured: flashlight-text's lexicon decoder (torchaudio's
``ctc_decoder``) over the demo's name-rich sentences, where every contact name leans acoustically to a word
the LM knows, so that the decoder writes the name only when its LM gives the name its due.

The sentences are the demo's name-rich set (``data/names_{dev,test}/text``: contact commands and held-out
novel sentences, each with a name of the contact list, ``data/names/words.txt``, that the LM text lacks). No
acoustic model can be downloaded here, so the emissions are built from the text as in ``ctc_fusion.py`` (one
frame per letter, a blank after it, a boundary after each word); a contact name's letters lean (``--lean``:
0.52 against 0.46 by default, as the homophones of ``ctc_fusion.py``) to those of its sound-alike: the LM
vocabulary's word of the same length with the fewest other letters (the most frequent among equals), so that
the acoustics alone write the sound-alike. The decoder's lexicon is the LM vocabulary and the contact list:
every system can write a name. With ``--decoys``, as many name-free sentences (the demo's synthetic dev and
test sentences) are added, in which every word one letter from a contact name leans to that name: there,
writing a name is an error (a false name), so that a bonus for names has a cost.

Systems: no LM; the first pass's trigram (pocketsphinx's en-us, as in ``ctc_fusion.py``; a name it lacks
scores ``OOV_LOGPROB``); each of the demo's word LMs knowing the names the ways the demo's recipe gives them
(``recipes/pocketsphinx/local/evaluate.py``): the LightRNN with ``add_words`` (each name in a free cell, its
row copied from a like-word of its class) and as ``<unk>``; the adaptive-softmax LSTM scoring a name as its
like-word and as ``<unk>`` (the LM's whole ``<unk>`` probability: the offset, which may be a penalty, plays
the part of flashlight's ``unk_score``). Every LM system gets the same search on dev: its LM weight
(``LM_WEIGHTS``) x an offset in nats added per name (``NAME_OFFSETS``), then decodes the test sentences once.
Reported per system: WER [95% CI], name error rate [95% CI] (``lightrnn_asr.evaluation.names``), decoding
seconds, and P(LightRNN + add-words makes fewer name errors) against every other system.

    python benchmarks/quality/ctc_fusion_names.py --demo recipes/pocketsphinx --decoys --out docs/bench/ctc_fusion_names.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

from ctc_emissions import OOV_LOGPROB, against_reference, contact_list, fusion_arguments, names_inputs, names_scores
from ctc_fusion import TOKENS, NgramFusionLM, build, decode
from flashlight.lib.text.decoder import (
    ZeroLM,
)
from pocketsphinx import get_model_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit

from lightrnn_asr.decoders.flashlight_lm import FlashlightLM, smearing_scores
from lightrnn_asr.evaluation.wer import compute_wer
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.ngram import NgramLM
from lightrnn_asr.training.openvocab import add_words

#: The LM weights and the per-name offsets (nats; negative: a penalty) every LM system is tried with on dev
#: (0.25 added when bests at lean 0.75 sat on 0.5, the first grid's edge).
LM_WEIGHTS = [0.25, 0.5, 1.0, 2.0]
NAME_OFFSETS = [-8.0, -4.0, 0.0, 4.0, 8.0, 16.0]
REFERENCE = "LightRNN + add-words"


class NamesFusionLM(FlashlightLM):
    """A :class:`FlashlightLM` whose decoder dictionary also holds the contact names: dictionary index
    ``i`` is scored as LM word ``lm_id[i]`` (the name itself, its like-word, or ``<unk>``), plus
    ``offset`` nats when ``i`` is a contact name."""

    def __init__(self, model, vocab, lm_id: list[int], name_ids: set[int], offset: float) -> None:
        super().__init__(model, vocab)
        self.lm_id, self.name_ids, self.offset = lm_id, name_ids, offset

    def score(self, state, usr_token_idx: int):
        child, logprob = super().score(state, self.lm_id[usr_token_idx])
        return child, logprob + (self.offset if usr_token_idx in self.name_ids else 0.0)


class NamesNgramFusionLM(NgramFusionLM):
    """The first pass's n-gram in fusion (:class:`NgramFusionLM`) with ``offset`` nats added to every contact
    name (dictionary indices ``name_ids``): a name the n-gram has scores as itself, one it lacks as
    ``OOV_LOGPROB``."""

    def __init__(self, ngram: NgramLM, words: list[str], name_ids: set[int], offset: float) -> None:
        super().__init__(ngram, words)
        self.name_ids, self.offset = name_ids, offset

    def score(self, state, usr_token_idx: int):
        child, logprob = super().score(state, usr_token_idx)
        return child, logprob + (self.offset if usr_token_idx in self.name_ids else 0.0)


def systems(demo: Path, contacts: dict[str, str], like_of: dict[str, str]) -> dict[str, tuple]:
    """``{system: (make_lm(offset) or None, dictionary words, smearing scores, unk id)}``: the dictionary is the
    LM's vocabulary and the contact names it lacks (trie scores: the rarest word's), each index scored as the
    LM word ``lm_id[index]``."""
    lms = {"LightRNN": load_checkpoint(demo / "exp" / "lm" / "lightrnn" / "best.pt"),
           "LSTM (adaptive softmax)": load_checkpoint(demo / "exp" / "lm" / "adaptive" / "best.pt")}
    names = list(contacts)

    def dictionary(vocab):
        words = list(vocab.words) + [n for n in names if n not in vocab]
        smear = smearing_scores(vocab)
        return words, smear + [min(smear)] * (len(words) - len(vocab))

    def system(model, vocab, lm_id):
        words, smear = dictionary(vocab)
        name_ids = {i for i, w in enumerate(words) if w in contacts}
        return (lambda offset: NamesFusionLM(model, vocab, lm_id(words), name_ids, offset)), words, smear, vocab.unk_id

    out = {"no LM": (None, *dictionary(lms["LightRNN"].vocab), lms["LightRNN"].vocab.unk_id)}
    ngram, (words, smear) = NgramLM(get_model_path("en-us/en-us.lm.bin"), oov_logprob=OOV_LOGPROB), out["no LM"][1:3]
    name_ids = {i for i, w in enumerate(words) if w in contacts}
    out["first-pass trigram"] = (lambda offset: NamesNgramFusionLM(ngram, words, name_ids, offset), words, smear,
                                 lms["LightRNN"].vocab.unk_id)
    for label, ck in lms.items():
        vocab = ck.vocab
        unk = lambda words, v=vocab: [i if i < len(v) else v.unk_id for i in range(len(words))]  # noqa: E731
        out[f"{label} (names as <unk>)"] = system(ck.model, vocab, unk)
        if ck.model.config.model_type == "lightrnn":
            model, added, _, _ = add_words(ck.model, vocab, ck.table, names,
                                           like={n: like_of[c] for n, c in contacts.items()}, like_placement="copy-row")
            out[f"{label} + add-words"] = system(model, added, lambda words: list(range(len(words))))
        else:
            like = lambda words, v=vocab: [v.id(like_of[contacts[w]]) if w in contacts else i  # noqa: E731
                                           for i, w in enumerate(words)]
            out[f"{label} (names as the like-word)"] = system(ck.model, vocab, like)
    return out


def main() -> None:
    args = fusion_arguments(__doc__, dev_limit=40, names=True)
    contacts, like_of = contact_list(args.demo)
    table = systems(args.demo, contacts, like_of)
    sets, ems, alike, decoy = names_inputs(args, contacts, [w for w in table["no LM"][1][3:] if w not in contacts],
                                           TOKENS, "-", "|")
    common = {"benchmark": "ctc_fusion_names", "decoder": "flashlight-text LexiconDecoder", "beam": args.beam,
              "contacts": len(contacts), "contacts_with_a_sound_alike": len(alike), "lean": args.lean,
              "decoys": args.decoys, "decoy_words": len(decoy), "threads": args.threads}
    names, hyps, rows = set(contacts), {}, {}
    for system, (make_lm, words, smear, unk_id) in table.items():
        chosen, dev = (0.0, 0.0), {}
        if make_lm is not None:
            for offset in NAME_OFFSETS:
                for weight in LM_WEIGHTS:
                    out, secs = decode(build(make_lm(offset), words, smear, unk_id, weight, args.beam), words, ems["dev"])
                    dev[(weight, offset)] = compute_wer(sets["dev"], out).wer
                    emit({**common, "split": "dev", "system": system, "sentences": len(out), "lm_weight": weight,
                          "name_offset": offset, "wer": dev[(weight, offset)], "seconds": secs}, args.out)
            chosen = min(dev, key=lambda k: (dev[k], k[0], k[1]))
        lm = make_lm(chosen[1]) if make_lm is not None else ZeroLM()
        refs = sets["test"]
        hyps[system], secs = decode(build(lm, words, smear, unk_id, chosen[0], args.beam), words, ems["test"])
        rows[system] = {**common, "split": "test", "system": system, "reference": REFERENCE,
                        "lm_weight": chosen[0], "name_offset": chosen[1],
                        "grid": {"lm_weight": LM_WEIGHTS, "name_offset": NAME_OFFSETS} if dev else None,
                        "dev_wer": dev.get(chosen), **names_scores(refs, hyps[system], names), "seconds": secs}
    against_reference(rows, hyps, sets["test"], names, REFERENCE)
    for row in rows.values():
        emit(row, args.out)


if __name__ == "__main__":
    main()
