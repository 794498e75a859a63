"""Kaldi and OpenFst lattices: text archives and binary ``kaldifst.Lattice`` files.

Two formats, both in Kaldi's lattice conventions (Kaldi "Lattices in Kaldi",
``lat/kaldi-lattice.h``): an arc weight is a pair ``graph_cost,acoustic_cost``
of costs (negated natural-log scores; the graph cost holds the LM), and word
labels are integers of a ``words.txt`` symbol table (``0`` is epsilon).

- **Text archive** (``ark,t``; what ``lattice-copy ark:... ark,t:-`` prints),
  the project's documented text format (``docs/lattice-formats.md``): for each
  utterance a line with its id, then one line per arc and per final state, then
  an empty line::

      utt-001
      0 1 17 17 4.25,310.5         # src dst ilabel olabel graph,acoustic  (Lattice)
      1 2 0 9 0,120.25
      2 3.5,0                      # final state, its weight
      2 3 9 1.5,80.25,4_4_4_7      # src dst word graph,acoustic,transition-ids (CompactLattice)
      3 0,0,

  Both Kaldi lattice types are read: ``Lattice`` (5 fields; the word is the
  output label, the input label a transition id or equal to the word) and
  ``CompactLattice`` (4 fields, a third weight part holding the transition ids,
  one per frame). Labels may also be written as words instead of integers,
  then no ``words.txt`` is needed. Gzipped files (``.gz``) are read as such.
- **OpenFst binary** ``kaldifst.Lattice`` (arc type ``lattice4``), one
  utterance per file, read and written through kaldifst.

Several final states (and final weights) become epsilon arcs into one new
final state. Node times are known when the lattice has transition ids
(``frame_shift`` seconds per frame; NaN otherwise).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, Mapping

import kaldifst
import numpy as np

from lightrnn_asr.formats.lattice import EPSILON, Lattice, LatticeFormatError, topological_order
from lightrnn_asr.formats.symbols import read_symbol_pairs
from lightrnn_asr.utils.io import atomic_path, atomic_text, utf8_lines

__all__ = ["read_words", "read_kaldi_lattices", "write_kaldi_lattices", "read_fst_lattice", "write_fst_lattice"]



def read_words(path: str | Path) -> kaldifst.SymbolTable:
    """A ``words.txt`` symbol table (``word id`` per line) as a kaldifst/OpenFst table.

    Raises:
        LatticeFormatError: naming file and line when the file is not a symbol table
            (:func:`~lightrnn_asr.formats.symbols.read_symbol_pairs`).
        FileNotFoundError: when it does not exist.
    """
    table = kaldifst.SymbolTable()
    for word, i in read_symbol_pairs(path):
        table.add_symbol(word, i)
    return table


def _label(token: str, words: kaldifst.SymbolTable | None, where: str) -> str:
    """The word for a label: looked up in ``words`` when it is an integer, else the token itself."""
    if token.lstrip("-").isdigit():
        i = int(token)
        if i == 0:
            return EPSILON
        if words is None:
            raise LatticeFormatError(f"{where}: integer label {i} but no words.txt symbol table was given")
        word = words.find(i)
        if not word:
            raise LatticeFormatError(f"{where}: label {i} is not in the symbol table")
        return word
    return token


def _weight(token: str, where: str) -> tuple[float, float, int | None]:
    """``graph,acoustic[,tids]`` -> (graph cost, acoustic cost, frames or ``None`` without transition ids)."""
    parts = token.split(",")
    if len(parts) not in (2, 3):
        raise LatticeFormatError(f"{where}: weight {token!r} is not graph,acoustic[,transition-ids]")
    try:
        g, a = float(parts[0]), float(parts[1])
    except ValueError:
        raise LatticeFormatError(f"{where}: weight {token!r} has a non-numeric cost") from None
    if math.isnan(g) or math.isnan(a) or math.isinf(g) or math.isinf(a):
        raise LatticeFormatError(f"{where}: weight {token!r} is not finite")
    frames = None if len(parts) == 2 else len([t for t in parts[2].split("_") if t])
    return g, a, frames


def _parse(lines: list[tuple[int, str]], words, path: str, frame_shift: float, name: str) -> Lattice:
    """One lattice from its arc and final-state lines (``(line number, text)``), in Kaldi text form;
    ``name`` locates the whole lattice in errors."""
    arcs: list[tuple[int, int, str, float, float, int | None]] = []
    finals: dict[int, tuple[float, float]] = {}
    start = None
    for lineno, line in lines:
        where = f"{path}:{lineno}"
        f = line.split()
        try:
            s = int(f[0])
            d = int(f[1]) if len(f) >= 3 else None
        except ValueError:
            raise LatticeFormatError(f"{where}: expected integer state ids, found {line!r}") from None
        if s < 0 or (d is not None and d < 0):
            raise LatticeFormatError(f"{where}: negative state id in {line!r}")
        if start is None:
            start = s
        if len(f) in (1, 2):  # final state [weight]
            g, a, _ = _weight(f[1], where) if len(f) == 2 else (0.0, 0.0, None)
            finals[s] = (g, a)
        elif len(f) == 4:  # CompactLattice (or an acceptor with one label)
            g, a, frames = _weight(f[3], where)
            arcs.append((s, d, _label(f[2], words, where), g, a, frames))
        elif len(f) == 5:  # Lattice: ilabel olabel; the word is the output label
            g, a, _ = _weight(f[4], where)
            frames = None if f[2] == f[3] else int(f[2] != "0")
            arcs.append((s, d, _label(f[3], words, where), g, a, frames))
        elif len(f) == 3:  # arc with weight One, acceptor form
            arcs.append((s, d, _label(f[2], words, where), 0.0, 0.0, None))
        else:
            raise LatticeFormatError(f"{where}: expected 'src dst [ilabel] olabel weight' or 'state [weight]', "
                                     f"found {len(f)} fields")
    if start is None:
        raise LatticeFormatError(f"{name}: an empty lattice")
    if not finals:
        raise LatticeFormatError(f"{name}: the lattice has no final state")
    n = 1 + max([start, *finals, *(x[0] for x in arcs), *(x[1] for x in arcs)])
    out_degree = np.bincount(np.array([x[0] for x in arcs], dtype=np.int64), minlength=n)
    only = next(iter(finals))
    if len(finals) == 1 and finals[only] == (0.0, 0.0) and out_degree[only] == 0:
        final = only
    else:  # one final state: epsilon arcs carry the final weights
        final = n
        n += 1
        arcs += [(s, final, EPSILON, g, a, 0) for s, (g, a) in finals.items()]
    src = np.array([x[0] for x in arcs], dtype=np.int64)
    dst = np.array([x[1] for x in arcs], dtype=np.int64)
    shape = dict(num_states=n, start=start, final=final, src=src, dst=dst)
    times = _state_times(Lattice(**shape, symbols=[], am=np.zeros(len(arcs)), fp_lm=None, times=np.full(n, np.nan)),
                         [x[5] for x in arcs], frame_shift, name)
    return Lattice(**shape, symbols=[x[2] for x in arcs], am=-np.array([x[4] for x in arcs], dtype=np.float64),
                   fp_lm=-np.array([x[3] for x in arcs], dtype=np.float64), times=times)


def _state_times(lat: Lattice, frames: list[int | None], frame_shift: float, name: str) -> np.ndarray:
    """Node times (seconds from the start) when every arc's frame count is known, else NaN."""
    times = lat.times
    order = topological_order(lat, name)
    if frames and all(f is not None for f in frames):
        times[lat.start] = 0.0
        by_src: dict[int, list[int]] = {}
        for k, s in enumerate(lat.src.tolist()):
            by_src.setdefault(s, []).append(k)
        for s in order.tolist():
            for k in by_src.get(s, ()):
                if np.isnan(times[lat.dst[k]]) and not np.isnan(times[s]):
                    times[lat.dst[k]] = times[s] + frames[k] * frame_shift
    return times


