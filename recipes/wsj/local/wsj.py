#!/usr/bin/env python3
"""WSJ (LDC93S6B + LDC94S13B) for the recipe: lhotse manifests, references, NAB LM text.

    python local/wsj.py manifests --wsj0 DIR --wsj1 DIR --out data/manifests test_dev93 test_eval92
    python local/wsj.py refs data/manifests data test_dev93 test_eval92
    gzip -dc .../lng_modl/lm_train/np_data/{87,88,89}/*.z | python local/wsj.py nab --words words.txt > train.txt

lhotse has no WSJ recipe, so ``manifests`` builds the RecordingSet and SupervisionSet with
lhotse's own classes from the LDC layout, as Kaldi's ``wsj_data_prep.sh`` finds it:

* test sets from the LDC index files (``ndx``): ``test_eval92`` (Nov'92, 20K open vocabulary,
  non-verbalized punctuation: ``11-13.1/wsj0/doc/indices/test/nvp/si_et_20.ndx``) and
  ``test_dev93`` (``13-34.1/wsj1/doc/indices/h1_p0.ndx``); ndx lines are ``11_14_1:wsj0/si_et_20/
  440/440c0201`` (disc, path; ``.wv1`` implied), ``;`` starts a comment;
* audio: the ``.wv1`` SPHERE files. Only their 1024-byte NIST header is read (sample count and
  rate); the audio itself, usually shorten-compressed, is left to ``sph2pipe -f wav`` (the
  recording's source is that command), so no audio is decoded here;
* transcripts: every ``*.dot`` file on the discs, lines ``text (uttid)``, normalised as Kaldi's
  ``normalize_transcript.pl`` does: upper case, backslashes dropped, ``[noise]`` -> ``<NOISE>``,
  ``[<noise]``/``[noise>]``/``[noise/]``/``[/noise]``, ``~`` and ``.`` dropped, ``<word>`` ->
  ``word``, ``%PERCENT`` -> ``PERCENT``, ``.POINT`` -> ``POINT``, ``--DASH`` -> ``-DASH``.

``refs`` writes Kaldi ``text`` files without the noise markers (``<NOISE>``,
``<SPOKEN_NOISE>``), as Kaldi's WSJ scoring filters them.

``nab`` normalises the WSJ LM text (NAB '87-'89, ``wsj1/doc/lng_modl/lm_train/np_data``, read
through ``gzip -dc``, which reads its compress(1) ``.z`` files) as Kaldi's
``wsj_extend_dict.sh``: SGML lines (starting with ``<``) dropped, upper case, and a token ending in
a single ``.`` that is not a word of ``words.txt`` is a sentence end (the period is cut and a new
line starts). One sentence per line on stdout.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lhotse import AudioSource, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.qa import validate_recordings_and_supervisions

from lightrnn_asr.formats.nbest import write_text

NOISE_WORDS = ("<NOISE>", "<SPOKEN_NOISE>")
TEST_SETS = {
    "test_eval92": ("wsj0", "11-13.1/wsj0/doc/indices/test/nvp/si_et_20.ndx"),
    "test_dev93": ("wsj1", "13-34.1/wsj1/doc/indices/h1_p0.ndx"),
}
_DELETE = re.compile(r"\[<\w+\]|\[\w+>\]|\[\w+/\]|\[/\w+\]|~|\.")
_NOISE = re.compile(r"\[\w+\]")
_VERBAL_DELETION = re.compile(r"<([\w']+)>")
_DOT_LINE = re.compile(r"(.*)\((\w{8})\)\s*$")


def normalize_transcript(text: str) -> list[str]:
    """Words of one ``.dot`` transcript, normalised like Kaldi's ``normalize_transcript.pl``."""
    out = []
    for w in text.split():
        w = w.upper().replace("\\", "")
        w = {"%PERCENT": "PERCENT", ".POINT": "POINT", "--DASH": "-DASH"}.get(w, w)
        if _DELETE.fullmatch(w):
            continue
        if _NOISE.search(w):
            out.append("<NOISE>")
            continue
        m = _VERBAL_DELETION.fullmatch(w)
        out.append(m.group(1) if m else w)
    return out


def _find(root: Path, rel: str) -> Path | None:
    """``root/rel`` as written, lower-cased or upper-cased (some disc copies are upper case)."""
    for cand in (rel, rel.lower(), rel.upper()):
        if (root / cand).exists():
            return root / cand
    return None


def _disc(roots: dict[str, Path], disc: str) -> Path:
    for root in roots.values():
        if (root / disc).is_dir():
            return root / disc
    sys.exit(f"disc {disc} not found under {' or '.join(map(str, roots.values()))}")


def read_ndx(path: Path, roots: dict[str, Path]) -> list[Path]:
    """The ``.wv1`` files an LDC index file lists (disc ids ``11_14_1`` -> directory ``11-14.1``)."""
    files = []
    for lineno, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        m = re.fullmatch(r"(\d+)_(\d+)_(\d+):\s*(\S+)", line)
        if not m:
            sys.exit(f"{path}:{lineno}: not an index line 'disc:path': {line!r}")
        disc = _disc(roots, f"{m.group(1)}-{m.group(2)}.{m.group(3)}")
        rel = m.group(4) if m.group(4).lower().endswith(".wv1") else m.group(4) + ".wv1"
        wav = _find(disc, rel)
        if wav is None:
            sys.exit(f"{path}:{lineno}: {disc / rel} does not exist")
        files.append(wav)
    return files


