"""k2 rescoring: icefall-style sampled N-best rescoring and pruned lattice rescoring of k2 lattices.

In the project's terms (:class:`~lightrnn_asr.scoring.nbest.Scales`) the combined score of a
hypothesis is ``am + lm_scale * lm + fp_lm_scale * fp_lm + word_penalty * |W|``, with ``lm`` the
new LM and ``fp_lm`` the lattice's n-gram ``lm_scores``: ``lm_scale`` is icefall's ``rnn_lm_scale``
and ``fp_lm_scale`` its ``ngram_lm_scale``. Lattice conventions: :mod:`~lightrnn_asr.formats.k2_adapter`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import k2  # noqa: E402  (after the adapter, whose ImportError says how to install k2)
import numpy as np
import torch

from lightrnn_asr.formats.k2_adapter import (  # raises ImportError with the install hint without k2
    lattice_to_k2,
    lattices_from_k2,
    word_acceptor,
)
from lightrnn_asr.formats.lattice import FillerMap, Lattice, LatticeFormatError
from lightrnn_asr.formats.nbest import Hypothesis
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, NgramFn, combine_scores, rescore_lattices
from lightrnn_asr.scoring.nbest import BackwardLM, Scales, ScoredNBest, score_nbest, total_scores
from lightrnn_asr.text.vocabulary import Vocabulary

__all__ = ["K2NBest", "K2Rescored", "k2_nbest", "rescore_k2_nbest", "rescore_k2_lattices"]

log = logging.getLogger(__name__)


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
        am_scores, fp_lm_scores: ``k2.RaggedTensor`` ``[utt][path]``,
            float64 nats: ``sum(scores - lm_scores)`` and ``sum(lm_scores)``
            over the best path (``fp_lm_scores`` is 0 without ``lm_scores``).
    """

    fsa: k2.Fsa
    shape: k2.RaggedShape
    word_ids: list[list[int]]
    am_scores: k2.RaggedTensor
    fp_lm_scores: k2.RaggedTensor


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
    inv = k2.arc_sort(word_acceptor(lattices, keep_tokens=True))
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
    ngram = nbest.fp_lm_scores.values.tolist()
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
            :func:`~lightrnn_asr.scoring.tuning.tune_scales` and
            :func:`~lightrnn_asr.scoring.nbest.one_best`.
        am_scores, fp_lm_scores, lm_scores, tot_scores: ``k2.RaggedTensor``
            ``[utt][path]``, float64 nats: acoustic, first-pass n-gram,
            LightRNN (``log P(W </s>)``) and combined scores of the hypotheses.
        lattices: the rescored lattices (``FsaVec``; :func:`rescore_k2_lattices`
            only): word acceptors with ``scores = am + lm_scores`` and
            ``lm_scores`` the combined LM score under the scales.
    """

    best_path: k2.Fsa
    scored: dict[str, ScoredNBest]
    am_scores: k2.RaggedTensor
    fp_lm_scores: k2.RaggedTensor
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
    backward: BackwardLM | None = None,
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
        backward: a backward LM beside ``model``, its scores interpolated into ``lm``
            (:class:`~lightrnn_asr.scoring.nbest.BackwardLM`).

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
    if backward is not None:
        scored = backward.add_to(scored, hyps, oov_penalty, device=device)
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
    """Pruned LM lattice rescoring (:func:`~lightrnn_asr.scoring.lattice.rescore_lattice`) of k2 lattices.

    Every lattice is turned into a word lattice (:func:`lattice_from_k2` with
    epsilon removal; its ``lm_scores`` become the first-pass LM term when
    ``config.input_lm``), expanded with the LM, and turned back into a k2 word
    acceptor whose ``lm_scores`` are the combined LM score under ``scales``
    (:func:`~lightrnn_asr.scoring.lattice.combine_scores`), so
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
