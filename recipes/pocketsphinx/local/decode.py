#!/usr/bin/env python3
"""Decode a lhotse CutSet with pocketsphinx 5 (its bundled US English acoustic model,
CMUdict and trigram LM): write the first-pass 1-best as Kaldi text and one HTK SLF
lattice per utterance.

Outputs in OUT: text (normalised 1-best), lattices/<utt>.slf, rtf.txt (real-time factor).

Every utterance gets a decoder of its own: a pocketsphinx ``Decoder`` reused across utterances gives
an utterance another lattice after it has decoded others (its search state carries over; resetting
the cepstral mean with ``set_cmn`` and turning noise removal off do not stop it:
benchmarks/reliability/decoder_carryover.py, docs/bench/decoder_carryover.jsonl), so the
lattices would depend on how utterances are spread over the jobs. The models are loaded once, into a
decoder that never decodes; each utterance is decoded in a process forked from it (a copy of that
untouched decoder, without the model loading a new ``Decoder`` costs), so the lattices are those of a
fresh decoder, the same whatever the order or the number of jobs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np
from lhotse import CutSet

from lightrnn_asr.text.normalize import normalize_text, strip_variant


def new_decoder():
    """A pocketsphinx decoder with its bundled US English models (16 kHz, lattices kept)."""
    from pocketsphinx import Decoder

    return Decoder(samprate=16000, bestpath=True, loglevel="FATAL")


# the untouched decoder each forked job decodes with (set by decode_all before it forks)
_PRISTINE = None


def decode_utterance(samples: np.ndarray, lattice_path: str | Path, decoder=None) -> tuple[list[str], float]:
    """Decode one utterance (float samples in [-1, 1], 16 kHz) with ``decoder``, a decoder that has decoded
    nothing yet (a new one when None); write its HTK lattice to ``lattice_path``. Returns the 1-best
    words (pronunciation variants stripped) and the decoding seconds (model loading included when the
    decoder is made here)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    t0 = time.perf_counter()
    decoder = decoder if decoder is not None else new_decoder()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    words = [strip_variant(w) for w in (hyp.hypstr.split() if hyp is not None else [])]
    lat = decoder.get_lattice()
    if lat is not None:
        lat.write_htk(str(lattice_path))
    return words, time.perf_counter() - t0


def _decode(job: tuple[str, np.ndarray, str]) -> tuple[str, str, float]:
    utt, samples, lattice_path = job
    words, seconds = decode_utterance(samples, lattice_path, _PRISTINE)
    return utt, normalize_text(" ".join(words)), seconds


def decode_all(jobs: list[tuple[str, np.ndarray, str]], nj: int) -> list[tuple[str, str, float]]:
    """Decode every ``(utterance id, samples, lattice path)`` job, ``nj`` at a time, each in a process
    forked from one untouched decoder and used for that job only (POSIX ``fork``). Returns
    ``(utterance id, normalised 1-best, decoding seconds)`` per job, in the jobs' order."""
    global _PRISTINE
    _PRISTINE = new_decoder()
    try:
        with multiprocessing.get_context("fork").Pool(nj, maxtasksperchild=1) as pool:
            return pool.map(_decode, jobs, chunksize=1)
    finally:
        _PRISTINE = None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cuts", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--nj", type=int, default=2)
    args = ap.parse_args()
    lat_dir = args.out / "lattices"
    lat_dir.mkdir(parents=True, exist_ok=True)
    cuts = CutSet.from_file(args.cuts)
    jobs = []
    audio_sec = 0.0
    for cut in cuts:
        audio = cut.load_audio()[0]
        audio_sec += cut.duration
        jobs.append((cut.supervisions[0].id, audio, str(lat_dir / f"{cut.supervisions[0].id}.slf")))
    start = time.perf_counter()
    results = decode_all(jobs, args.nj)
    wall = time.perf_counter() - start
    cpu = sum(r[2] for r in results)
    missing = [utt for utt, _, _ in jobs if not Path(lat_dir / f"{utt}.slf").exists()]
    with open(args.out / "text", "w", encoding="utf-8") as f:
        for utt, hyp, _ in results:
            f.write(f"{utt} {hyp}".rstrip() + "\n")
    (args.out / "rtf.txt").write_text(
        f"utterances {len(jobs)} audio_s {audio_sec:.1f} cpu_s {cpu:.1f} wall_s {wall:.1f} "
        f"rtf_per_core {cpu / max(audio_sec, 1e-9):.3f} jobs {args.nj} lattices_missing {len(missing)}\n")
    print(f"{args.cuts.name}: {len(jobs)} utterances, {audio_sec:.0f} s audio, RTF {cpu / audio_sec:.2f} per core, "
          f"{wall:.0f} s wall")
    if missing:
        raise SystemExit(f"no lattice for {len(missing)} utterances (e.g. {missing[0]})")


if __name__ == "__main__":
    main()
