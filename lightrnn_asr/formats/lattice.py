"""Word lattices: the project's lattice type, HTK SLF reading and writing, topological order.

HTK Standard Lattice Format (SLF) is what pocketsphinx, HTK and Julius write
(HTK Book, Section 20 "HTK Standard Lattice Format"): header fields
(``start=``, ``end=``, ``base=``, ``N=``, ``L=``), node lines
``I=<n> t=<sec> W=<word>`` and link lines ``J=<k> S=<from> E=<to> a=<ac> l=<lm>``.
A word given on a node belongs to every link entering it.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lightrnn_asr.text.normalize import strip_variant
from lightrnn_asr.utils.io import atomic_text, utf8_lines

__all__ = ["Lattice", "LatticeFormatError", "FillerMap", "read_htk", "write_htk", "topological_order", "out_arcs"]


#: The epsilon symbol of OpenFst, Kaldi and k2 symbol tables (label 0).
EPSILON = "<eps>"


class LatticeFormatError(ValueError):
    """A malformed lattice file; the message starts with ``file:line:``."""


@dataclass
class FillerMap:
    """Which lattice symbols are not words, and how variants are spelt.

    Attributes:
        fillers: symbols mapped to epsilon (silence, sentence marks, null nodes).
        filler_pattern: a regular expression; matching symbols are fillers too
            (default: ``[NOISE]``-like and ``++NOISE++``-like symbols).
        strip_variants: map ``word(2)`` to ``word``.
        lowercase: lower-case words (the project's normalisation).
    """

    fillers: frozenset[str] = frozenset(
        {"!NULL", "!SENT_START", "!SENT_END", "<s>", "</s>", "<sil>", "sil", "SIL", "<eps>", "-pau-"}
    )
    filler_pattern: str = r"^(\[.*\]|\+\+.*\+\+|<.*>)$"
    strip_variants: bool = True
    lowercase: bool = True
    _regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._regex = re.compile(self.filler_pattern)

    def __call__(self, symbol: str) -> str | None:
        """The word for a lattice symbol, or ``None`` for a filler."""
        if symbol in self.fillers or self._regex.match(symbol):
            return None
        word = strip_variant(symbol) if self.strip_variants else symbol
        return word.lower() if self.lowercase else word


@dataclass(kw_only=True)
class Lattice:
    """An acyclic word lattice with scores on arcs. Every score keeps one meaning: ``am`` the
    acoustic score, ``fp_lm`` the first-pass LM's, ``lm`` the new LM's (None until rescored). The
    file formats' LM fields are mapped to them by the readers and writers.

    Attributes:
        num_states: states ``0 .. num_states-1``.
        start: the start state.
        final: the final state.
        src, dst: ``(E,)`` int64 arc endpoints.
        symbols: ``E`` raw arc symbols as in the file (fillers included).
        am: ``(E,)`` float64 acoustic log-scores (natural log).
        fp_lm: ``(E,)`` float64 first-pass LM log-scores (nats): in a lattice as read, the file's LM
            field (HTK ``l=``, Kaldi and OpenFst ``-graph_cost``, k2 ``lm_scores``; zeros where the
            file has none, as pocketsphinx writes); in a rescored lattice, the first-pass term on the
            expanded arcs (an n-gram function's, or the input's ``fp_lm`` with
            ``LatticeRescoreConfig.input_lm``), or ``None`` without one.
        times: ``(num_states,)`` float64 node times in seconds (NaN if absent).
        lm: ``(E,)`` float64 the new LM's log-probabilities (nats) of a rescored lattice; ``None``
            in a lattice as read.
    """

    num_states: int
    start: int
    final: int
    src: np.ndarray
    dst: np.ndarray
    symbols: list[str]
    am: np.ndarray
    fp_lm: np.ndarray | None
    times: np.ndarray
    lm: np.ndarray | None = None

    @property
    def num_arcs(self) -> int:
        """The number of arcs (``src.size``)."""
        return int(self.src.size)


def _fields(line: str, where: str) -> dict[str, str]:
    out = {}
    for tok in line.split():
        key, sep, value = tok.partition("=")
        if not sep:
            raise LatticeFormatError(f"{where}: expected key=value, found {tok!r}")
        out[key] = value
    return out


def _number(d: dict[str, str], key: str, where: str, kind=float, default=None):
    if key not in d:
        if default is not None:
            return default
        raise LatticeFormatError(f"{where}: missing field {key}=")
    try:
        value = kind(d[key])
    except ValueError:
        raise LatticeFormatError(f"{where}: {key}={d[key]!r} is not a valid {kind.__name__}") from None
    if kind is float and not math.isfinite(value):
        raise LatticeFormatError(f"{where}: {key}={d[key]!r} is not finite")
    return value


def read_htk(path: str | Path) -> Lattice:
    """Read an HTK SLF lattice (plain text; scores converted to natural log using ``base=``).

    ``a=`` becomes ``am`` and ``l=`` ``fp_lm`` (the first-pass LM); in a lattice that
    :func:`write_htk` wrote after rescoring (every link has ``n=``), ``l=`` is the new LM (``lm``)
    and ``n=`` the first-pass term (``fp_lm``).

    Raises:
        LatticeFormatError: naming file and line for missing or non-numeric
            fields, node or link ids out of range, a missing start/end node (without
            ``start=``/``end=``: not exactly one node without incoming/outgoing links),
            or a node/link count that disagrees with ``N=``/``L=``, or ``n=`` on some links only.
    """
    header: dict[str, str] = {}
    nodes: dict[int, tuple[str | None, float]] = {}
    links: list[tuple[int, int, str | None, float, float, int]] = []
    n_nodes = n_links = None
    for lineno, line in utf8_lines(path, LatticeFormatError):
        where = f"{path}:{lineno}"
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        d = _fields(line, where)
        if "I" in d:
            nodes[_number(d, "I", where, int)] = (d.get("W"), _number(d, "t", where, float, math.nan))
        elif "J" in d:
            links.append((_number(d, "S", where, int), _number(d, "E", where, int), d.get("W"),
                          _number(d, "a", where, float, 0.0), _number(d, "l", where, float, 0.0), lineno,
                          _number(d, "n", where, float, 0.0) if "n" in d else None))
        else:
            if "N" in d:
                n_nodes, n_links = _number(d, "N", where, int), _number(d, "L", where, int)
            header.update(d)
    if n_nodes is None:
        raise LatticeFormatError(f"{path}: no 'N=... L=...' size line: not an HTK lattice")
    if len(nodes) != n_nodes or len(links) != n_links:
        raise LatticeFormatError(
            f"{path}: header says N={n_nodes} L={n_links}, file has {len(nodes)} nodes and {len(links)} links"
        )
    if set(nodes) != set(range(n_nodes)):
        raise LatticeFormatError(f"{path}: node ids are not 0..{n_nodes - 1}")
    for s, e, *_, lineno, _ in links:
        if not (0 <= s < n_nodes and 0 <= e < n_nodes):
            raise LatticeFormatError(f"{path}:{lineno}: link S={s} E={e} refers to a missing node")
    where = f"{path}: header"
    base = _number(header, "base", where, float, math.e)
    if base < 0 or base == 1:
        raise LatticeFormatError(f"{where}: base={header['base']!r} is not a logarithm base (0 or > 0 and != 1)")
    # without start= / end=, the one node no link enters / leaves (as HTK's HLat finds them)
    start = _number(header, "start", where, int) if "start" in header else _sole(links, n_nodes, 1, "start", path)
    end = _number(header, "end", where, int) if "end" in header else _sole(links, n_nodes, 0, "end", path)
    for name, node in (("start", start), ("end", end)):
        if not 0 <= node < n_nodes:
            raise LatticeFormatError(f"{path}: {name}={node} is not a node")
    return _htk_lattice(links, nodes, start, end, math.log(base) if base > 0 else 1.0, path)  # base=0: natural logs


def _htk_lattice(links: list[tuple], nodes: dict[int, tuple], start: int, end: int, scale: float, path) -> Lattice:
    """The lattice of read_htk's links and nodes, scores times ``scale`` (to natural log)."""
    n_nodes = len(nodes)
    src, dst, symbols, am, l_field, n_field = [], [], [], [], [], []
    for s, e, w, a, l, lineno, n in links:
        src.append(s)
        dst.append(e)
        symbols.append(w if w is not None else (nodes[e][0] or "!NULL"))
        am.append(a * scale)
        l_field.append(l * scale)
        n_field.append(n)
    # l= is the first-pass LM; a lattice this package rescored and wrote (write_htk) has the new
    # LM in l= and the first-pass term in n=
    rescored = bool(n_field) and all(x is not None for x in n_field)
    if not rescored and any(x is not None for x in n_field):
        lineno = next(link[5] for link in links if link[6] is None)
        raise LatticeFormatError(f"{path}:{lineno}: no 'n=' on this link, while other links have one")
    scores = {"lm": np.array(l_field), "fp_lm": np.array(n_field, dtype=np.float64) * scale} if rescored \
        else {"fp_lm": np.array(l_field)}
    return Lattice(num_states=n_nodes, start=start, final=end, src=np.array(src, dtype=np.int64),
                   dst=np.array(dst, dtype=np.int64), symbols=symbols, am=np.array(am),
                   times=np.array([nodes[i][1] for i in range(n_nodes)], dtype=np.float64), **scores)


def _sole(links: list[tuple], n_nodes: int, side: int, name: str, path) -> int:
    """The one node that is never the ``side`` end of a link (1: E, no link enters it; 0: S)."""
    free = sorted(set(range(n_nodes)) - {link[side] for link in links})
    if len(free) != 1:
        raise LatticeFormatError(f"{path}: no '{name}=' in the header, and {len(free)} nodes could be the {name} node")
    return free[0]


def write_htk(path: str | Path, lat: Lattice, utterance: str | None = None) -> None:
    """Write a lattice as HTK SLF, natural-log scores (``base=0``: no conversion on reading).

    Words go on links (``W=``), ``am`` in ``a=``, node times where known. A lattice as read has
    its ``fp_lm`` in ``l=``; a rescored one has the new LM (``lm``) in ``l=`` and its first-pass
    term (``fp_lm``, 0 without one) in ``n=``, a field of this project, not of HTK. :func:`read_htk`
    reads either back with the same states, arcs and scores (to 8 significant digits). Written to
    a temporary file and renamed, so a failed write leaves no partial file.
    """
    lines = ["VERSION=1.0"]
    if utterance:
        lines.append(f"UTTERANCE={utterance}")
    lines += ["base=0", f"start={lat.start}", f"end={lat.final}", f"N={lat.num_states}\tL={lat.num_arcs}"]
    for i, t in enumerate(lat.times.tolist()):
        lines.append(f"I={i}" + ("" if math.isnan(t) else f"\tt={t:.2f}"))
    zeros = np.zeros(lat.num_arcs)
    if lat.lm is None:
        l_field, n_field = zeros if lat.fp_lm is None else lat.fp_lm, None
    else:
        l_field, n_field = lat.lm, zeros if lat.fp_lm is None else lat.fp_lm
    for k in range(lat.num_arcs):
        extra = f"\tn={n_field[k]:.8g}" if n_field is not None else ""
        lines.append(f"J={k}\tS={lat.src[k]}\tE={lat.dst[k]}\tW={lat.symbols[k]}\ta={lat.am[k]:.8g}"
                     f"\tl={l_field[k]:.8g}{extra}")
    with atomic_text(path) as f:
        f.write("\n".join(lines) + "\n")


def topological_order(lat: Lattice, where: str = "lattice") -> np.ndarray:
    """States in topological order (Kahn's algorithm), ``(num_states,)`` int64.

    Raises:
        LatticeFormatError: when the lattice has a cycle (naming ``where``).
    """
    indeg = np.bincount(lat.dst, minlength=lat.num_states)
    out = out_arcs(lat)
    queue = deque(np.flatnonzero(indeg == 0).tolist())
    order = []
    while queue:
        s = queue.popleft()
        order.append(s)
        for a in out[s]:
            d = int(lat.dst[a])
            indeg[d] -= 1
            if indeg[d] == 0:
                queue.append(d)
    if len(order) != lat.num_states:
        raise LatticeFormatError(f"{where}: the lattice has a cycle (through state {int(np.flatnonzero(indeg)[0])})")
    return np.array(order, dtype=np.int64)


def out_arcs(lat: Lattice) -> list[list[int]]:
    """The arcs leaving every state, ``num_states`` lists of arc indices."""
    out: list[list[int]] = [[] for _ in range(lat.num_states)]
    for a, s in enumerate(lat.src.tolist()):
        out[s].append(a)
    return out
