#!/usr/bin/env python3
"""N-best lists with their words normalised like the LM text and references (lower case).

    python local/normalize_nbest.py IN.nbest OUT.nbest

First-pass systems trained on LibriSpeech write upper-case words; the LM and the references
use ``lightrnn_asr.text.normalize_text``. Streams the file an utterance at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lightrnn_asr.formats.nbest import Hypothesis, iter_nbest, nbest_line
from lightrnn_asr.text.normalize import normalize_text


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    tmp = dst.with_name(dst.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for utt, hyps in iter_nbest(src):
            for h in hyps:
                words = tuple(normalize_text(" ".join(h.words)).split())
                f.write(nbest_line(utt, Hypothesis(words, h.am, h.fp_lm), h.fp_lm is not None))
            n += 1
    tmp.replace(dst)
    print(f"{dst}: {n} utterances")


if __name__ == "__main__":
    main()
