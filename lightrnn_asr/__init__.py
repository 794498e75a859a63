"""lightrnn-asr: LightRNN language models for ASR N-best and lattice rescoring.

The public API, in the order data flows: text -> vocabulary/table -> model ->
scores -> decisions -> report. Each name also lives in its subpackage
(``lightrnn_asr.text``, ``.lm``, ``.training``, ``.formats``, ``.scoring``,
``.evaluation``); see docs/design.md.
"""

from lightrnn_asr.evaluation import WerResult, bootstrap_ci, compute_wer
from lightrnn_asr.formats import (
    FillerMap,
    Hypothesis,
    Lattice,
    LatticeFormatError,
    NBestFormatError,
    iter_kaldi_nbest,
    lattice_nbest,
    read_fst_lattice,
    read_htk,
    read_kaldi_lattices,
    read_nbest,
    read_text,
    read_words,
    write_fst_lattice,
    write_htk,
    write_kaldi_lattices,
    write_nbest,
    write_text,
)
from lightrnn_asr.lm import (
    LSTMLM,
    AdaptiveLSTMLM,
    Checkpoint,
    CheckpointError,
    Compression,
    LanguageModel,
    LightRNN,
    LMConfig,
    LMState,
    OneStepLightRNN,
    WordTable,
    build_model,
    compress_model,
    export_torchscript,
    load_checkpoint,
    save_checkpoint,
    table_shape,
)
from lightrnn_asr.scoring import (
    BackwardLM,
    LatticeRescoreConfig,
    Scales,
    ScoredNBest,
    TuneResult,
    one_best,
    oracle,
    perplexity,
    rescore_lattice,
    rescore_lattices,
    rescored_nbest,
    score_nbest,
    score_sentences,
    tune_scales,
    with_backward_lm,
)
from lightrnn_asr.text import Corpus, Vocabulary, encode_corpus, normalize_text, read_sentences
from lightrnn_asr.training import (
    SOLVERS,
    Placement,
    TrainConfig,
    add_words,
    allocation_cost,
    loss_tables,
    reallocate,
    train,
)
from lightrnn_asr.training.assignment import (
    lower_bound,
    solve_alternating,
    solve_exact,
    solve_greedy,
    solve_rows_then_columns,
    solve_transport,
)

__version__ = "0.1.0"

__all__ = [
    "AdaptiveLSTMLM", "BackwardLM", "Checkpoint", "CheckpointError", "Compression", "Corpus", "FillerMap", "Hypothesis", "LMConfig",
    "LMState", "LSTMLM", "LanguageModel", "Lattice", "LatticeFormatError", "LatticeRescoreConfig", "LightRNN",
    "NBestFormatError", "OneStepLightRNN", "Placement", "SOLVERS", "Scales", "ScoredNBest", "TrainConfig", "TuneResult", "Vocabulary",
    "WerResult", "WordTable", "add_words", "allocation_cost", "bootstrap_ci", "build_model", "compress_model",
    "compute_wer", "encode_corpus", "export_torchscript", "iter_kaldi_nbest", "lattice_nbest", "load_checkpoint",
    "loss_tables", "lower_bound", "normalize_text", "one_best", "oracle", "perplexity", "read_fst_lattice",
    "read_htk", "read_kaldi_lattices", "read_nbest", "read_sentences", "read_text", "read_words", "reallocate",
    "rescore_lattice", "rescore_lattices", "rescored_nbest", "save_checkpoint", "score_nbest", "score_sentences",
    "solve_alternating", "solve_exact", "solve_greedy", "solve_rows_then_columns", "solve_transport", "table_shape",
    "train", "tune_scales", "with_backward_lm", "write_fst_lattice", "write_htk", "write_kaldi_lattices", "write_nbest", "write_text",
]