def _archive_entries(path: Path) -> Iterator[tuple[str, int, list[tuple[int, str]]]]:
    """(utterance id, its line number, its body lines) of a Kaldi text archive."""
    utt, at, body = None, 0, []
    for lineno, line in utf8_lines(path, LatticeFormatError):
        line = line.strip()
        if not line:
            if utt is not None:
                yield utt, at, body
            utt, body = None, []
        elif utt is None:
            utt, at = line.split()[0], lineno
            if len(line.split()) > 1:
                raise LatticeFormatError(f"{path}:{lineno}: expected an utterance id alone on its line, "
                                         f"found {line!r} (a binary archive? write it with ark,t:)")
        else:
            body.append((lineno, line))
    if utt is not None:
        yield utt, at, body


def read_kaldi_lattices(path: str | Path, words: kaldifst.SymbolTable | None = None,
                        frame_shift: float = 0.01) -> dict[str, Lattice]:
    """Read a Kaldi text lattice archive (``Lattice`` or ``CompactLattice``; plain or ``.gz``).

    Args:
        path: the archive (see the module docstring for the format).
        words: ``words.txt`` (:func:`read_words`) for integer labels; ``None``
            when labels are words.
        frame_shift: seconds per frame, for node times.

    Returns:
        Utterance id -> :class:`~lightrnn_asr.formats.lattice.Lattice` with
        ``am = -acoustic_cost`` and ``fp_lm = -graph_cost`` (natural log), in file order.

    Raises:
        LatticeFormatError: naming file and line for a malformed line, a
            label missing from ``words``, a non-finite cost, a lattice without
            a final state, a duplicate utterance id, or a cycle (lattice-level
            errors name the line of the utterance id).
    """
    path = Path(path)
    out: dict[str, Lattice] = {}
    for utt, lineno, body in _archive_entries(path):
        if utt in out:
            raise LatticeFormatError(f"{path}:{lineno}: utterance {utt} appears twice")
        out[utt] = _parse(body, words, f"{path}", frame_shift, f"{path}:{lineno}")
    return out


