"""lightrnn-asr: LightRNN language models for ASR N-best and lattice rescoring.

The public API is what a user calls, in the order data flows: text -> model -> scores ->
decisions -> report. Everything else (the LSTM baselines, the allocation solvers, the lattice
writers, compression internals) stays reachable in its subpackage: ``lightrnn_asr.text``,
``.lm``, ``.training``, ``.formats``, ``.scoring``, ``.evaluation``, ``.decoders``; see
docs/design.md and the API reference (``make api``).
"""

from lightrnn_asr.evaluation import bootstrap_ci, compute_wer
from lightrnn_asr.formats import FillerMap, Hypothesis, Lattice, read_htk, read_kaldi_lattices, read_nbest, read_text, write_nbest
from lightrnn_asr.lm import Checkpoint, LanguageModel, LMConfig, compress_model, export_torchscript, load_checkpoint
from lightrnn_asr.scoring import (
    LatticeRescoreConfig,
    Scales,
    one_best,
    oracle,
    perplexity,
    rescore_lattices,
    score_nbest,
    score_sentences,
    tune_scales,
)
from lightrnn_asr.text import Vocabulary, read_sentences
from lightrnn_asr.training import TrainConfig, add_words, train

__version__ = "0.1.0"

__all__ = [
    # text and models
    "Vocabulary", "read_sentences", "LMConfig", "TrainConfig", "train", "add_words", "LanguageModel", "Checkpoint",
    "load_checkpoint", "compress_model", "export_torchscript",
    # first-pass inputs
    "read_nbest", "write_nbest", "read_text", "Hypothesis", "read_htk", "read_kaldi_lattices", "Lattice", "FillerMap",
    # scores and decisions
    "score_sentences", "perplexity", "score_nbest", "Scales", "tune_scales", "one_best", "oracle",
    "rescore_lattices", "LatticeRescoreConfig",
    # evaluation
    "compute_wer", "bootstrap_ci",
]
