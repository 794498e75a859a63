"""k2 lattices: conversion, icefall-style N-best rescoring and pruned lattice rescoring.

This module is the only one that imports k2 (``pip install 'lightrnn-asr[k2]'``);
importing it without k2 raises ``ImportError`` with that hint.

k2 conventions (k2 ``Fsa`` documentation; icefall ``icefall/decode.py``):

- A lattice is an ``FsaVec`` with axes ``[utt][state][arc]``. State 0 is the
  start state and the last state the final one, entered only by arcs labelled
  ``-1``.
- ``labels`` are token ids and ``aux_labels`` word ids (a ``torch.int32``
  tensor, or a ``k2.RaggedTensor`` when an arc may output several words), as
  decoding with an HLG graph gives; or, without ``aux_labels``, ``labels`` are
  word ids (a word acceptor, as decoding with an LG graph then inverting it
  gives). Word id 0 is epsilon; ids map to words through ``words.txt``
  (``k2.SymbolTable``).
- ``scores`` (float32) are log-scores, larger is better: the acoustic
  log-probability (nats, from the model's log-softmax) plus the graph score;
  the graph's n-gram part is the attribute ``lm_scores`` when the decoding
  graph carried it (icefall's ``compile_hlg.py`` sets ``LG.lm_scores``). So
  ``am = scores - lm_scores`` and the first-pass n-gram score is ``lm_scores``.

In the project's terms (:class:`~lightrnn_asr.rescore.Scales`) the combined
score of a hypothesis is ``am + lm_scale * lightrnn + fp_lm_scale * ngram +
word_penalty * |W|``: ``lm_scale`` is icefall's ``rnn_lm_scale`` and
``fp_lm_scale`` its ``ngram_lm_scale``.
"""

from __future__ import annotations

import logging
import math
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

try:
    import k2
except ImportError as e:  # pragma: no cover - exercised only without k2
    raise ImportError("lightrnn_asr.k2 needs k2: pip install 'lightrnn-asr[k2]' "
                      "(k2's PyPI wheels need torch==1.13.1; see README)") from e
import numpy as np
import torch

from lightrnn_asr.formats.lattice import FillerMap, Lattice, LatticeFormatError, topological_order
from lightrnn_asr.formats.nbest import Hypothesis
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, NgramFn, combine_scores, rescore_lattices
from lightrnn_asr.scoring.nbest import Scales, ScoredNBest, score_nbest, total_scores
from lightrnn_asr.text.vocabulary import Vocabulary

__all__ = [
    "K2Rescored", "read_k2_words", "load_k2_lattices", "save_k2_lattices", "lattice_from_k2", "lattice_to_k2",
    "lattices_from_k2", "k2_nbest", "rescore_k2_nbest", "rescore_k2_lattices",
]

log = logging.getLogger(__name__)

#: Symbol given to the ``-1`` arcs into a k2 lattice's final state (a filler for :class:`FillerMap`).
FINAL_SYMBOL = "</s>"
EPSILON = "<eps>"


