"""Lattice files in any supported format, from a file or a directory (:func:`iter_lattices`), and the
one validation every lattice read through it gets (:func:`check_lattice`)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from lightrnn_asr.formats.kaldi_lattice import read_fst_lattice, read_kaldi_lattices, read_words
from lightrnn_asr.formats.lattice import Lattice, LatticeFormatError, out_arcs, read_htk, topological_order

__all__ = ["LATTICE_FORMATS", "iter_lattices", "lattice_files", "check_lattice"]

#: htk: HTK SLF files (pocketsphinx, HTK, Julius); fst: OpenFst binary ``kaldifst.Lattice`` files, one
#: utterance each; kaldi: Kaldi text lattice archives (``ark,t``; ``.gz`` allowed).
LATTICE_FORMATS = ("htk", "fst", "kaldi")


def lattice_files(path: str | Path) -> list[Path]:
    """The lattice files of ``path``: itself, or a directory's visible files in name order.

    Raises:
        ValueError: for a directory without files.
    """
    p = Path(path)
    files = sorted(x for x in p.iterdir() if x.is_file() and not x.name.startswith(".")) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"{path}: no lattice files")
    return files


def iter_lattices(path: str | Path, lattice_format: str = "htk", words_path: str | Path | None = None,
                  ) -> Iterator[tuple[str, Lattice]]:
    """``(utt_id, Lattice)`` pairs of a lattice file or a directory of them, read one file at a time
    (utterance id: the file name up to its first dot, or the archive's keys).

    Args:
        lattice_format: one of :data:`LATTICE_FORMATS`.
        words_path: ``words.txt`` for integer labels (needed for ``fst``).

    Raises:
        ValueError: for an unknown format, ``fst`` without ``words_path``, or no files.
        LatticeFormatError: naming the file for an unreadable lattice, a repeated utterance id, or a
            lattice that :func:`check_lattice` refuses.
    """
    if lattice_format not in LATTICE_FORMATS:
        raise ValueError(f"lattice format must be one of {LATTICE_FORMATS}, got {lattice_format!r}")
    if lattice_format == "fst" and not words_path:
        raise ValueError("the fst lattice format needs a words.txt symbol table")
    files = lattice_files(path)
    words = read_words(words_path) if words_path else None
    return _pairs(files, lattice_format, words)


def _pairs(files: list[Path], lattice_format: str, words) -> Iterator[tuple[str, Lattice]]:
    seen: set[str] = set()
    for f in files:
        if lattice_format == "kaldi":
            entries = read_kaldi_lattices(f, words)
        else:
            utt = f.name.split(".")[0]
            entries = {utt: read_htk(f) if lattice_format == "htk" else read_fst_lattice(f, words)}
        for utt, lat in entries.items():
            if utt in seen:
                raise LatticeFormatError(f"{f}: utterance id {utt!r} already read from another lattice")
            seen.add(utt)
            check_lattice(lat, f"{f}: lattice {utt!r}")
            yield utt, lat


def check_lattice(lat: Lattice, where: str) -> np.ndarray:
    """Validate a lattice as every lattice command needs it: acyclic, and a path from its start state
    to a different final state.

    Returns:
        ``(num_states,)`` int64 states in topological order.

    Raises:
        LatticeFormatError: naming ``where`` for a cycle (a self-loop included), a start state that is
            also the final state, or no path from the start state to the final state.
    """
    order = topological_order(lat, where)
    if lat.start == lat.final:
        raise LatticeFormatError(f"{where}: the start state {lat.start} is also the final state")
    reached = np.zeros(lat.num_states, dtype=bool)
    reached[lat.start] = True
    out = out_arcs(lat)
    for s in order.tolist():
        if reached[s]:
            reached[lat.dst[out[s]]] = True
    if not reached[lat.final]:
        raise LatticeFormatError(f"{where}: no path from the start state {lat.start} to the final state {lat.final}")
    return order
