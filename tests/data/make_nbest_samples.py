"""Cut the real N-best samples with first-pass trigram scores out of the pocketsphinx recipe's output.

    python tests/data/make_nbest_samples.py recipes/pocketsphinx

Writes ``asterisk_dev_trigram.nbest`` / ``.ref`` and ``synthetic_dev_trigram.nbest`` / ``.ref`` here:
the first 50 utterances (by sorted id) of the recipe's Asterisk and synthetic dev sets, the first 20
hypotheses of each list (the lists are ranked by acoustic score + trigram), with the recipe's
acoustic score and pocketsphinx's trigram log-probability (the N-best format's lm_score).
"""

import sys
from pathlib import Path

from lightrnn_asr import read_nbest, read_text

UTTERANCES, HYPOTHESES = 50, 20


def main() -> None:
    recipe, here = Path(sys.argv[1]), Path(__file__).parent
    for s in ("asterisk", "synthetic"):
        nbest = read_nbest(recipe / "exp" / "decode" / f"{s}_dev" / "nbest.txt")
        refs = read_text(recipe / "data" / f"{s}_dev" / "text")
        utts = sorted(nbest)[:UTTERANCES]
        with open(here / f"{s}_dev_trigram.nbest", "w", encoding="utf-8") as f:
            for u in utts:
                for h in nbest[u][:HYPOTHESES]:
                    f.write(f"{u}\t{h.am:.4f}\t{h.fp_lm:.4f}\t{' '.join(h.words)}\n")
        with open(here / f"{s}_dev_trigram.ref", "w", encoding="utf-8") as f:
            for u in utts:
                f.write(" ".join([u, *refs[u]]) + "\n")


if __name__ == "__main__":
    main()
