#!/usr/bin/env python3
"""The recognizer's lexicon as a word list: every word pocketsphinx's first pass can output.

pocketsphinx outputs a word only when its dictionary (CMUdict, ``en-us/cmudict-en-us.dict``) has a
pronunciation for it and its trigram (``en-us/en-us.lm.bin``) has it as a unigram (a word the trigram
lacks gets the ``<unk>`` probability and never wins). Those words, in the LM text's normal form
(lower case, no pronunciation-variant suffix such as ``(2)``), one per line, are what an ASR engineer
puts in a rescoring LM's vocabulary so that no hypothesis word is out of its vocabulary
(``lightrnn-asr train --word-list``). Names and places the LM text lacks are among them.

    python local/lexicon.py --out data/lm/lexicon.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pocketsphinx import NGramModel, get_model_path

from lightrnn_asr.text.normalize import normalize_text


def first_pass_words() -> tuple[list[str], dict]:
    """The words pocketsphinx's first pass can output, in the LM text's normal form (sorted), and counts
    of what was left out."""
    spoken = set()
    for line in open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8"):
        if line.strip():
            spoken.add(line.split()[0].split("(")[0])
    trigram = NGramModel.readfile(get_model_path("en-us/en-us.lm.bin"))
    unknown = trigram.prob(["<unk>"])
    in_trigram = {w for w in spoken if trigram.prob([w]) > unknown}
    words, changed = set(), 0
    for w in in_trigram:
        norm = normalize_text(w).split()
        if len(norm) == 1:  # "a.m." -> "a m": two words of the text, not one of the vocabulary
            words.add(norm[0])
        else:
            changed += 1
    return sorted(words), {"dictionary": len(spoken), "in_trigram": len(in_trigram),
                           "not_one_word_normalised": changed, "words": len(words)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    words, counts = first_pass_words()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(w + "\n" for w in words), encoding="utf-8")
    print(f"{args.out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
