#!/usr/bin/env python3
"""Decode a lhotse CutSet with pocketsphinx 5 (its bundled US English acoustic model,
CMUdict and trigram LM): write the first-pass 1-best as Kaldi text and one HTK SLF
lattice per utterance.

Outputs in OUT: text (normalised 1-best), lattices/<utt>.slf, rtf.txt (real-time factor).
"""

from __future__ import annotations

import argparse
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from lhotse import CutSet

from lightrnn_asr.text.normalize import normalize_text, strip_variant

_decoder = None


def _init() -> None:
    global _decoder
    from pocketsphinx import Decoder

    _decoder = Decoder(samprate=16000, bestpath=True, loglevel="FATAL")


def _decode(job: tuple[str, np.ndarray, str]) -> tuple[str, str, float]:
    utt, samples, lattice_path = job
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    t0 = time.perf_counter()
    _decoder.start_utt()
    _decoder.process_raw(pcm, full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    words = [strip_variant(w) for w in (hyp.hypstr.split() if hyp is not None else [])]
    lat = _decoder.get_lattice()
    if lat is not None:
        lat.write_htk(lattice_path)
    return utt, normalize_text(" ".join(words)), time.perf_counter() - t0


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
    with Pool(args.nj, initializer=_init) as pool:
        results = pool.map(_decode, jobs, chunksize=1)
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
