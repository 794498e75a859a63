"""k2 lattices: reading and writing them, and conversion to and from the project's :class:`Lattice`.

This module and :mod:`~lightrnn_asr.scoring.k2_rescore` are the only ones that import k2
(see docs/guides/k2-icefall.md for its install line); importing them without k2 raises ``ImportError`` with
that hint.

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
  ``am = scores - lm_scores`` and the first-pass n-gram score ``fp_lm`` is ``lm_scores``.
"""

from __future__ import annotations

import logging
import math
import pickletools
import zipfile
from pathlib import Path
from typing import Sequence

try:
    import k2
except ImportError as e:  # pragma: no cover - exercised only without k2
    raise ImportError("lightrnn_asr.formats.k2_adapter needs k2: pip install 'lightrnn-asr[k2]' "
                      "(k2's PyPI wheels need torch==1.13.1; see docs/guides/k2-icefall.md)") from e
import numpy as np
import torch

from lightrnn_asr.formats.lattice import EPSILON, FillerMap, Lattice, LatticeFormatError, topological_order
from lightrnn_asr.formats.symbols import read_symbol_pairs
from lightrnn_asr.utils.io import atomic_path

__all__ = ["FINAL_SYMBOL", "read_k2_words", "load_k2_lattices", "save_k2_lattices", "lattice_from_k2", "lattice_to_k2",
           "lattices_from_k2", "word_acceptor"]

log = logging.getLogger(__name__)

#: Symbol given to the ``-1`` arcs into a k2 lattice's final state (a filler for :class:`FillerMap`).
FINAL_SYMBOL = "</s>"


def read_k2_words(path: str | Path) -> k2.SymbolTable:
    """A ``words.txt`` symbol table (``word id`` per line) as a ``k2.SymbolTable``.

    Raises:
        FileNotFoundError: when it does not exist.
        LatticeFormatError: naming file and line when the file is not a symbol table
            (:func:`~lightrnn_asr.formats.symbols.read_symbol_pairs`).
    """
    text = "\n".join(f"{word} {i}" for word, i in read_symbol_pairs(path))
    try:
        return k2.SymbolTable.from_str(text)
    except (AssertionError, ValueError, IndexError) as e:
        raise LatticeFormatError(f"{path}: k2 refuses the symbol table: {e}") from None


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
    d = lattices.as_dict()
    if utt_ids is not None:
        if len(utt_ids) != lattices.shape[0]:
            raise ValueError(f"{len(utt_ids)} utterance ids for {lattices.shape[0]} lattices")
        d["utt_ids"] = list(utt_ids)
    with atomic_path(path) as tmp:
        torch.save(d, tmp)


# --- conversion ---


def word_acceptor(fsa: k2.Fsa, keep_tokens: bool = False) -> k2.Fsa:
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
    -> ``</s>``, both fillers); ``am = scores - lm_scores`` and ``fp_lm =
    lm_scores`` (zeros without ``lm_scores``), float64 nats. Token labels
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
    w = word_acceptor(fsa)
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
    lat = Lattice(num_states=num_states, start=0, final=num_states - 1, src=arcs[:, 0].copy(), dst=arcs[:, 1].copy(),
                  symbols=symbols, am=scores - lm, fp_lm=lm.copy(), times=np.full(num_states, math.nan))
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
    ``scores = am + fp_lm`` and ``lm_scores = fp_lm`` (float32; a rescored lattice goes through
    :func:`~lightrnn_asr.scoring.lattice.combine_scores` first). States are
    renumbered with the start state 0 and the final state last, in
    topological order. When every arc into the final state is a filler and it
    has no arcs out, those arcs become the ``-1`` arcs k2 requires; otherwise a
    new final state is added behind a ``-1`` arc of score 0. A lattice read
    with :func:`lattice_from_k2` (no epsilon removal) thus comes back with its
    states, arcs, labels and scores.

    Raises:
        ValueError: for a word missing from ``words``, or a rescored lattice (``lm`` set).
        LatticeFormatError: for a cyclic lattice.
    """
    if lat.lm is not None:
        raise ValueError("a rescored lattice has two LM scores and k2 one lm_scores: pass combine_scores(lattice, scales)")
    fillers = fillers or FillerMap()
    labels = np.array([_word_id(s, words, fillers) for s in lat.symbols], dtype=np.int64)
    into_final = lat.dst == lat.final
    direct = bool((labels[into_final] == 0).all()) and not (lat.src == lat.final).any()
    order = [s for s in topological_order(lat).tolist() if s not in (lat.start, lat.final)]
    order = [lat.start] + order + [lat.final]
    renumber = np.empty(lat.num_states, dtype=np.int64)
    renumber[np.array(order)] = np.arange(lat.num_states)
    src, dst = renumber[lat.src], renumber[lat.dst]
    am, lm = lat.am.copy(), lat.fp_lm.copy() if lat.fp_lm is not None else np.zeros(lat.num_arcs)
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
