"""Emissions for measuring shallow fusion without an acoustic model: CTC log-probabilities built from
real text, where words that have a homophone of the same length (CMUdict) lean acoustically to it, so
that only an LM's context can settle them (``ctc_fusion.py``, ``ctc_pyctcdecode.py``)."""

from __future__ import annotations

import numpy as np
import torch


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
              boundary: str) -> tuple[torch.Tensor, int]:
    """CTC log-probabilities ``(T, len(tokens))`` float32 and the number of confused words: per letter a
    frame (0.98 on it, or 0.52 on the homophone's letter and 0.46 on it where they differ) and a ``blank``
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
            probs = {ch: 0.98} if wrong is None or wrong[i] == ch else {wrong[i]: 0.52, ch: 0.46}
            frames += [frame({c: v for c, v in probs.items() if c in tokens}), frame({blank: 0.98})]
        frames.append(frame({boundary: 0.98}))
    return torch.from_numpy(np.stack(frames).astype(np.float32)).contiguous(), n
