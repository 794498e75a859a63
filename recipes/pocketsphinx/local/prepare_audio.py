#!/usr/bin/env python3
"""Build the evaluation sets as lhotse manifests, split into dev and test halves.

Sets (all 16 kHz, mono, 16-bit):
  librivox   real read speech: 5 LibriVox utterances of *Sense and Sensibility*
             (Debian package pocketsphinx-testdata).
  asterisk   real prompts, one female speaker, CC-BY-SA-3.0 (Debian packages
             asterisk-core-sounds-en{,-g722}); G.722 decoded with the PyPI `g722` codec.
  synthetic  SYNTHETIC speech: flite voices reading sentences of *Sense and Sensibility*,
             which is held out of LM training. Dev reads sentences of the novel's dev chapters,
             test sentences of its test chapters (prepare_text.novel_halves);
             dev has the voices rms, slt and awb in turn, test those three and kal16,
             a voice that dev never has (so the test also measures how scales tuned on
             dev transfer to a speaker the tuning never heard).

The real sets are split by sorted utterance id: even positions -> dev (scale tuning),
odd positions -> test (reported). Writes, per set and split,
data/manifests/{set}_{split}_{recordings,supervisions,cuts}.jsonl.gz and
data/{set}_{split}/text (Kaldi text, normalised).
"""

from __future__ import annotations

import argparse
import array
import gzip
import random
import re
import subprocess
import sys
import wave
from pathlib import Path

from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from lightrnn_asr.text.normalize import normalize_text, split_sentences

sys.path.insert(0, str(Path(__file__).parent))
from prepare_text import novel_halves  # noqa: E402

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en")
ASTERISK_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
DEV_VOICES = ("rms", "slt", "awb")
TEST_VOICES = ("rms", "slt", "awb", "kal16")  # kal16: test only


def write_wav(path: Path, samples: bytes, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)


def librivox(wav_dir: Path) -> list[tuple[str, Path, str, str]]:
    out = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((\S+)\)", line.strip())
        if m:
            out.append((f"librivox-{m.group(2)}", LIBRIVOX / f"{m.group(2)}.wav", m.group(1), "librivox-austen"))
    return out


def asterisk(wav_dir: Path) -> list[tuple[str, Path, str, str]]:
    import G722

    codec = G722.G722(16000, 64000)
    out = []
    with gzip.open(ASTERISK_TEXT, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            name, sep, text = line.partition(":")
            name, text = name.strip(), text.strip()
            if not sep or line.startswith(";") or not text or text.startswith("["):
                continue  # comments, tones and other non-speech prompts
            src = ASTERISK_SOUNDS / f"{name}.g722"
            if not src.is_file():
                continue
            wav = wav_dir / f"{name.replace('/', '_')}.wav"
            if not wav.exists():
                pcm = array.array("h", codec.decode(src.read_bytes()))
                write_wav(wav, pcm.tobytes())
            out.append((f"asterisk-{name.replace('/', '_')}", wav, text, "asterisk-allison"))
    return out


def synthetic(wav_dir: Path, heldout_raw: Path, n_dev: int, n_test: int, seed: int) -> dict[str, list]:
    """``{"dev": items, "test": items}``: ``n_dev`` distinct sentences of 6-20 words of the held-out
    novel's dev chapters and ``n_test`` of its test chapters (:func:`prepare_text.novel_halves`)."""
    out = {}
    rng = random.Random(seed)
    for split, n, voices in (("dev", n_dev, DEV_VOICES), ("test", n_test, TEST_VOICES)):
        text = novel_halves(heldout_raw)[split]
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        sentences = [s for p in paragraphs for s in split_sentences(p) if 6 <= len(normalize_text(s).split()) <= 20]
        out[split] = synthesize(wav_dir, f"synthetic-{split}", rng.sample(sorted(set(sentences)), n), voices)
    return out


def synthesize(wav_dir: Path, prefix: str, sentences: list[str], voices: tuple[str, ...]) -> list[tuple]:
    """flite reads ``sentences``, voices in turn: items ``(utt, wav, text, speaker)``, ids
    ``{prefix}-{voice}-NNNN``; a wav already there is kept."""
    items = []
    for i, sent in enumerate(sentences):
        voice = voices[i % len(voices)]
        utt = f"{prefix}-{voice}-{i:04d}"
        wav = wav_dir / f"{utt}.wav"
        if not wav.exists():
            subprocess.run(["flite", "-voice", voice, "-t", sent, "-o", str(wav)], check=True)
        items.append((utt, wav, sent, f"flite-{voice}"))
    return items


def write_set(name: str, items: list[tuple[str, Path, str, str]] | dict[str, list], data_dir: Path) -> None:
    """Manifests and Kaldi text of a set: ``items`` split by the given dict, or even/odd positions of sorted ids."""
    if not isinstance(items, dict):
        items = sorted(items)
        items = {"dev": items[0::2], "test": items[1::2]}
    for split, part in items.items():
        recs, sups = [], []
        for utt, wav, text, speaker in part:
            norm = normalize_text(text)
            if not norm:
                continue
            rec = Recording.from_file(wav, recording_id=utt)
            recs.append(rec)
            sups.append(SupervisionSegment(id=utt, recording_id=utt, start=0.0, duration=rec.duration,
                                           channel=0, text=norm, language="English", speaker=speaker))
        rs, ss = RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)
        man = data_dir / "manifests"
        man.mkdir(parents=True, exist_ok=True)
        rs.to_file(man / f"{name}_{split}_recordings.jsonl.gz")
        ss.to_file(man / f"{name}_{split}_supervisions.jsonl.gz")
        CutSet.from_manifests(recordings=rs, supervisions=ss).to_file(man / f"{name}_{split}_cuts.jsonl.gz")
        d = data_dir / f"{name}_{split}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "text").write_text("".join(f"{s.id} {s.text}\n" for s in sups), encoding="utf-8")
        hours = sum(r.duration for r in recs) / 60
        print(f"{name}_{split}: {len(sups)} utterances, {hours:.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--download", type=Path, required=True, help="where prepare_text.py put the raw books")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--num-synthetic-dev", type=int, default=160)
    ap.add_argument("--num-synthetic-test", type=int, default=400)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    wav_dir = args.data / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    write_set("librivox", librivox(wav_dir), args.data)
    write_set("asterisk", asterisk(wav_dir), args.data)
    write_set("synthetic", synthetic(wav_dir, args.download / "raw" / "heldout_sense_and_sensibility.txt",
                                     args.num_synthetic_dev, args.num_synthetic_test, args.seed), args.data)


if __name__ == "__main__":
    main()
