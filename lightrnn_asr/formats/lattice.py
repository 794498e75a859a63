"""Word lattices: the project's lattice type, HTK SLF reading, N-best extraction.

HTK Standard Lattice Format (SLF) is what pocketsphinx, HTK and Julius write
(HTK Book, Section 20 "HTK Standard Lattice Format"): header fields
(``start=``, ``end=``, ``base=``, ``N=``, ``L=``), node lines
``I=<n> t=<sec> W=<word>`` and link lines ``J=<k> S=<from> E=<to> a=<ac> l=<lm>``.
A word given on a node belongs to every link entering it.

N-best lists are taken from a lattice with kaldifst (OpenFst): fillers become
epsilons, epsilons are removed, the acceptor is determinized in the tropical
semiring (which keeps, for every distinct word sequence, its best path) and
the n shortest paths are read off, so every hypothesis is a distinct word
sequence with its best score.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import kaldifst
import numpy as np

from lightrnn_asr.formats.nbest import Hypothesis
from lightrnn_asr.text.normalize import strip_variant
from lightrnn_asr.utils.io import utf8_lines

__all__ = ["Lattice", "LatticeFormatError", "FillerMap", "read_htk", "write_htk", "lattice_nbest", "topological_order",
           "distinct_sequences"]


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


@dataclass
class Lattice:
    """An acyclic word lattice with scores on arcs.

    Attributes:
        num_states: states ``0 .. num_states-1``.
        start: the start state.
        final: the final state.
        src, dst: ``(E,)`` int64 arc endpoints.
        symbols: ``E`` raw arc symbols as in the file (fillers included).
        am: ``(E,)`` float64 acoustic log-scores (natural log).
        lm: ``(E,)`` float64 the lattice's LM log-scores (nats): in a lattice as read, the
            first-pass LM (HTK ``l=``, Kaldi graph cost, k2 ``lm_scores``), which
            ``LatticeRescoreConfig.input_lm`` keeps as ``fp_lm``; in a rescored lattice, the
            new LM's log-probabilities. It is the one LM field of every lattice file format.
        times: ``(num_states,)`` float64 node times in seconds (NaN if absent).
        fp_lm: ``(E,)`` float64 first-pass LM log-probabilities (nats) of a rescored lattice
            (an n-gram function's, or the input's ``lm`` with ``input_lm``), or ``None``.
    """

    num_states: int
    start: int
    final: int
    src: np.ndarray
    dst: np.ndarray
    symbols: list[str]
    am: np.ndarray
    lm: np.ndarray
    times: np.ndarray
    fp_lm: np.ndarray | None = None

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

    Raises:
        LatticeFormatError: naming file and line for missing or non-numeric
            fields, node or link ids out of range, a missing start/end node (without
            ``start=``/``end=``: not exactly one node without incoming/outgoing links),
            or a node/link count that disagrees with ``N=``/``L=``.
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
    scale = math.log(base) if base > 0 else 1.0  # base=0 means scores are already natural logs
    # without start= / end=, the one node no link enters / leaves (as HTK's HLat finds them)
    start = _number(header, "start", where, int) if "start" in header else _sole(links, n_nodes, 1, "start", path)
    end = _number(header, "end", where, int) if "end" in header else _sole(links, n_nodes, 0, "end", path)
    for name, node in (("start", start), ("end", end)):
        if not 0 <= node < n_nodes:
            raise LatticeFormatError(f"{path}: {name}={node} is not a node")
    src, dst, symbols, am, lm, fp = [], [], [], [], [], []
    for s, e, w, a, l, lineno, n in links:
        src.append(s)
        dst.append(e)
        symbols.append(w if w is not None else (nodes[e][0] or "!NULL"))
        am.append(a * scale)
        lm.append(l * scale)
        fp.append(n)
    has_fp = bool(fp) and all(x is not None for x in fp)
    return Lattice(n_nodes, start, end, np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64),
                   symbols, np.array(am), np.array(lm),
                   np.array([nodes[i][1] for i in range(n_nodes)], dtype=np.float64),
                   np.array(fp, dtype=np.float64) * scale if has_fp else None)


def _sole(links: list[tuple], n_nodes: int, side: int, name: str, path) -> int:
    """The one node that is never the ``side`` end of a link (1: E, no link enters it; 0: S)."""
    free = sorted(set(range(n_nodes)) - {link[side] for link in links})
    if len(free) != 1:
        raise LatticeFormatError(f"{path}: no '{name}=' in the header, and {len(free)} nodes could be the {name} node")
    return free[0]


def write_htk(path: str | Path, lat: Lattice, utterance: str | None = None) -> None:
    """Write a lattice as HTK SLF, natural-log scores (``base=0``: no conversion on reading).

    Words go on links (``W=``), acoustic scores in ``a=``, LM scores in
    ``l=``, node times where known; a rescored lattice's first-pass n-gram
    scores go in ``n=``, a field of this project, not of HTK. :func:`read_htk` reads it back
    with the same states, arcs and scores (to 8 significant digits).
    """
    lines = ["VERSION=1.0"]
    if utterance:
        lines.append(f"UTTERANCE={utterance}")
    lines += ["base=0", f"start={lat.start}", f"end={lat.final}", f"N={lat.num_states}\tL={lat.num_arcs}"]
    for i, t in enumerate(lat.times.tolist()):
        lines.append(f"I={i}" + ("" if math.isnan(t) else f"\tt={t:.2f}"))
    fp = lat.fp_lm
    for k in range(lat.num_arcs):
        extra = f"\tn={fp[k]:.8g}" if fp is not None else ""
        lines.append(f"J={k}\tS={lat.src[k]}\tE={lat.dst[k]}\tW={lat.symbols[k]}\ta={lat.am[k]:.8g}"
                     f"\tl={lat.lm[k]:.8g}{extra}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


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


def word_labels(lat: Lattice, fillers: FillerMap) -> tuple[list[int], dict[int, str]]:
    """Integer labels of the arcs (0 for fillers, 1.. for words in order of appearance) and label -> word."""
    index: dict[str, int] = {}
    labels = []
    for sym in lat.symbols:
        w = fillers(sym)
        labels.append(0 if w is None else index.setdefault(w, len(index) + 1))
    return labels, {i: w for w, i in index.items()}


def to_fst(lat: Lattice, labels: list[int], cost: np.ndarray, arc_ids: bool = False):
    """The lattice as a kaldifst ``StdVectorFst``: input labels ``labels`` (0: epsilon), tropical
    weights ``cost`` (``(E,)``); output labels the input labels (an acceptor) or, with ``arc_ids``,
    the arc index plus one (to find the arcs of a path)."""
    fst = kaldifst.StdVectorFst()
    for _ in range(lat.num_states):
        fst.add_state()
    fst.start = lat.start
    fst.set_final(lat.final, 0.0)
    for a, (s, d, lab, c) in enumerate(zip(lat.src.tolist(), lat.dst.tolist(), labels, cost.tolist())):
        fst.add_arc(s, kaldifst.StdArc(lab, a + 1 if arc_ids else lab, c, d))
    return fst


BigramFn = Callable[[str, str], float]


def _bigram_acceptor(fst, id2word: dict[int, str], bigram: BigramFn, scale: float):
    """An acceptor G scoring ``scale * log P(w | prev)`` (as cost), over the word pairs of ``fst`` only.

    G's states are "previous word" (state 0: ``<s>``); composing an epsilon-free
    lattice with it puts exact bigram scores on every path, ``</s>`` included.
    """
    incoming: dict[int, set[int]] = {fst.start: {0}}
    arcs_by_state: dict[int, list[int]] = {}
    for state in range(fst.num_states):
        labels = []
        for arc in kaldifst.ArcIterator(fst, state):
            labels.append(arc.ilabel)
            incoming.setdefault(arc.nextstate, set()).add(arc.ilabel)
        arcs_by_state[state] = labels
    pairs: set[tuple[int, int]] = set()
    enders: set[int] = set()  # labels that can precede </s>
    for state, labels in arcs_by_state.items():
        for prev in incoming.get(state, ()):
            pairs.update((prev, w) for w in labels)
        if math.isfinite(fst.final(state).value):
            enders.update(incoming.get(state, ()))
    g = kaldifst.StdVectorFst()
    states = {0: g.add_state()}
    for label in id2word:
        states[label] = g.add_state()
    g.start = states[0]
    name = {0: "<s>", **id2word}
    for prev, w in sorted(pairs):
        g.add_arc(states[prev], kaldifst.StdArc(w, w, -scale * bigram(name[prev], name[w]), states[w]))
    for label in enders:
        g.set_final(states[label], -scale * bigram(name[label], "</s>"))
    kaldifst.arcsort(g, sort_type="ilabel")
    return g


def _sequence_logprob(words: tuple[str, ...], bigram: BigramFn) -> float:
    seq = ("<s>", *words, "</s>")
    return sum(bigram(p, w) for p, w in zip(seq[:-1], seq[1:]))


def lattice_nbest(
    lat: Lattice,
    n: int,
    fillers: FillerMap | None = None,
    am_scale: float = 1.0,
    lm_scale: float = 1.0,
    bigram: BigramFn | None = None,
    bigram_scale: float = 0.0,
) -> list[Hypothesis]:
    """The ``n`` best distinct word sequences of a lattice (kaldifst/OpenFst).

    Arcs get the tropical cost ``-(am_scale * am + lm_scale * lm)``; fillers
    are epsilons. When the lattice holds no LM scores (pocketsphinx writes
    acoustic scores only), ranking by acoustic score alone keeps poor
    hypotheses; give ``bigram`` (a first-pass LM, ``bigram(prev, word) ->
    log P(word | prev)`` in nats, with ``<s>``/``</s>``) and ``bigram_scale``:
    the epsilon-free lattice is composed with a bigram acceptor built over the
    word pairs that occur in it, so paths are ranked by
    ``am + bigram_scale * log P_bigram(W)``. The bigram term is a function of
    the words alone, so the best path of each word sequence is also its best
    acoustic path, and it is subtracted again from the reported score.

    Returns:
        Hypotheses, best first (by the ranking score), each a distinct word
        sequence whose ``am`` is its best path's
        ``am_scale * am + lm_scale * lm`` (for pocketsphinx lattices: the
        acoustic log-likelihood, nats), ``fp_lm=None``.

    Raises:
        ValueError: for ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    labels, id2word = word_labels(lat, fillers or FillerMap())
    fst = to_fst(lat, labels, -(am_scale * lat.am + lm_scale * lat.lm))
    kaldifst.rmepsilon(fst)
    use_lm = bigram is not None and bigram_scale != 0.0
    if use_lm:
        kaldifst.arcsort(fst, sort_type="olabel")
        fst = kaldifst.compose(fst, _bigram_acceptor(fst, id2word, bigram, bigram_scale))
    ranked = []
    for score, labels_of_path in distinct_sequences(fst, n):
        seq = tuple(id2word[i] for i in labels_of_path)
        lm_part = bigram_scale * _sequence_logprob(seq, bigram) if use_lm else 0.0
        ranked.append(Hypothesis(seq, score - lm_part))
    return ranked


def distinct_sequences(fst, n: int) -> list[tuple[float, list[int]]]:
    """The ``n`` best distinct label sequences of an epsilon-free acceptor ``fst`` (a kaldifst
    ``StdVectorFst``, tropical costs): determinization, then ``shortest_path(n)`` (OpenFst).

    Returns:
        ``(score, labels)`` pairs, best first: ``score`` is minus the sequence's best path cost,
        ``labels`` its non-epsilon input labels.
    """
    det = kaldifst.determinize(fst)
    out = []
    for p in kaldifst.convert_nbest_to_vector(kaldifst.shortest_path(det, n=n)):
        _, ilabels, _, weight = kaldifst.get_linear_symbol_sequence(p)
        out.append((-float(weight.value), [i for i in ilabels if i]))
    out.sort(key=lambda x: -x[0])
    return out