def _costs(lat: Lattice) -> tuple[np.ndarray, np.ndarray]:
    """``(graph_cost, acoustic_cost) = (-fp_lm, -am)``.

    Raises:
        ValueError: for a rescored lattice (one graph cost cannot hold both LMs: write the output of
            :func:`~lightrnn_asr.scoring.lattice.combine_scores`), or a non-finite score.
    """
    if lat.lm is not None:
        raise ValueError("a rescored lattice has two LM scores and the format one graph cost: write "
                         "combine_scores(lattice, scales) instead")
    fp = lat.fp_lm if lat.fp_lm is not None else np.zeros(lat.num_arcs)
    if not (np.isfinite(lat.am).all() and np.isfinite(fp).all()):
        raise ValueError("a lattice with non-finite scores cannot be written")
    return -fp + 0.0, -lat.am + 0.0  # + 0.0: no "-0" costs


def _label_id(symbol: str, words: kaldifst.SymbolTable | None, fillers) -> str:
    if symbol == EPSILON or (fillers is not None and fillers(symbol) is None):
        return "0"
    if words is None:
        if any(c.isspace() for c in symbol) or symbol.lstrip("-").isdigit():
            raise ValueError(f"the word {symbol!r} cannot be written as a text label")
        return symbol
    i = words.find(symbol)
    if i < 0:
        raise ValueError(f"the word {symbol!r} is not in the symbol table")
    return str(i)


def write_kaldi_lattices(path: str | Path, lattices: Mapping[str, Lattice],
                         words: kaldifst.SymbolTable | None = None, fillers=None) -> None:
    """Write lattices as a Kaldi text archive of ``Lattice`` acceptors (``src dst w w graph,acoustic``),
    states renumbered in topological order with the start state 0.

    ``graph_cost = -fp_lm`` and ``acoustic_cost = -am``; fillers (per ``fillers``, a
    :class:`~lightrnn_asr.formats.lattice.FillerMap`) and ``<eps>`` are written as label 0.
    With ``words`` the labels are integers (Kaldi's ``lattice-*`` tools read the
    file); without, they are the words themselves. Written to a temporary file and
    renamed, so a failed write leaves no partial archive.

    Raises:
        ValueError: for a word missing from ``words`` or a non-finite score.
    """
    path = Path(path)
    lines = []
    for utt, lat in lattices.items():
        g, a = _costs(lat)
        lines.append(utt)
        # states renumbered in topological order from the start (which must come first in the text)
        order = topological_order(lat, utt).tolist()
        order.remove(lat.start)
        new = np.empty(lat.num_states, dtype=np.int64)
        new[[lat.start, *order]] = np.arange(lat.num_states)
        for k in np.argsort(new[lat.src], kind="stable").tolist():
            w = _label_id(lat.symbols[k], words, fillers)
            lines.append(f"{new[lat.src[k]]}\t{new[lat.dst[k]]}\t{w}\t{w}\t{g[k]:.8g},{a[k]:.8g}")
        lines += [f"{new[lat.final]}", ""]
    with atomic_text(path) as f:
        f.write("\n".join(lines) + "\n")


def read_fst_lattice(path: str | Path, words: kaldifst.SymbolTable | None = None,
                     frame_shift: float = 0.01) -> Lattice:
    """Read one OpenFst binary ``kaldifst.Lattice`` (arc type ``lattice4``; e.g. written by
    :func:`write_fst_lattice` or ``fstcompile --arc_type=lattice4``).

    Raises:
        LatticeFormatError: when the file is not such an FST, or as :func:`read_kaldi_lattices`.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such lattice file")
    fst = kaldifst.Lattice.read(str(path))
    if fst is None:
        raise LatticeFormatError(f"{path}: not an OpenFst lattice4 (kaldifst.Lattice) file")
    text = fst.to_str(show_weight_one=True)
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    # the printed text has no file lines: name the printed line (as fstprint would show it)
    return _parse(lines, words, f"{path} (fstprint line)", frame_shift, str(path))


def write_fst_lattice(path: str | Path, lat: Lattice, words: kaldifst.SymbolTable, fillers=None) -> None:
    """Write a lattice as an OpenFst binary ``kaldifst.Lattice`` acceptor over ``words`` ids.

    Weights are ``(graph_cost, acoustic_cost) = (-fp_lm, -am)``; the final state has weight One.

    Raises:
        ValueError: for a word missing from ``words`` or a non-finite score.
    """
    g, a = _costs(lat)
    fst = kaldifst.Lattice()
    for _ in range(lat.num_states):
        fst.add_state()
    fst.start = lat.start
    fst.set_final(lat.final, kaldifst.LatticeWeight(0.0, 0.0))
    for k in range(lat.num_arcs):
        w = int(_label_id(lat.symbols[k], words, fillers))
        fst.add_arc(int(lat.src[k]), kaldifst.LatticeArc(w, w, kaldifst.LatticeWeight(float(g[k]), float(a[k])),
                                                         int(lat.dst[k])))
    path = Path(path)
    with atomic_path(path) as tmp:
        fst.write(str(tmp))
