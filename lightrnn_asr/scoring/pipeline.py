"""The rescoring pipeline behind ``lightrnn-asr rescore``: score the input, tune the weights on dev
(or take them as given), write the 1-best, every hypothesis' scores and the rescored lattices.

:class:`RescoreConfig` holds what the command's options say; :func:`rescore` runs it on every rank
of a distributed run (rank 0 tunes and writes, the other ranks score their share of N-best chunks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from lightrnn_asr.evaluation.report import plot_scale_sweep
from lightrnn_asr.formats.nbest import NBestFormatError, read_text
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.compress import scoring_device
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig
from lightrnn_asr.scoring.nbest import BackwardLM, Scales, ScoredNBest, one_best, total_scores
from lightrnn_asr.scoring.sources import K2Source, LatticeSource, NBestSource, ScoreSource
from lightrnn_asr.scoring.tuning import TuneResult, tune_scales
from lightrnn_asr.scoring.writers import K2Writer, LatticeWriter
from lightrnn_asr.utils.distributed import DistContext
from lightrnn_asr.utils.io import atomic_text

__all__ = ["RescoreConfig", "rescore", "make_source"]

Grid = Sequence[float] | None  # values to try on dev; None: the automatic search


@dataclass
class RescoreConfig:
    """One rescoring run. Exactly one of ``nbest``, ``lattices`` and ``k2_lattices`` is the input;
    the weights are ``lm_scale``/``word_penalty``/``fp_lm_scale`` where given, the others are tuned on
    the dev input (``dev_nbest``, ``dev_lattices`` or ``dev_k2_lattices``, with ``dev_ref``) over
    ``lm_scales``/``word_penalties``/``fp_lm_scales``. Option by option as ``lightrnn-asr rescore --help``.
    """

    out: str
    nbest: str | None = None
    lattices: str | None = None
    k2_lattices: str | None = None
    model: str | None = None
    dev_nbest: str | None = None
    dev_lattices: str | None = None
    dev_k2_lattices: str | None = None
    dev_ref: str | None = None
    lm_scale: float | None = None
    word_penalty: float | None = None
    fp_lm_scale: float | None = None
    lm_scales: Grid = None
    word_penalties: Grid = None
    fp_lm_scales: Grid = None
    oov_penalty: float = 0.0
    lattice_format: str = "htk"
    words: str | None = None
    lattices_out: str | None = None
    k2_method: str = "nbest"
    num_paths: int = 100
    nbest_scale: float = 0.5
    lattice: LatticeRescoreConfig = field(default_factory=LatticeRescoreConfig)
    lattice_nbest: int = 100
    scores_out: str | None = None
    plot: str | None = None
    chunk_utterances: int = 2000
    backward_model: str | None = None
    backward_weight: float = 0.5

    @property
    def test_input(self) -> str:
        return self.nbest or self.lattices or self.k2_lattices

    @property
    def dev_input(self) -> str | None:
        return self.dev_lattices if self.lattices else self.dev_k2_lattices if self.k2_lattices else self.dev_nbest

    def fixed_scales(self) -> Scales:
        """The given weights (0 for a weight not given), for pruning and when nothing is tuned."""
        return Scales(self.lm_scale if self.lm_scale is not None else 0.0, self.word_penalty or 0.0,
                      self.fp_lm_scale or 0.0)


def make_source(cfg: RescoreConfig, model, vocab, ctx: DistContext, backward: BackwardLM | None = None) -> ScoreSource:
    """The input's :class:`~lightrnn_asr.scoring.sources.ScoreSource`; ``backward``: the LM of
    ``cfg.backward_model`` (N-best lists, k2 sampled N-best)."""
    if cfg.k2_lattices:
        return K2Source(model, vocab, cfg.lattice, cfg.words, cfg.k2_method, cfg.num_paths, cfg.nbest_scale,
                        cfg.lattice_nbest, backward)
    if cfg.lattices:
        return LatticeSource(model, vocab, cfg.lattice, cfg.lattice_format, cfg.words, cfg.lattice_nbest)
    return NBestSource(model, vocab, cfg.oov_penalty, cfg.chunk_utterances, ctx, backward)


def _tune(cfg: RescoreConfig, source: ScoreSource, say: Callable[[str], None]) -> Scales:
    """Weights tuned on the dev input; warns (``say``) when an optimum sits on a searched range's edge."""
    dev = source.score(cfg.dev_input)
    tuned: TuneResult = tune_scales(dev, read_text(cfg.dev_ref), cfg.lm_scales,
                                    cfg.word_penalties if cfg.word_penalty is None else [cfg.word_penalty],
                                    cfg.fp_lm_scales if cfg.fp_lm_scale is None else [cfg.fp_lm_scale])
    say(f"tuned on {cfg.dev_input}: {tuned.describe()} ({tuned.points} weight combinations)")
    for axis in tuned.on_edge:
        lo, hi = tuned.ranges[axis]
        say(f"Warning: the lowest dev WER is reached at the edge of the searched {axis} range "
            f"[{lo:.4g}, {hi:.4g}] (chosen: {getattr(tuned.scales, axis):.4g}); widen {GRID_OPTIONS[axis]}")
    if cfg.plot:
        plot_scale_sweep({Path(cfg.model or "am-only").stem: (tuned.lm_scales, tuned.sweep_wer)}, cfg.plot,
                         f"{cfg.dev_input}: WER vs lm_scale")
    return tuned.scales