def read_k2_words(path: str | Path) -> k2.SymbolTable:
    """A ``words.txt`` symbol table (``word id`` per line), read by ``k2.SymbolTable.from_file``.

    Raises:
        FileNotFoundError: when it does not exist.
        LatticeFormatError: naming the file when k2 cannot parse it.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such symbol table")
    try:
        return k2.SymbolTable.from_file(str(path))
    except (AssertionError, ValueError, IndexError) as e:
        raise LatticeFormatError(f"{path}: not a symbol table ('word integer-id' on every line): {e}") from None


# --- loading icefall's torch.save(lattice.as_dict()) files without unpickling arbitrary objects ---

_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch", "Size"),
    ("torch", "device"),
    ("_k2.ragged", "RaggedTensor"),  # ragged aux_labels; its state is (row_splits, name, values) tensors
}


def _check_globals(path: Path) -> None:
    """Refuse a file whose pickle names anything but tensor rebuilding and ``k2.RaggedTensor``.

    ``weights_only=True`` cannot load ragged ``aux_labels`` under torch 1.13 (it
    builds no classes but ``Parameter``), and torch 1.13 ignores a custom
    ``pickle_module`` when ``weights_only`` is off. So the pickle in the zip
    archive is scanned first with ``pickletools.genops`` (nothing runs): every
    object a pickle can call or build comes from a ``GLOBAL``/``INST`` opcode
    (module and name inline, checked here), ``STACK_GLOBAL`` or the extension
    registry (``EXT*``; both refused: ``torch.save`` uses protocol 2).
    """
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("data.pkl")]
            if len(names) != 1:
                raise LatticeFormatError(f"{path}: not a torch.save file (no single data.pkl)")
            data = z.read(names[0])
    except zipfile.BadZipFile:
        raise LatticeFormatError(f"{path}: not a k2 lattice file saved with torch.save (not a zip archive)") from None
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                module, name = str(arg).split(" ", 1)
                if (module, name) not in _ALLOWED_GLOBALS and not (module == "torch" and name.endswith("Storage")):
                    raise LatticeFormatError(f"{path}: refusing to load the global {module}.{name} "
                                             "(a lattice file holds only tensors)")
            elif op.name in ("STACK_GLOBAL", "EXT1", "EXT2", "EXT4"):
                raise LatticeFormatError(f"{path}: refusing a pickle with {op.name} (torch.save writes protocol 2)")
    except (ValueError, EOFError) as e:
        raise LatticeFormatError(f"{path}: corrupt pickle ({e})") from None


def _one_file(path: Path) -> tuple[k2.Fsa, list[str]]:
    _check_globals(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)  # safe: every global was checked
    except Exception as e:  # torch.load raises many types on corrupt input
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LatticeFormatError(f"{path}: not a k2 lattice file saved with torch.save(lattice.as_dict()) "
                                 f"({first})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("arcs"), torch.Tensor):
        raise LatticeFormatError(f"{path}: not a k2 lattice file: expected the dict of Fsa.as_dict() with 'arcs'")
    obj = dict(obj)
    ids = obj.pop("utt_ids", None)
    try:
        fsa = k2.Fsa.from_dict(obj)
    except Exception as e:
        raise LatticeFormatError(f"{path}: k2 cannot rebuild the lattice: {str(e).strip().splitlines()[0]}") from None
    if len(fsa.shape) == 2:
        fsa = k2.create_fsa_vec([fsa])
    n = fsa.shape[0]
    if ids is None:
        ids = [f"{path.stem}-{i}" for i in range(n)]
    if not isinstance(ids, (list, tuple)) or len(ids) != n or not all(isinstance(u, str) for u in ids):
        raise LatticeFormatError(f"{path}: 'utt_ids' must be a list of {n} strings, one per lattice")
    return fsa, list(ids)


def _ragged_aux_labels(fsa: k2.Fsa) -> k2.Fsa:
    """``fsa`` with tensor ``aux_labels`` made ragged (one word per arc), to concatenate with ragged ones."""
    if isinstance(getattr(fsa, "aux_labels", None), torch.Tensor):
        aux = fsa.aux_labels
        fsa = fsa.clone()
        fsa.aux_labels = k2.RaggedTensor(k2.ragged.regular_ragged_shape(aux.numel(), 1).to(aux.device), aux)
    return fsa


def load_k2_lattices(path: str | Path) -> tuple[k2.Fsa, list[str]]:
    """Lattices saved the icefall way, ``torch.save(lattice.as_dict(), path)``.

    ``path`` is one such file or a directory of ``*.pt`` files (read in name
    order and concatenated). A file's dict may carry ``utt_ids``, a list of
    utterance (cut) ids in the order of the FsaVec; without it the lattices
    are named ``<file stem>-<index>``. Loading never unpickles arbitrary
    objects: the pickle is checked to name only tensor types and
    ``k2.RaggedTensor`` before ``torch.load`` runs it.

    Returns:
        ``(lattices, utt_ids)``: a CPU ``FsaVec`` with axes ``[utt][state][arc]``
        and one id per lattice.

    Raises:
        LatticeFormatError: naming the file when it is not such a lattice,
            holds other objects, or two lattices share an id.
        FileNotFoundError: when nothing is there.
    """
    path = Path(path)
    files = sorted(path.glob("*.pt")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise FileNotFoundError(f"{path}: no k2 lattice files (*.pt)")
    vecs, ids, seen = [], [], {}
    for f in files:
        vec, names = _one_file(f)
        for u in names:
            if u in seen:
                raise LatticeFormatError(f"{f}: utterance id {u!r} already read from {seen[u]}")
            seen[u] = f
        vecs.append(vec)
        ids += names
    if len(vecs) == 1:
        return vecs[0], ids
    if len({type(getattr(v, "aux_labels", None)) for v in vecs}) > 1:
        vecs = [_ragged_aux_labels(v) for v in vecs]
    return k2.cat(vecs), ids


def save_k2_lattices(path: str | Path, lattices: k2.Fsa, utt_ids: Sequence[str] | None = None) -> None:
    """``torch.save(lattices.as_dict())`` (plus ``utt_ids``), atomically; :func:`load_k2_lattices` reads it."""
    from lightrnn_asr.lm.checkpoint import atomic_torch_save

    d = lattices.as_dict()
    if utt_ids is not None:
        if len(utt_ids) != lattices.shape[0]:
            raise ValueError(f"{len(utt_ids)} utterance ids for {lattices.shape[0]} lattices")
        d["utt_ids"] = list(utt_ids)
    atomic_torch_save(d, path)


# --- conversion ---


def _word_acceptor(fsa: k2.Fsa, keep_tokens: bool = False) -> k2.Fsa:
    """``fsa`` with word ids as labels (k2.invert for transducers: a ragged arc with several words
    becomes a chain of arcs); the token ids then move to ``aux_labels`` or, by default, are dropped."""
    if hasattr(fsa, "aux_labels"):
        fsa = k2.invert(fsa)
        if not keep_tokens:
            del fsa.aux_labels
    return fsa


def lattice_from_k2(
    fsa: k2.Fsa,
    words: k2.SymbolTable,
    remove_epsilon: bool = False,
    frame_shift: float | None = None,
    where: str = "k2 lattice",
) -> Lattice:
    """One k2 lattice (a single ``Fsa``, 2 axes) as the project's :class:`Lattice`.

    Word ids (``aux_labels``, or ``labels`` of a word acceptor) become the
    arc symbols through ``words`` (``0`` -> ``<eps>``, the final ``-1`` arcs
    -> ``</s>``, both fillers); ``am = scores - lm_scores`` and ``lm =
    lm_scores`` (``lm = 0`` without ``lm_scores``), float64 nats. Token labels
    are not kept.

    Args:
        remove_epsilon: first remove epsilon (non-word) arcs with
            ``k2.remove_epsilon`` (tropical semiring; ``lm_scores`` summed
            along the removed arcs). A CTC/HLG lattice has one arc per frame,
            mostly epsilon; the word lattice left is what rescoring needs.
            Without it, states and arcs are those of ``fsa`` (word acceptors
            and tensor ``aux_labels``), so :func:`lattice_to_k2` gives the
            same topology back.
        frame_shift: seconds per lattice frame (icefall: 0.04 = 10 ms x
            subsampling 4): every arc of a lattice from
            ``k2.intersect_dense*`` consumes one frame, so a state's time is
            its arc count from the start times ``frame_shift``. ``None``:
            times are NaN.

    Raises:
        LatticeFormatError: naming ``where`` for an FsaVec, an empty lattice,
            or a word id missing from ``words``.
    """
    if len(fsa.shape) != 2:
        raise LatticeFormatError(f"{where}: expected one Fsa (2 axes), got shape {tuple(fsa.shape)}; index the FsaVec")
    if fsa.shape[0] == 0 or fsa.num_arcs == 0:
        raise LatticeFormatError(f"{where}: the lattice is empty (decoding found no path)")
    w = _word_acceptor(fsa)
    if frame_shift is not None:
        if w is fsa:
            w = fsa.clone()  # the frame attribute must not land on the caller's lattice
        w.lightrnn_frames = torch.ones(w.num_arcs, dtype=torch.float32)
    if remove_epsilon:
        w = k2.top_sort(k2.connect(k2.remove_epsilon(w)))
        if w.shape[0] == 0:
            raise LatticeFormatError(f"{where}: no path is left after epsilon removal")
    arcs = w.arcs.values()[:, :3].to(torch.int64).cpu().numpy()
    scores = w.scores.detach().cpu().double().numpy()
    lm = w.lm_scores.detach().cpu().double().numpy() if hasattr(w, "lm_scores") else np.zeros(len(scores))
    symbols = []
    for label in arcs[:, 2].tolist():
        if label == -1:
            symbols.append(FINAL_SYMBOL)
        elif label == 0:
            symbols.append(EPSILON)
        else:
            word = words.get(label) if label in words else None
            if word is None:
                raise LatticeFormatError(f"{where}: word id {label} is not in the symbol table")
            symbols.append(word)
    num_states = int(w.shape[0])
    lat = Lattice(num_states, 0, num_states - 1, arcs[:, 0].copy(), arcs[:, 1].copy(), symbols,
                  scores - lm, lm.copy(), np.full(num_states, math.nan))
    if frame_shift is not None:
        frames = w.lightrnn_frames.detach().cpu().double().numpy()
        lat.times = _state_times(lat, frames, frame_shift, where)
    return lat


def _state_times(lat: Lattice, frames: np.ndarray, frame_shift: float, where: str) -> np.ndarray:
    """Seconds at every state: frames consumed from the start (along the first path found) x frame_shift."""
    t = np.full(lat.num_states, math.nan)
    t[lat.start] = 0.0
    by_src: dict[int, list[int]] = {}
    for a, s in enumerate(lat.src.tolist()):
        by_src.setdefault(s, []).append(a)
    for s in topological_order(lat, where).tolist():
        for a in by_src.get(s, ()):
            d = int(lat.dst[a])
            if math.isnan(t[d]) and not math.isnan(t[s]):
                t[d] = t[s] + frames[a]
    return t * frame_shift


def lattices_from_k2(lattices: k2.Fsa, utt_ids: Sequence[str], words: k2.SymbolTable,
                     remove_epsilon: bool = True, frame_shift: float | None = None) -> dict[str, Lattice]:
    """Every lattice of an ``FsaVec`` (:func:`lattice_from_k2`), ``{utt_id: Lattice}``."""
    if len(utt_ids) != lattices.shape[0]:
        raise ValueError(f"{len(utt_ids)} utterance ids for {lattices.shape[0]} lattices")
    return {u: lattice_from_k2(lattices[i], words, remove_epsilon, frame_shift, where=u)
            for i, u in enumerate(utt_ids)}


def _word_id(symbol: str, words: k2.SymbolTable, fillers: FillerMap) -> int:
    if fillers(symbol) is None:
        return 0
    for candidate in (symbol, fillers(symbol)):
        if candidate in words:
            return int(words[candidate])
    raise ValueError(f"the word {symbol!r} is not in the symbol table")


def lattice_to_k2(lat: Lattice, words: k2.SymbolTable, fillers: FillerMap | None = None) -> k2.Fsa:
    """A project :class:`Lattice` as a k2 word acceptor (one ``Fsa``).

    Labels are word ids (a symbol is looked up as written, then as
    ``fillers`` normalises it; fillers become epsilon, ``0``);
    ``scores = am + lm`` and ``lm_scores = lm`` (float32). States are
    renumbered with the start state 0 and the final state last, in
    topological order. When every arc into the final state is a filler and it
    has no arcs out, those arcs become the ``-1`` arcs k2 requires; otherwise a
    new final state is added behind a ``-1`` arc of score 0. A lattice read
    with :func:`lattice_from_k2` (no epsilon removal) thus comes back with its
    states, arcs, labels and scores.

    Raises:
        ValueError: for a word missing from ``words``.
        LatticeFormatError: for a cyclic lattice.
    """
    fillers = fillers or FillerMap()
    labels = np.array([_word_id(s, words, fillers) for s in lat.symbols], dtype=np.int64)
    into_final = lat.dst == lat.final
    direct = bool((labels[into_final] == 0).all()) and not (lat.src == lat.final).any()
    order = [s for s in topological_order(lat).tolist() if s not in (lat.start, lat.final)]
    order = [lat.start] + order + [lat.final]
    renumber = np.empty(lat.num_states, dtype=np.int64)
    renumber[np.array(order)] = np.arange(lat.num_states)
    src, dst = renumber[lat.src], renumber[lat.dst]
    am, lm = lat.am.copy(), lat.lm.copy()
    num_states = lat.num_states
    if direct:
        labels[into_final] = -1
    else:
        src = np.append(src, num_states - 1)
        dst = np.append(dst, num_states)
        labels = np.append(labels, -1)
        am, lm = np.append(am, 0.0), np.append(lm, 0.0)
        num_states += 1
    perm = np.argsort(src, kind="stable")
    arcs = torch.zeros(len(perm), 4, dtype=torch.int32)
    arcs[:, 0] = torch.from_numpy(src[perm])
    arcs[:, 1] = torch.from_numpy(dst[perm])
    arcs[:, 2] = torch.from_numpy(labels[perm])
    fsa = k2.Fsa(arcs)
    fsa.scores = torch.from_numpy(am[perm] + lm[perm]).to(torch.float32)
    fsa.lm_scores = torch.from_numpy(lm[perm]).to(torch.float32)
    return fsa


# --- icefall-style N-best ---


@dataclass
class K2NBest:
    """Distinct word sequences sampled from k2 lattices, with their best paths.

    Attributes:
        fsa: ``FsaVec`` of linear FSAs, axes ``[path][state][arc]``: each
            sequence's best path through its lattice (labels and attributes as
            in the lattice: token ``labels`` and word ``aux_labels`` for a
            transducer, word ``labels`` for an acceptor).
        shape: ``k2.RaggedShape`` with axes ``[utt][path]``.
        word_ids: one list of word ids (no epsilons) per path.
        am_scores, ngram_lm_scores: ``k2.RaggedTensor`` ``[utt][path]``,
            float64 nats: ``sum(scores - lm_scores)`` and ``sum(lm_scores)``
            over the best path (``ngram_lm_scores`` is 0 without ``lm_scores``).
    """

    fsa: k2.Fsa
    shape: k2.RaggedShape
    word_ids: list[list[int]]
    am_scores: k2.RaggedTensor
    ngram_lm_scores: k2.RaggedTensor


def _path_sums(paths: k2.Fsa, values: torch.Tensor) -> torch.Tensor:
    """``(num_paths,)`` float64 sums of a per-arc attribute over each linear FSA of ``paths``."""
    ragged = k2.RaggedTensor(paths.arcs.shape().remove_axis(1), values.to(torch.float64).contiguous())
    return ragged.sum()


def k2_nbest(lattices: k2.Fsa, num_paths: int, nbest_scale: float = 0.5,
             use_double_scores: bool = True) -> K2NBest:
    """N-best lists from k2 lattices the way icefall builds them (``Nbest.from_lattice`` + ``intersect``).

    ``num_paths`` paths are sampled per lattice with ``k2.random_paths`` from
    the scores scaled by ``nbest_scale`` (smaller: flatter, more distinct
    sequences); paths with the same word sequence are merged
    (``RaggedTensor.unique``); every distinct sequence is intersected with its
    lattice (``k2.intersect_device`` with epsilon self-loops) and its best path
    taken (``k2.shortest_path``), which gives its acoustic and n-gram scores.
    The sequences are a sample, not the n best: an utterance may get fewer
    than ``num_paths``, and an empty lattice none.

    Args:
        lattices: an ``FsaVec`` (axes ``[utt][state][arc]``), word ids in
            ``aux_labels`` or (acceptor) ``labels``; ``lm_scores`` optional.

    Raises:
        ValueError: for ``num_paths < 1`` or a lattice that is not an FsaVec.
    """
    if num_paths < 1:
        raise ValueError(f"num_paths must be >= 1, got {num_paths}")
    if len(lattices.shape) != 3:
        raise ValueError("expected an FsaVec with axes [utt][state][arc]")
    scaled = lattices.clone()
    scaled.scores = lattices.scores * nbest_scale
    paths = k2.random_paths(scaled, num_paths=num_paths, use_double_scores=use_double_scores)  # [utt][path][arc]
    transducer = hasattr(lattices, "aux_labels")
    if not transducer:
        word_seq = k2.ragged.index(lattices.labels.contiguous(), paths)
    elif isinstance(lattices.aux_labels, torch.Tensor):
        word_seq = k2.ragged.index(lattices.aux_labels.contiguous(), paths)
    else:
        word_seq = lattices.aux_labels.index(paths)
        word_seq = word_seq.remove_axis(word_seq.num_axes - 2)
    word_seq = word_seq.remove_values_leq(0)
    _, _, new2old = word_seq.unique(need_num_repeats=False, need_new2old_indexes=True)
    kept, _ = word_seq.index(new2old, axis=1)  # [utt][path][word]
    shape = kept.shape.get_layer(0)
    seqs = kept.remove_axis(0)  # [path][word]
    word_fsa = k2.linear_fsa(seqs)
    word_fsa.scores.zero_()
    loops = k2.add_epsilon_self_loops(word_fsa)
    inv = k2.arc_sort(_word_acceptor(lattices, keep_tokens=True))
    path_to_utt = shape.row_ids(1)
    path_lat = k2.intersect_device(inv, loops, b_to_a_map=path_to_utt.to(torch.int32), sorted_match_a=True)
    path_lat = k2.top_sort(k2.connect(path_lat))
    best = k2.shortest_path(path_lat, use_double_scores=use_double_scores)
    tot = _path_sums(best, best.scores)
    ngram = _path_sums(best, best.lm_scores) if hasattr(best, "lm_scores") else torch.zeros_like(tot)
    if transducer:
        best = k2.invert(best)  # token labels, word aux_labels again
    return K2NBest(best, shape, seqs.tolist(), k2.RaggedTensor(shape, tot - ngram), k2.RaggedTensor(shape, ngram))


def _hypotheses(nbest: K2NBest, words: k2.SymbolTable, fillers: FillerMap, utt_ids: Sequence[str],
                ) -> dict[str, list[Hypothesis]]:
    am = nbest.am_scores.values.tolist()
    ngram = nbest.ngram_lm_scores.values.tolist()
    splits = nbest.shape.row_splits(1).tolist()
    out = {}
    for i, utt in enumerate(utt_ids):
        hyps = []
        for p in range(splits[i], splits[i + 1]):
            missing = [w for w in nbest.word_ids[p] if w not in words]
            if missing:
                raise LatticeFormatError(f"{utt}: word id {missing[0]} is not in the symbol table")
            seq = [fillers(words[w]) for w in nbest.word_ids[p]]
            hyps.append(Hypothesis(tuple(x for x in seq if x is not None), am[p], ngram[p]))
        out[utt] = hyps
    return out


@dataclass
class K2Rescored:
    """Result of :func:`rescore_k2_nbest` / :func:`rescore_k2_lattices`.

    Attributes:
        best_path: ``FsaVec`` of linear FSAs, one per utterance (axes
            ``[utt][state][arc]``), the rescored 1-best under the given scales;
            empty for an utterance without hypotheses.
        scored: ``{utt_id: ScoredNBest}`` with every score separately, for
            :func:`~lightrnn_asr.rescore.tune_scales` and
            :func:`~lightrnn_asr.rescore.one_best`.
        am_scores, ngram_lm_scores, lm_scores, tot_scores: ``k2.RaggedTensor``
            ``[utt][path]``, float64 nats: acoustic, first-pass n-gram,
            LightRNN (``log P(W </s>)``) and combined scores of the hypotheses.
        lattices: the rescored lattices (``FsaVec``; :func:`rescore_k2_lattices`
            only): word acceptors with ``scores = am + lm_scores`` and
            ``lm_scores`` the combined LM score under the scales.
    """

    best_path: k2.Fsa
    scored: dict[str, ScoredNBest]
    am_scores: k2.RaggedTensor
    ngram_lm_scores: k2.RaggedTensor
    lm_scores: k2.RaggedTensor
    tot_scores: k2.RaggedTensor
    lattices: k2.Fsa | None = None


def _ragged(scored: Mapping[str, ScoredNBest], shape: k2.RaggedShape, scales: Scales,
            device: torch.device | None = None):
    """The four score arrays of ``scored`` as ``k2.RaggedTensor`` ``[utt][path]`` on ``device`` (the shape's)."""

    def cat(arrays):
        return torch.from_numpy(np.concatenate(arrays) if arrays else np.zeros(0)).to(torch.float64).to(device)

    am = cat([s.am for s in scored.values()])
    ng = cat([s.fp_lm if s.fp_lm is not None else np.zeros(len(s.am)) for s in scored.values()])
    lm = cat([s.lm for s in scored.values()])
    tot = cat([total_scores(s, scales) for s in scored.values()])
    return tuple(k2.RaggedTensor(shape, x) for x in (am, ng, lm, tot))


def _argmax(tot: k2.RaggedTensor) -> torch.Tensor:
    """Global index of each utterance's best path (-1 for an utterance without paths)."""
    splits = tot.shape.row_splits(1).tolist()
    values = tot.values
    idx = [int(torch.argmax(values[a:b])) + a if b > a else -1 for a, b in zip(splits[:-1], splits[1:])]
    return torch.tensor(idx, dtype=torch.int32)


def rescore_k2_nbest(
    lattices: k2.Fsa,
    utt_ids: Sequence[str],
    words: k2.SymbolTable,
    model: torch.nn.Module | None,
    vocab: Vocabulary | None,
    scales: Scales,
    num_paths: int = 100,
    nbest_scale: float = 0.5,
    oov_penalty: float = 0.0,
    fillers: FillerMap | None = None,
    device: torch.device | str | None = None,
) -> K2Rescored:
    """icefall-style N-best rescoring of k2 lattices with a LightRNN (or LSTM) LM.

    :func:`k2_nbest` samples and scores the distinct word sequences; the LM
    scores ``log P(W </s> | <s>)`` of each (words through ``words`` and
    ``fillers``, so ``<UNK>``-like symbols and variants are treated as in the
    rest of the project); each utterance's best path under ``scales`` is
    picked with ``k2.index_fsa``.

    Args:
        lattices: ``FsaVec`` on any device; ``utt_ids`` one id per lattice.
        model, vocab: the LM (``None`` for both: first-pass scores only).
        scales: ``am + lm_scale * lm + fp_lm_scale * ngram + word_penalty * |W|``.

    Returns:
        :class:`K2Rescored` (``lattices=None``).
    """
    fillers = fillers or FillerMap()
    if len(utt_ids) != lattices.shape[0]:
        raise ValueError(f"{len(utt_ids)} utterance ids for {lattices.shape[0]} lattices")
    nbest = k2_nbest(lattices, num_paths, nbest_scale)
    hyps = _hypotheses(nbest, words, fillers, utt_ids)
    for u, h in hyps.items():
        if not h:
            log.warning("%s: the lattice has no path; its hypothesis is empty", u)
    scored = score_nbest(model, vocab, hyps, oov_penalty, device=device)
    am, ng, lm, tot = _ragged(scored, nbest.shape, scales, lattices.device)
    best = k2.index_fsa(nbest.fsa, _argmax(tot).to(lattices.device))
    return K2Rescored(best, scored, am, ng, lm, tot)


def rescore_k2_lattices(
    lattices: k2.Fsa,
    utt_ids: Sequence[str],
    words: k2.SymbolTable,
    model: torch.nn.Module,
    vocab: Vocabulary,
    config: LatticeRescoreConfig | None = None,
    scales: Scales | None = None,
    n: int = 100,
    fillers: FillerMap | None = None,
    fp_lm: NgramFn | None = None,
    frame_shift: float | None = None,
    progress: bool = False,
) -> K2Rescored:
    """Pruned LM lattice rescoring (:func:`~lightrnn_asr.lattice_rescore.rescore_lattice`) of k2 lattices.

    Every lattice is turned into a word lattice (:func:`lattice_from_k2` with
    epsilon removal; its ``lm_scores`` become the first-pass LM term when
    ``config.input_lm``), expanded with the LM, and turned back into a k2 word
    acceptor whose ``lm_scores`` are the combined LM score under ``scales``
    (:func:`~lightrnn_asr.lattice_rescore.combine_scores`), so
    ``k2.shortest_path`` on it gives the rescored 1-best; the ``n`` best
    distinct sequences of each rescored lattice come back with their separate
    scores for tuning.

    Args:
        scales: the combination for the output lattices and best paths
            (default ``config.scales``, which also steers pruning).

    Raises:
        LatticeFormatError: naming the utterance for an empty lattice or an unknown word id.
    """
    config = config or LatticeRescoreConfig()
    scales = scales or config.scales
    fillers = fillers or FillerMap()
    lats = lattices_from_k2(lattices, utt_ids, words, remove_epsilon=True, frame_shift=frame_shift)
    rescored: dict[str, k2.Fsa] = {}

    def sink(utt: str, lat: Lattice) -> None:
        rescored[utt] = lattice_to_k2(combine_scores(lat, scales, fillers), words, fillers)

    scored = rescore_lattices(lats, model, vocab, config, n, fillers, fp_lm, progress=progress, sink=sink)
    out = k2.create_fsa_vec([rescored[u] for u in utt_ids]).to(lattices.device)
    best = k2.shortest_path(out, use_double_scores=True)
    counts = torch.tensor([0] + [len(scored[u].words) for u in utt_ids], dtype=torch.int32)
    shape = k2.ragged.create_ragged_shape2(row_splits=torch.cumsum(counts, 0, dtype=torch.int32))
    am, ng, lm, tot = _ragged(scored, shape, scales)
    return K2Rescored(best, scored, am, ng, lm, tot, out)
