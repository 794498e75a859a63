"""Language models: the public :class:`LanguageModel` interface, the LightRNN and its word table,
the LSTM baselines (word-level, and over BPE pieces), compression, export and checkpoints. Model code does no file I/O except
:mod:`~lightrnn_asr.lm.checkpoint` and :mod:`~lightrnn_asr.lm.export`."""

from lightrnn_asr.lm.build import build_model
from lightrnn_asr.lm.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.compress import Compression, compress_model
from lightrnn_asr.lm.config import LMConfig, default_cutoffs
from lightrnn_asr.lm.export import export_torchscript
from lightrnn_asr.lm.interface import LanguageModel, LMState
from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.lm.lightrnn_onestep import OneStepLightRNN
from lightrnn_asr.lm.lstm import LSTMLM, AdaptiveLSTMLM
from lightrnn_asr.lm.ngram import NgramLM
from lightrnn_asr.lm.piece_lstm import PieceLSTMLM
from lightrnn_asr.lm.recurrent import RecurrentLM
from lightrnn_asr.lm.table import WordTable, table_shape

__all__ = ["AdaptiveLSTMLM", "Checkpoint", "CheckpointError", "Compression", "LMConfig", "LMState", "LSTMLM",
           "LanguageModel", "LightRNN", "NgramLM", "OneStepLightRNN", "PieceLSTMLM",
           "RecurrentLM", "WordTable", "build_model", "compress_model", "default_cutoffs",
           "export_torchscript", "load_checkpoint", "save_checkpoint", "table_shape"]