#: The option that sets each tuned axis' grid (named in warnings).
GRID_OPTIONS = {"lm_scale": "--lm-scale", "word_penalty": "--word-penalty", "fp_lm_scale": "--fp-lm-scale"}


def _write(cfg: RescoreConfig, parts: Iterator[dict[str, ScoredNBest]], scales: Scales) -> None:
    """The 1-best (Kaldi text) and, with ``scores_out``, every hypothesis' scores (TSV), atomically."""
    with atomic_text(cfg.out) as out, atomic_text(cfg.scores_out) as tsv:
        if tsv:
            tsv.write("utt_id\tam_score\tlm_logprob\tn_words\tn_oov\ttotal\twords\n")
        n_utts = 0
        for scored in parts:
            n_utts += len(scored)
            for utt, words in one_best(scored, scales).items():
                out.write(" ".join([utt, *words]) + "\n")
            for utt, s in scored.items() if tsv else ():
                for k, tot in enumerate(total_scores(s, scales)):
                    tsv.write(f"{utt}\t{s.am[k]:.4f}\t{s.lm[k]:.4f}\t{s.n_words[k]}\t{s.n_oov[k]}\t{tot:.4f}\t"
                              f"{' '.join(s.words[k])}\n")
        if not n_utts:
            raise NBestFormatError(f"{cfg.test_input}: no hypothesis in file")


def _backward_lm(cfg: RescoreConfig, device: torch.device | None) -> BackwardLM | None:
    """The LM of ``cfg.backward_model`` on its scoring device, with ``cfg.backward_weight``; or ``None``."""
    if not cfg.backward_model:
        return None
    if not (cfg.nbest or (cfg.k2_lattices and cfg.k2_method == "nbest")) or not cfg.model:
        raise ValueError("a backward LM rescores N-best lists beside a forward LM: give --model, and N-best lists or "
                         "k2 lattices with --k2-method nbest")
    ck = load_checkpoint(cfg.backward_model)
    if not ck.model.backward:
        raise ValueError(f"{cfg.backward_model}: not a backward LM (it reads left to right); train one with "
                         "train --backward")
    return BackwardLM(ck.model.to(scoring_device(ck.model, device or torch.device("cpu"))), ck.vocab,
                      cfg.backward_weight)


def rescore(cfg: RescoreConfig, device: torch.device | None = None, ctx: DistContext | None = None,
            say: Callable[[str], None] = print) -> Scales | None:
    """Run ``cfg``: the weights used (rank 0), ``None`` on the other ranks of a distributed run.

    Args:
        device: where the LM runs (int8 models: the CPU); default the CPU.
        ctx: the distributed context (N-best input only); default a single process.
        say: receives progress messages (the tuned weights, warnings).

    Raises:
        NBestFormatError, LatticeFormatError, CheckpointError: naming file and line of bad input.
        ValueError: for a ``backward_model`` that is not a backward LM, or with lattice input.
        ImportError: for k2 input without k2 installed.
    """
    ctx = ctx or DistContext()
    model = vocab = None
    if cfg.model:
        ck = load_checkpoint(cfg.model)
        model, vocab = ck.model.to(scoring_device(ck.model, device or torch.device("cpu"))), ck.vocab
    backward = _backward_lm(cfg, device)
    source = make_source(cfg, model, vocab, ctx, backward)
    scales = cfg.fixed_scales()
    if cfg.lm_scale is None and ctx.is_main:  # the other ranks only score: they never need the scales
        scales = _tune(cfg, source, say)
    elif cfg.lm_scale is None:
        source.score(cfg.dev_input)  # this rank's share of the dev chunks
    writer = None
    if cfg.lattices_out and ctx.is_main:
        writer = K2Writer(cfg.lattices_out) if cfg.k2_lattices else LatticeWriter(
            cfg.lattices_out, cfg.lattice_format, cfg.words, scales)
    if isinstance(source, NBestSource):  # streamed: a chunk of utterances at a time, whatever the file's size
        parts = source.iter_scored(cfg.nbest, progress=True)
        if not ctx.is_main:
            for _ in parts:
                pass
            return None
    else:
        parts = iter([source.score(cfg.test_input, writer, scales)])
    _write(cfg, parts, scales)
    if writer is not None:
        writer.close()
    return scales

