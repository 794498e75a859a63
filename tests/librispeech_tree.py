"""A small directory tree with LibriSpeech's real layout and formats, built for the recipe tests.

LibriSpeech (OpenSLR 12): ``LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``
(16 kHz mono FLAC) and one ``<speaker>-<chapter>.trans.txt`` per chapter, lines
``<speaker>-<chapter>-<utt> UPPER CASE WORDS``; the LM text ``librispeech-lm-norm.txt`` has one
upper-case sentence per line, apostrophes kept, no other punctuation (OpenSLR 11).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import soundfile

PARTS = ("dev-clean", "dev-other", "test-clean", "test-other")
SUBJECTS = ["THE OLD MAN", "MY FRIEND", "THE CAPTAIN", "HIS SISTER", "A STRANGER"]
VERBS = ["SAW", "FOLLOWED", "CALLED", "DIDN'T SEE", "WATCHED"]
OBJECTS = ["THE SHIP", "THE RIVER", "HER BROTHER", "THE HOUSE", "A LIGHT"]
TAILS = ["AT NIGHT", "AGAIN", "IN THE MORNING", ""]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS)]
    return " ".join(w for w in words if w)


def build(root: Path, seed: int = 0, lm_sentences: int = 400) -> dict[str, dict[str, str]]:
    """Write ``root/LibriSpeech/...`` and ``root/librispeech-lm-norm.txt``; returns ``{part: {utt: text}}``."""
    rng = random.Random(seed)
    refs: dict[str, dict[str, str]] = {}
    speaker = 100
    for part in PARTS:
        refs[part] = {}
        for _ in range(2):  # speakers
            speaker += 1
            chapter = speaker * 10 + 1
            d = root / "LibriSpeech" / part / str(speaker) / str(chapter)
            d.mkdir(parents=True)
            lines = []
            for k in range(3):
                utt = f"{speaker}-{chapter}-{k:04d}"
                text = sentence(rng)
                audio = 0.01 * np.random.default_rng(speaker * 100 + k).standard_normal(16000 // 4)
                soundfile.write(d / f"{utt}.flac", audio.astype(np.float32), 16000, format="FLAC")
                lines.append(f"{utt} {text}")
                refs[part][utt] = text
            (d / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    (root / "librispeech-lm-norm.txt").write_text("\n".join(sentence(rng) for _ in range(lm_sentences)) + "\n")
    return refs
