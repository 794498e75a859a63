#!/usr/bin/env python3
"""Does a reused pocketsphinx decoder give an utterance another lattice after decoding others? For each
way of resetting it between utterances (none, the cepstral mean via ``set_cmn``, ``cmn=none`` with noise
removal off, a fresh decoder), decode a real Asterisk prompt alone and after two others
(tests/data) and compare the lattice bytes; also the seconds a new decoder costs.

    python benchmarks/reliability/decoder_carryover.py --out docs/bench/decoder_carryover.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import emit
from pocketsphinx import Decoder

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
PROMPTS = ("do-not-disturb", "confbridge-has-joined", "queue-thankyou")  # the last one is compared


def lattice_digest(decoder: Decoder, pcm: bytes, cmn: str | None) -> str:
    if cmn is not None:
        decoder.set_cmn(cmn)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    with tempfile.NamedTemporaryFile(suffix=".slf") as f:
        decoder.get_lattice().write_htk(f.name)
        return hashlib.sha256(Path(f.name).read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/bench/decoder_carryover.jsonl"))
    args = ap.parse_args()
    pcm = {p: soundfile.read(DATA / f"asterisk-{p}.wav", dtype="int16")[0].tobytes() for p in PROMPTS}
    ways = {"reused": ({}, False), "reused, set_cmn to the initial mean": ({}, True),
            "reused, cmn=none, remove_noise=False": ({"cmn": "none", "remove_noise": False}, True)}
    for name, (config, reset) in ways.items():
        fresh = Decoder(samprate=16000, bestpath=True, loglevel="FATAL", **config)
        initial = fresh.get_cmn(False) if reset else None
        alone = lattice_digest(fresh, pcm[PROMPTS[-1]], initial)
        reused = Decoder(samprate=16000, bestpath=True, loglevel="FATAL", **config)
        for p in PROMPTS[:-1]:
            lattice_digest(reused, pcm[p], initial)
        after = lattice_digest(reused, pcm[PROMPTS[-1]], initial)
        emit({"benchmark": "decoder_carryover", "way": name, "same_lattice_alone_and_after_others": alone == after}, args.out)
    digests, seconds = set(), []
    for _ in range(3):  # a fresh decoder per utterance, whatever came before
        t0 = time.perf_counter()
        d = Decoder(samprate=16000, bestpath=True, loglevel="FATAL")
        seconds.append(time.perf_counter() - t0)
        digests.add(lattice_digest(d, pcm[PROMPTS[-1]], None))
    emit({"benchmark": "decoder_carryover", "way": "fresh decoder per utterance",
          "same_lattice_alone_and_after_others": len(digests) == 1, "new_decoder_seconds": seconds}, args.out)


if __name__ == "__main__":
    main()
