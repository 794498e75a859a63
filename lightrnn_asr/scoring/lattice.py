"""Pruned neural-LM lattice rescoring.

The algorithm of Xu et al., "A pruned RNNLM lattice-rescoring algorithm for
automatic speech recognition" (ICASSP 2018), as in Kaldi's
``lmrescore_pruned.sh``, for LightRNN and LSTM LMs:

- The lattice is expanded in topological order. A state of the rescored
  lattice is a lattice state plus a word history; it carries the LM's
  recurrent state. Every word arc out of it is scored by the LM from that
  state (``log P(word | history)``), and its destination is the
  destination lattice state with the history extended by the word.
- Histories that share their last ``n - 1`` words are merged
  (``ngram_order = n``): the merged state keeps the recurrent state of its
  best incoming path (by forward score), as in Kaldi. ``ngram_order=None``
  never merges, so every path is scored exactly (the lattice becomes a tree
  of histories).
- Pruning: before expansion, arcs whose best path is more than
  ``lattice_beam`` below the lattice's best path (forward-backward over the
  first-pass scores) are dropped; during expansion a lattice state keeps at
  most ``max_histories`` histories, those within ``beam`` of its best one
  (forward scores under the combination ``scales``, with the new LM).
- Global pruning (``global_beam``), Xu et al.'s heuristic: a history's
  best complete path is estimated as its forward score (new LM) plus the
  backward score of its lattice state in the input lattice, corrected for
  the LM change still to come. Kaldi's ``ComposeLatticePruned`` takes that
  correction from paths already completed in its best-first search; this
  expansion goes depth by depth and completes no path early, so the
  correction is the mean change per word seen so far (new combined LM score
  minus the input's LM score, over every word arc scored) times the number
  of words on the state's best backward path. Histories more than
  ``global_beam`` below the best estimate at their depth are dropped.
- The LM work is batched: all lattice states at the same depth (longest
  arc count from the start) are expanded together, one
  :meth:`score_next` call per batch of frontier arcs, and one LM step per
  distinct (history, word): arcs with the same word out of one rescored
  state (to different end times) share it. :func:`rescore_lattices` expands
  ``lattice_batch`` lattices in lockstep on one store of LM states, so that
  one LM call serves the frontier of all of them
  (:func:`~lightrnn_asr.scoring.expansion.expand_together`).
- A first-pass LM term: an n-gram function ``fp_lm`` scored on the same
  histories, or (``input_lm``) the input lattice's own LM scores, as
  Kaldi interpolates its graph costs with the new LM.

The result is a :class:`~lightrnn_asr.formats.lattice.Lattice` whose arcs carry the
acoustic score, the new LM's log-probability (nats) and, when a first-pass
n-gram is given, its log-probability on the same history; a final ``</s>``
arc carries ``log P(</s> | history)``. :func:`rescored_nbest` takes the
N best distinct word sequences from it with every score separately, for the
same scale tuning and reports as N-best rescoring.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import kaldifst
import numpy as np
import torch

from lightrnn_asr.formats.lattice import FillerMap, Lattice, LatticeFormatError
from lightrnn_asr.formats.lattice_paths import PathFinder, distinct_sequences, to_fst, word_labels
from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.scoring.expansion import (
    LatticeExpansion,
    LatticeRescoreConfig,
    NgramFn,
    _Estimate,
    build_rescored,
    expand_together,
    prune_lattice,
)
from lightrnn_asr.scoring.lm_store import LMStore
from lightrnn_asr.scoring.nbest import Scales, ScoredNBest
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.utils.progress import progress_bar

__all__ = ["LatticeRescoreConfig", "NgramFn", "combine_scores", "rescore_lattice", "rescore_lattice_batch", "rescore_lattices",
           "rescored_nbest"]

log = logging.getLogger(__name__)

@torch.inference_mode()
def rescore_lattice(
    lat: Lattice,
    model: LanguageModel,
    vocab: Vocabulary,
    config: LatticeRescoreConfig | None = None,
    fillers: FillerMap | None = None,
    fp_lm: NgramFn | None = None,
    where: str = "lattice",
) -> Lattice:
    """Rescore a lattice with a neural LM by pruned expansion (see the module docstring).

    Args:
        lat: an acyclic lattice (any state numbering).
        model: a :class:`~lightrnn_asr.lm.LightRNN` or ``LSTMLM`` (its
            device is used; evaluation mode is set for the call).
        vocab: the model's vocabulary; lattice words outside it are scored as
            ``<unk>`` plus ``config.oov_penalty``.
        fillers: which lattice symbols are not words (epsilon arcs).
        fp_lm: a first-pass n-gram scored on the same histories (exact when
            its order is at most ``ngram_order``); or see ``config.input_lm``.
        where: the lattice's name for error messages (its file).

    Returns:
        The rescored lattice: state 0 is the start, the last state the final
        one; ``lm`` holds the new LM's log-probabilities (nats), ``fp_lm``
        the n-gram's (or zeros), ``am`` the input's acoustic scores, and the
        arcs into the final state have the symbol ``</s>`` (a filler).

    Raises:
        LatticeFormatError: for a cycle or when no path reaches the final state.
        ValueError: for both ``fp_lm`` and ``config.input_lm``, or a lattice rescored already (``lm`` set).
    """
    return rescore_lattice_batch([(where, lat)], model, vocab, config, fillers, fp_lm)[0]


@torch.inference_mode()
def rescore_lattice_batch(
    lattices: Sequence[tuple[str, Lattice]],
    model: LanguageModel,
    vocab: Vocabulary,
    config: LatticeRescoreConfig | None = None,
    fillers: FillerMap | None = None,
    fp_lm: NgramFn | None = None,
) -> list[Lattice]:
    """:func:`rescore_lattice` of several ``(name, lattice)`` pairs expanded in lockstep, one LM call
    serving the frontier of all of them; the same results, in order.

    Raises:
        LatticeFormatError: naming the lattice, for a cycle or when no path reaches its final state.
        ValueError: for both ``fp_lm`` and ``config.input_lm``, or a lattice rescored already (``lm`` set).
    """
    config = config or LatticeRescoreConfig()
    if config.input_lm and fp_lm is not None:
        raise ValueError("give either an fp_lm function or config.input_lm, not both")
    fillers = fillers or FillerMap()
    prepared = []
    for where, lat in lattices:
        if lat.lm is not None:
            raise ValueError(f"{where}: the lattice is rescored already (lm is set); combine_scores makes it "
                             "the input of a next pass")
        word = [fillers(s) for s in lat.symbols]
        word_id = [vocab.id(w) if w is not None else -1 for w in word]
        prepared.append((where, lat, word, word_id, prune_lattice(lat, word_id, config.lattice_beam, where)))
    was_training = model.training
    model.eval()
    try:
        results = _expand_batch(prepared, model, vocab, config, fp_lm, math.isfinite(config.global_beam))
        if math.isfinite(config.global_beam):
            redo = [i for i, r in enumerate(results) if r is None]
            for i in redo:
                log.warning("%s: the global beam %g pruned every path; expanding again without it",
                            prepared[i][0], config.global_beam)
            for i, r in zip(redo, _expand_batch([prepared[i] for i in redo], model, vocab, config, fp_lm, False)):
                results[i] = r
        for (where, lat, *_), r in zip(prepared, results):
            if r is None:
                raise LatticeFormatError(f"{where}: no path reaches the final state {lat.final} after pruning")
    finally:
        model.train(was_training)
    return [build_rescored(lat, *r) for (_, lat, *_), r in zip(prepared, results)]


def _expand_batch(prepared: list, model: LanguageModel, vocab: Vocabulary, config: LatticeRescoreConfig,
                  fp_lm: NgramFn | None, global_beam: bool) -> list:
    """The expansions of ``prepared`` lattices on one shared LM store, in lockstep."""
    if not prepared:
        return []
    names = [p[0] for p in prepared]
    where = names[0] if len(names) == 1 else f"{names[0]} (with {len(names) - 1} more lattices in its batch)"
    store = LMStore(model, vocab.bos_id, config.batch_size, where)
    expansions = [LatticeExpansion(lat, pruned, model, vocab, config, word, word_id, fp_lm, name,
                                   _Estimate(pruned.bwd, pruned.words_left, config.global_beam) if global_beam else None,
                                   store)
                  for name, lat, word, word_id, pruned in prepared]
    return expand_together(expansions)


def rescored_nbest(
    lat: Lattice,
    n: int,
    scales: Scales,
    fillers: FillerMap | None = None,
    vocab: Vocabulary | None = None,
) -> ScoredNBest:
    """The ``n`` best distinct word sequences of a rescored lattice, with every score separately.

    Paths are ranked by ``am + lm_scale * lm + word_penalty * |W| +
    fp_lm_scale * fp_lm``. Distinct sequences come from kaldifst
    (determinization in the tropical semiring, then ``shortest_path``);
    each sequence's scores are those of its best path, found by composing the
    lattice (arc ids as output labels) with the sequence.

    Returns:
        A :class:`~lightrnn_asr.scoring.nbest.ScoredNBest` (best first) with
        ``am``, ``lm`` (new LM, nats), ``fp_lm`` (n-gram, nats, or ``None``
        when the lattice has none), ``n_words`` and ``n_oov`` (when ``vocab``).

    Raises:
        ValueError: for ``n < 1``, or a lattice that was not rescored (``lm`` is ``None``).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if lat.lm is None:
        raise ValueError("the lattice has no new-LM scores (lm is None): rescore it first, or take its N-best "
                         "with lightrnn_asr.formats.lattice_paths.lattice_nbest")
    labels, id2word = word_labels(lat, fillers or FillerMap())
    fp = lat.fp_lm if lat.fp_lm is not None else np.zeros(lat.num_arcs)
    is_word = np.array([x > 0 for x in labels], dtype=np.float64)
    total = lat.am + scales.lm_scale * lat.lm + scales.word_penalty * is_word + scales.fp_lm_scale * fp
    acceptor, paths = to_fst(lat, labels, -total), PathFinder(lat, labels, -total)
    kaldifst.rmepsilon(acceptor)
    seqs = distinct_sequences(acceptor, n)
    words, am, lm, fpl = [], [], [], []
    for _, seq in seqs:
        arcs = paths.best_path_arcs(seq)
        words.append(tuple(id2word[i] for i in seq))
        am.append(float(lat.am[arcs].sum()))
        lm.append(float(lat.lm[arcs].sum()))
        fpl.append(float(fp[arcs].sum()))
    n_oov = [sum(1 for w in ws if w not in vocab and w != "<unk>") if vocab else 0 for ws in words]
    return ScoredNBest(words=words, am=np.array(am), lm=np.array(lm),
                       n_words=np.array([len(w) for w in words], dtype=np.int64),
                       n_oov=np.array(n_oov, dtype=np.int64),
                       fp_lm=np.array(fpl) if lat.fp_lm is not None else None)


