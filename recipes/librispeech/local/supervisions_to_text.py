#!/usr/bin/env python3
"""Kaldi ``text`` files from lhotse's LibriSpeech supervision manifests, normalised like the LM text.

    python local/supervisions_to_text.py data/manifests data dev-clean dev-other test-clean test-other

Writes ``DATA/<part>/text`` (``utt_id words``, through ``lightrnn_asr.text.normalize_text``:
lower case, apostrophes kept) for every part, reading
``MANIFESTS/librispeech_supervisions_<part>.jsonl.gz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lhotse import load_manifest

from lightrnn_asr.formats.nbest import write_text
from lightrnn_asr.text.normalize import normalize_text


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    manifests, data, parts = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    for part in parts:
        path = manifests / f"librispeech_supervisions_{part}.jsonl.gz"
        if not path.is_file():
            sys.exit(f"{path}: no supervision manifest (run stage 0)")
        sups = load_manifest(path)
        text = {s.id: normalize_text(s.text).split() for s in sorted(sups, key=lambda s: s.id)}
        (data / part).mkdir(parents=True, exist_ok=True)
        write_text(data / part / "text", text)
        print(f"{data / part / 'text'}: {len(text)} utterances, {sum(map(len, text.values()))} words")


if __name__ == "__main__":
    main()
