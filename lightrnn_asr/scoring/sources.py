"""Rescoring inputs behind one interface: N-best files, lattice files and k2 lattice files.

Each source turns a path into ``{utt_id: ScoredNBest}`` (:meth:`score`), the input of tuning and of
the 1-best, whatever the input was: N-best lists are scored by the LM, lattices are rescored by
pruned expansion and their N best taken (:mod:`~lightrnn_asr.scoring.lattice`), k2 lattices go
through :mod:`~lightrnn_asr.scoring.k2_rescore`. ``sink``, when given, receives the rescored
lattices (to write them); ``scales`` are the weights for pruning and ranking, when already tuned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol

from lightrnn_asr.formats.lattice_io import iter_lattices
from lightrnn_asr.formats.nbest import NBestFormatError, iter_nbest
from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, rescore_lattices
from lightrnn_asr.scoring.nbest import BackwardLM, Scales, ScoredNBest, score_nbest
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.utils.distributed import DistContext, sharded_map
from lightrnn_asr.utils.progress import progress_bar

__all__ = ["ScoreSource", "NBestSource", "LatticeSource", "K2Source", "chunks"]

Scored = dict[str, ScoredNBest]


class ScoreSource(Protocol):
    """What the rescoring pipeline needs from an input."""

    def score(self, path: str, sink: Callable | None = None, scales: Scales | None = None) -> Scored:
        """Every utterance of ``path`` with its hypotheses' scores."""
        ...  # pragma: no cover


def chunks(items: Iterable[tuple[str, object]], size: int = 2000) -> Iterator[dict]:
    """Dicts of at most ``size`` utterances from an iterator of ``(utt, value)`` pairs."""
    chunk: dict = {}
    for utt, value in items:
        chunk[utt] = value
        if len(chunk) == size:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk


@dataclass
class NBestSource:
    """N-best files, streamed in chunks of ``chunk_utterances``; under torchrun chunk ``k`` is scored on
    rank ``k % N`` and rank 0 receives every chunk in file order (:func:`sharded_map`).

    ``model=None`` gives ``lm = 0`` (first-pass or acoustic-only systems). With ``backward`` ``lm``
    interpolates the two LMs' log-probs (:class:`~lightrnn_asr.scoring.nbest.BackwardLM`).
    """

    model: LanguageModel | None
    vocab: Vocabulary | None
    oov_penalty: float = 0.0
    chunk_utterances: int = 2000
    ctx: DistContext = field(default_factory=DistContext)
    backward: BackwardLM | None = None

    def _score_chunk(self, chunk: dict) -> Scored:
        scored = score_nbest(self.model, self.vocab, chunk, self.oov_penalty)
        return scored if self.backward is None else self.backward.add_to(scored, chunk, self.oov_penalty)

    def iter_scored(self, path: str, progress: bool = False) -> Iterator[Scored]:
        """Scored chunks of ``path`` in file order (on rank 0; other ranks score their share, yield nothing)."""
        parts = progress_bar(chunks(iter_nbest(path), self.chunk_utterances), "rescoring", "chunk",
                             progress and self.ctx.is_main)
        return sharded_map(self._score_chunk, parts, self.ctx)

    def score(self, path: str, sink: Callable | None = None, scales: Scales | None = None) -> Scored:
        """All of ``path`` (rank 0; empty on the others).

        Raises:
            NBestFormatError: for a file without hypotheses, or a malformed line (file and line named).
        """
        scored: Scored = {}
        for part in self.iter_scored(path):
            scored.update(part)
        if self.ctx.is_main and not scored:
            raise NBestFormatError(f"{path}: no hypothesis in file")
        return scored


@dataclass
class LatticeSource:
    """HTK, OpenFst or Kaldi lattice files (:func:`~lightrnn_asr.formats.lattice_io.iter_lattices`),
    rescored one lattice at a time; the ``n`` best distinct hypotheses of each are kept."""

    model: LanguageModel
    vocab: Vocabulary
    config: LatticeRescoreConfig
    lattice_format: str = "htk"
    words_path: str | None = None
    n: int = 100

    def score(self, path: str, sink: Callable | None = None, scales: Scales | None = None) -> Scored:
        return rescore_lattices(iter_lattices(path, self.lattice_format, self.words_path), self.model, self.vocab,
                                self.config, self.n, progress=True, sink=sink)


@dataclass
class K2Source:
    """k2 ``FsaVec`` files: icefall-style sampled N-best (``method="nbest"``, with a backward LM beside the
    model when ``backward`` is given, as :class:`NBestSource`) or pruned lattice rescoring
    (``"lattice"``). Needs k2 (``ImportError`` with the install hint without it)."""

    model: LanguageModel | None
    vocab: Vocabulary | None
    config: LatticeRescoreConfig
    words_path: str
    method: str = "nbest"
    num_paths: int = 100
    nbest_scale: float = 0.5
    n: int = 100
    backward: BackwardLM | None = None

    def __post_init__(self) -> None:
        from lightrnn_asr.formats.k2_adapter import read_k2_words  # imports k2

        self.words = read_k2_words(self.words_path)

    def score(self, path: str, sink: Callable | None = None, scales: Scales | None = None) -> Scored:
        from lightrnn_asr.formats.k2_adapter import load_k2_lattices
        from lightrnn_asr.scoring.k2_rescore import rescore_k2_lattices, rescore_k2_nbest

        lats, ids = load_k2_lattices(path)
        if self.method == "nbest":
            res = rescore_k2_nbest(lats, ids, self.words, self.model, self.vocab, scales or self.config.scales,
                                   self.num_paths, self.nbest_scale, self.config.oov_penalty,  # on the model's device
                                   backward=self.backward)
        else:
            res = rescore_k2_lattices(lats, ids, self.words, self.model, self.vocab, self.config, scales, self.n,
                                      progress=True)
        if sink is not None:
            sink(res, ids)
        return res.scored