def combine_scores(lat: Lattice, scales: Scales, fillers: FillerMap | None = None) -> Lattice:
    """A rescored lattice as the input of a next pass: its one LM score per arc is the tuned
    combination ``lm_scale * lm + fp_lm_scale * fp_lm + word_penalty`` (per word arc), which becomes
    the lattice's ``fp_lm`` (``lm=None``); ``am`` unchanged. For formats with a single graph cost
    (Kaldi, OpenFst, k2's ``lm_scores``), where ``am + fp_lm`` then ranks paths as
    :func:`rescored_nbest` does, as Kaldi's ``lmrescore`` scripts leave the graph cost.

    Raises:
        ValueError: for a lattice that was not rescored (``lm`` is ``None``).
    """
    if lat.lm is None:
        raise ValueError("the lattice has no new-LM scores (lm is None): rescore it first")
    fillers = fillers or FillerMap()
    is_word = np.array([fillers(s) is not None for s in lat.symbols], dtype=np.float64)
    fp = lat.fp_lm if lat.fp_lm is not None else np.zeros(lat.num_arcs)
    combined = scales.lm_scale * lat.lm + scales.fp_lm_scale * fp + scales.word_penalty * is_word
    return dataclasses.replace(lat, fp_lm=combined, lm=None)


def rescore_lattices(
    lattices: Mapping[str, Lattice] | Iterable[tuple[str, Lattice]],
    model: LanguageModel,
    vocab: Vocabulary,
    config: LatticeRescoreConfig | None = None,
    n: int = 100,
    fillers: FillerMap | None = None,
    fp_lm: NgramFn | None = None,
    progress: bool = False,
    sink: Callable[[str, Lattice], None] | None = None,
) -> dict[str, ScoredNBest]:
    """Rescore every lattice and take its ``n`` best (:func:`rescore_lattice`, :func:`rescored_nbest`).

    The N-best lists are ranked with ``config.scales``; their separate scores
    feed :func:`~lightrnn_asr.scoring.tuning.tune_scales` and
    :func:`~lightrnn_asr.scoring.nbest.one_best` exactly like rescored N-best lists.
    Logs lattices/s and LM arcs/s at the end. ``sink(utt, rescored_lattice)``,
    when given, receives every rescored lattice (to write it). ``lattices`` may
    be a mapping or an iterator of ``(utt, lattice)`` pairs, which is consumed
    one lattice at a time (the CLI reads files that way, so only the N-best
    results accumulate). ``config.lattice_batch`` lattices are expanded together
    (:func:`rescore_lattice_batch`): fewer, larger LM calls, the same results.

    Raises:
        LatticeFormatError: naming the utterance for a lattice that cannot be rescored.
    """
    config = config or LatticeRescoreConfig()
    out, arcs, start = {}, 0, time.perf_counter()
    items = lattices.items() if isinstance(lattices, Mapping) else lattices  # pairs: read one at a time
    bar = progress_bar(None, "lattice rescoring", "lat", progress)
    for chunk in _chunks(iter(items), config.lattice_batch):
        for (utt, _), rescored in zip(chunk, rescore_lattice_batch(chunk, model, vocab, config, fillers, fp_lm)):
            arcs += rescored.num_arcs
            if sink is not None:
                sink(utt, rescored)
            out[utt] = rescored_nbest(rescored, n, config.scales, fillers, vocab)
        bar.update(len(chunk))
    bar.close()
    seconds = time.perf_counter() - start
    log.info("rescored %d lattices in %.1f s (%.2f s per lattice, %d rescored arcs)",
             len(out), seconds, seconds / max(1, len(out)), arcs)
    return out


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk
