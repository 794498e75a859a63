"""lightrnn-asr: LightRNN language models for ASR N-best and lattice rescoring.

The public API, in the order data flows: text -> vocabulary/table -> model ->
scores -> decisions -> report.
"""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .compress import Compression, compress_model
from .data import Corpus, encode_corpus, read_sentences
from .export import export_torchscript
from .lattice import FillerMap, Lattice, LatticeFormatError, lattice_nbest, read_htk, write_htk
from .kaldi_lattice import read_fst_lattice, read_kaldi_lattices, read_words, write_fst_lattice, write_kaldi_lattices
from .kaldi_nbest import iter_kaldi_nbest
from .lattice_rescore import LatticeRescoreConfig, rescore_lattice, rescore_lattices, rescored_nbest
from .model import AdaptiveLSTMLM, LightRNN, LMConfig, LSTMLM, build_model
from .openvocab import Placement, add_words
from .nbest import Hypothesis, NBestFormatError, read_nbest, read_text, write_nbest, write_text
from .assignment import (
    lower_bound,
    solve_alternating,
    solve_exact,
    solve_greedy,
    solve_rows_then_columns,
    solve_transport,
)
from .reallocation import SOLVERS, allocation_cost, loss_tables, reallocate
from .rescore import Scales, one_best, oracle, score_nbest
from .tuning import TuneResult, tune_scales
from .scorer import perplexity, score_sentences
from .table import WordTable, table_shape
from .text import normalize_text
from .train import TrainConfig, train
from .vocab import Vocabulary
from .wer import WerResult, bootstrap_ci, compute_wer

__version__ = "0.1.0"

__all__ = [
    "Checkpoint", "CheckpointError", "Compression", "compress_model", "export_torchscript", "Placement", "Corpus", "FillerMap", "Hypothesis", "Lattice", "LatticeFormatError", "LatticeRescoreConfig",
    "AdaptiveLSTMLM", "LightRNN", "LMConfig", "LSTMLM", "NBestFormatError", "SOLVERS", "Scales", "TrainConfig", "Vocabulary",
    "WerResult", "WordTable", "add_words", "allocation_cost", "bootstrap_ci", "build_model", "compute_wer", "encode_corpus", "iter_kaldi_nbest",
    "lattice_nbest", "load_checkpoint", "loss_tables", "lower_bound", "normalize_text", "one_best", "oracle", "perplexity",
    "read_fst_lattice", "read_htk", "read_kaldi_lattices", "read_nbest", "read_words", "write_fst_lattice", "write_htk",
    "write_kaldi_lattices", "rescore_lattice", "rescore_lattices", "rescored_nbest", "read_sentences", "read_text", "reallocate", "save_checkpoint", "score_nbest",
    "score_sentences", "solve_alternating", "solve_exact", "solve_greedy", "solve_rows_then_columns", "solve_transport", "table_shape", "train", "tune_scales", "TuneResult", "write_nbest", "write_text",
]
