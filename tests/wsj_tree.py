"""A small directory tree with WSJ's real LDC layout and formats, and a Kaldi system's N-best
archives over it, built for the recipe tests.

* WSJ0 (LDC93S6B) discs ``11-13.1`` (index files) and ``11-14.1`` (Nov'92 test audio), WSJ1
  (LDC94S13B) discs ``13-34.1`` (index files), ``13-16.1`` (dev audio) and ``13-32.1`` (LM text);
* index files: ``;`` comments, ``11_14_1:wsj0/si_et_20/440/440c0201`` lines (Nov'92 without
  ``.wv1``, dev93 with it);
* ``.wv1``: NIST SPHERE (1024-byte ``NIST_1A`` header); one file has a shorten-compressed
  header and a body that is not PCM, as most real ``.wv1`` files;
* ``.dot`` transcripts: mixed case, ``text (uttid)``, with WSJ's markup (``[loud_breath]``,
  ``[door_slam>]``, ``<and>`` verbal deletions, ``\\.`` escaped periods, ``.`` pauses, ``~``);
* LM text: ``np_data/{87,88,89}/*.z`` compressed with compress(1)'s LZW (written here, checked
  with ``gzip -dc``), SGML lines (``<art.870102-0001>``, ``<p>``, ``<s>``) around one sentence
  per line, ``Mr.`` abbreviations and sentence-final periods left in;
* Kaldi: ``words.txt`` and per test set and job the ``nbest-to-linear`` archives ``words.J``,
  ``lmcost.J``, ``accost.J`` keyed ``<utt>-<n>``.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import soundfile

SUBJECTS = ["THE COMPANY", "MR. SMITH", "THE BANK", "ANALYSTS", "THE FEDERAL RESERVE"]
VERBS = ["SAID", "EXPECTS", "REPORTED", "DIDN'T EXPECT", "ANNOUNCED"]
OBJECTS = ["HIGHER PROFITS", "A LOSS", "LOWER RATES", "THE MERGER", "NEW BONDS"]
TAILS = ["THIS YEAR", "IN JUNE", "AGAIN", ""]
SETS = {  # set: (corpus, disc of the audio, directory, speakers, session letter pair)
    "test_eval92": ("wsj0", "11-14.1", "wsj0/si_et_20", ["440", "441"], "c02"),
    "test_dev93": ("wsj1", "13-16.1", "wsj1/si_dt_20", ["4k0", "4k1"], "c03"),
}


def sentence(rng: random.Random) -> list[str]:
    words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS)]
    return " ".join(w for w in words if w).split()


def lzw_compress(data: bytes, max_bits: int = 16) -> bytes:
    """compress(1)'s ``.Z`` format: LZW in block mode, 9- to ``max_bits``-bit codes packed LSB first,
    each switch to a wider code padded to a whole group of 8 codes, as compress writes it."""
    out = bytearray(b"\x1f\x9d" + bytes([0x80 | max_bits]))
    acc = nacc = 0
    n_bits, maxcode, free_ent, count = 9, 511, 257, 0

    def emit(code: int, width: int) -> None:
        nonlocal acc, nacc
        acc |= code << nacc
        nacc += width
        while nacc >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nacc -= 8

    def output(code: int) -> None:
        nonlocal n_bits, maxcode, count
        emit(code, n_bits)
        count += 1
        if free_ent > maxcode and n_bits < max_bits:
            while count % 8:
                emit(0, n_bits)
                count += 1
            n_bits, count = n_bits + 1, 0
            maxcode = (1 << n_bits) - 1

    table: dict[tuple[int, int], int] = {}
    if not data:
        return bytes(out)
    ent = data[0]
    for c in data[1:]:
        if (ent, c) in table:
            ent = table[(ent, c)]
            continue
        output(ent)
        if free_ent < (1 << max_bits):
            table[(ent, c)] = free_ent
            free_ent += 1
        ent = c
    output(ent)
    if nacc:
        out.append(acc & 0xFF)
    return bytes(out)


def _mixed_case(words: list[str]) -> str:
    return " ".join(w.capitalize() if i == 0 else w.lower() for i, w in enumerate(words))


def _dot_text(words: list[str], rng: random.Random) -> str:
    """A WSJ .dot transcript of ``words`` with the corpus's markup; normalises back to ``words``
    (plus ``<NOISE>`` for a bracketed noise)."""
    text = _mixed_case(words).replace("mr.", "Mr\\.").replace("Mr.", "Mr\\.")
    toks = text.split()
    if rng.random() < 0.5:
        toks.insert(rng.randrange(len(toks)), "[loud_breath]")
    if rng.random() < 0.5:
        toks.insert(rng.randrange(len(toks) + 1), "[door_slam>]")
    if rng.random() < 0.3:
        toks.insert(rng.randrange(len(toks) + 1), ".")
    if "the" in toks:
        toks[toks.index("the")] = "<the>"
    return " ".join(toks + (["~"] if rng.random() < 0.2 else []))


def _sphere(path: Path, seconds: float, shorten: bool, rng: np.random.Generator) -> None:
    samples = int(16000 * seconds)
    if not shorten:
        soundfile.write(path, (3000 * rng.standard_normal(samples)).astype(np.int16), 16000, format="NIST",
                        subtype="PCM_16")
        return
    fields = ["database_id -s3 wsj", "utterance_id -s8 " + path.stem, "channel_count -i 1",
              f"sample_count -i {samples}", "sample_rate -i 16000", "sample_n_bytes -i 2",
              "sample_byte_format -s2 10", "sample_sig_bits -i 16", "sample_coding -s26 pcm,embedded-shorten-v2.00",
              "end_head"]
    head = ("NIST_1A\n   1024\n" + "\n".join(fields) + "\n").encode().ljust(1024, b" ")
    path.write_bytes(head + b"ajkq" + rng.bytes(2000))  # a shorten stream, not PCM


def build(root: Path, seed: int = 0, lm_sentences: int = 600) -> dict[str, dict[str, list[str]]]:
    """Write ``root/wsj0``, ``root/wsj1``; returns ``{set: {uttid: normalised reference words}}``
    (Kaldi's normalisation, noise markers removed)."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    refs: dict[str, dict[str, list[str]]] = {}
    ndx = {"test_eval92": ["; Nov'92 20K NVP test set index", ";"],
           "test_dev93": [";  Nov'93 Hub 1 development test, h1_p0"]}
    for name, (corpus, disc, sub, speakers, session) in SETS.items():
        refs[name] = {}
        for spk in speakers:
            d = root / corpus / disc / sub / spk
            d.mkdir(parents=True)
            dot = []
            for k in range(1, 4):
                utt = f"{spk}{session}{k:02d}"
                words = sentence(rng)
                _sphere(d / f"{utt}.wv1", 0.25 + 0.05 * k, shorten=(k == 2), rng=nrng)
                dot.append(f"{_dot_text(words, rng)} ({utt})")
                refs[name][utt] = words
                rel = f"{sub}/{spk}/{utt}"
                ndx[name].append(f"{disc.replace('-', '_').replace('.', '_')}:{rel}"
                                 + (".wv1" if name == "test_dev93" else ""))
            (d / f"{spk}{session}00.dot").write_text("\n".join(dot) + "\n")
    for name, path in (("test_eval92", "wsj0/11-13.1/wsj0/doc/indices/test/nvp/si_et_20.ndx"),
                       ("test_dev93", "wsj1/13-34.1/wsj1/doc/indices/h1_p0.ndx")):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("\n".join(ndx[name]) + "\n")
    np_data = root / "wsj1/13-32.1/wsj1/doc/lng_modl/lm_train/np_data"
    per_file = lm_sentences // 6
    for year in ("87", "88", "89"):
        for part in range(2):
            lines = []
            for a in range(per_file // 5):
                lines.append(f"<art.{year}0{part + 1}02-{a:04d}>")
                lines.append("<p>")
                for _ in range(5):  # sentence-final periods as NAB leaves them
                    lines += ["<s>", _mixed_case(sentence(rng)) + ".", "</s>"]
                lines.append("</p>")
                lines.append("</art>")
            (np_data / year).mkdir(parents=True, exist_ok=True)
            (np_data / year / f"{year}0{part + 1}02.z").write_bytes(lzw_compress(("\n".join(lines) + "\n").encode()))
    return refs


def write_kaldi_nbest(refs: dict[str, dict[str, list[str]]], out: Path, confusions: dict[str, str],
                      acwt: float = 0.1, jobs: int = 2) -> dict[str, int]:
    """Kaldi ``words.txt`` and per set ``words.J``/``lmcost.J``/``accost.J`` archives of N-best lists in
    which the first pass (acwt x acoustic + graph cost) prefers a confusable word the LM text never has.
    Returns the symbol table."""
    rng = random.Random(1)
    vocab = sorted({w for utts in refs.values() for ws in utts.values() for w in ws} | set(confusions.values())
                   | {"<NOISE>", "<SPOKEN_NOISE>", "<UNK>"})
    ids = {w: i for i, w in enumerate(["<eps>", *vocab], 0)}
    out.mkdir(parents=True)
    (out / "words.txt").write_text("".join(f"{w} {i}\n" for w, i in ids.items()) + f"#0 {len(ids)}\n")
    for name, utts in refs.items():
        (out / name).mkdir()
        files = {(kind, j): [] for kind in ("words", "lmcost", "accost") for j in range(1, jobs + 1)}
        for u, (utt, words) in enumerate(sorted(utts.items())):
            j = 1 + u * jobs // len(utts)
            wrong = [confusions.get(w, w) for w in words]
            hyps = [(wrong, 1000.0, 20.0), (words + ["<NOISE>"], 1010.0, 20.5), (words[:-1], 1040.0, 19.0)]
            if wrong == words:
                hyps = hyps[1:]
            hyps.sort(key=lambda h: acwt * h[1] + h[2])  # Kaldi writes each list best first
            for n, (ws, ac, lm) in enumerate(hyps, 1):
                files[("words", j)].append(f"{utt}-{n} " + " ".join(str(ids[w]) for w in ws) + " ")
                files[("lmcost", j)].append(f"{utt}-{n} {lm + rng.uniform(0, 1e-3):.4f}")
                files[("accost", j)].append(f"{utt}-{n} {ac:.3f}")
        for (kind, j), lines in files.items():
            (out / name / f"{kind}.{j}").write_text("\n".join(lines) + "\n")
    return ids