def sphere_header(path: Path) -> dict[str, str]:
    """Fields of a NIST SPHERE header (``NIST_1A``, header size, ``name -type value`` lines, ``end_head``)."""
    with open(path, "rb") as f:
        head = f.read(1024)
    lines = head.decode("ascii", errors="replace").split("\n")
    if lines[0].strip() != "NIST_1A":
        sys.exit(f"{path}: not a NIST SPHERE file (no NIST_1A header)")
    fields = {}
    for line in lines[2:]:
        if line.strip() == "end_head":
            return fields
        parts = line.split(None, 2)
        if len(parts) == 3:
            fields[parts[0]] = parts[2].strip()
    sys.exit(f"{path}: SPHERE header has no end_head in its first 1024 bytes")


def recording(path: Path) -> Recording:
    """A lhotse Recording of a ``.wv1`` file whose audio is read by ``sph2pipe -f wav``."""
    head = sphere_header(path)
    try:
        rate, samples = int(head["sample_rate"]), int(head["sample_count"])
    except (KeyError, ValueError):
        sys.exit(f"{path}: SPHERE header lacks an integer sample_rate or sample_count")
    return Recording(id=path.stem.lower(), sources=[AudioSource("command", [0], f"sph2pipe -f wav {path.resolve()}")],
                     sampling_rate=rate, num_samples=samples, duration=samples / rate)


def dot_transcripts(roots: dict[str, Path], wanted: set[str]) -> dict[str, str]:
    """``{uttid: raw transcript}`` for the wanted utterances, from every ``*.dot`` file on the discs."""
    found = {}
    for root in roots.values():
        for dot in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".dot"):
            for lineno, line in enumerate(dot.read_text(encoding="latin-1").splitlines(), 1):
                if not line.strip():
                    continue
                m = _DOT_LINE.match(line)
                if not m:
                    sys.exit(f"{dot}:{lineno}: not a transcript line 'text (uttid)': {line!r}")
                utt = m.group(2).lower()
                if utt in wanted:
                    found[utt] = m.group(1).strip()
    return found


def manifests(args) -> None:
    roots = {"wsj0": Path(args.wsj0), "wsj1": Path(args.wsj1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        corpus, rel = TEST_SETS[name]
        ndx = _find(roots[corpus], rel)
        if ndx is None:
            sys.exit(f"{roots[corpus] / rel}: index file of {name} not found")
        recs = RecordingSet.from_recordings(recording(p) for p in read_ndx(ndx, roots))
        trans = dot_transcripts(roots, set(recs.ids))
        missing = [r for r in recs.ids if r not in trans]
        if missing:
            sys.exit(f"{name}: {len(missing)} utterances have no transcript in any .dot file (e.g. {missing[0]})")
        sups = SupervisionSet.from_segments(
            SupervisionSegment(id=r.id, recording_id=r.id, start=0.0, duration=r.duration, channel=0,
                               text=" ".join(normalize_transcript(trans[r.id])), speaker=r.id[:3], language="English")
            for r in recs)
        validate_recordings_and_supervisions(recs, sups)
        recs.to_file(out / f"wsj_recordings_{name}.jsonl.gz")
        sups.to_file(out / f"wsj_supervisions_{name}.jsonl.gz")
        print(f"{name}: {len(recs)} utterances, {sum(r.duration for r in recs) / 3600:.2f} h")


def refs(args) -> None:
    from lhotse import load_manifest

    for name in args.sets:
        path = Path(args.manifests) / f"wsj_supervisions_{name}.jsonl.gz"
        if not path.is_file():
            sys.exit(f"{path}: no supervision manifest (run stage 0)")
        text = {s.id: [w for w in s.text.split() if w not in NOISE_WORDS]
                for s in sorted(load_manifest(path), key=lambda s: s.id)}
        (Path(args.data) / name).mkdir(parents=True, exist_ok=True)
        write_text(Path(args.data) / name / "text", text)
        print(f"{args.data}/{name}/text: {len(text)} utterances, {sum(map(len, text.values()))} words")


def nab(args) -> None:
    words = {line.split()[0] for line in open(args.words, encoding="utf-8") if line.strip()}
    out = sys.stdout
    for line in sys.stdin:
        if line.startswith("<"):
            continue
        sentence: list[str] = []
        for w in line.upper().split():
            if w not in words and w.endswith(".") and "." not in w[:-1] and len(w) > 1:
                sentence.append(w[:-1])
                out.write(" ".join(sentence) + "\n")
                sentence = []
            else:
                sentence.append(w)
        if sentence:
            out.write(" ".join(sentence) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("manifests")
    m.add_argument("--wsj0", required=True, help="directory holding the WSJ0 discs (11-13.1, 11-14.1, ...)")
    m.add_argument("--wsj1", required=True, help="directory holding the WSJ1 discs (13-34.1, 13-16.1, ...)")
    m.add_argument("--out", required=True)
    m.add_argument("sets", nargs="+", choices=sorted(TEST_SETS))
    r = sub.add_parser("refs")
    r.add_argument("manifests")
    r.add_argument("data")
    r.add_argument("sets", nargs="+")
    n = sub.add_parser("nab")
    n.add_argument("--words", required=True, help="the recognizer's words.txt (words kept with their period)")
    args = p.parse_args()
    {"manifests": manifests, "refs": refs, "nab": nab}[args.cmd](args)


if __name__ == "__main__":
    main()
