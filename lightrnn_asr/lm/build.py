"""The model a config names: :func:`build_model`."""

from __future__ import annotations

import torch

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.defaults import (
    DROPOUT,
    EMBED_DIM,
    HIDDEN_DIM,
    NUM_LAYERS,
    PRESETS,
)
from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.lm.lightrnn_onestep import OneStepLightRNN
from lightrnn_asr.lm.lstm import LSTMLM, AdaptiveLSTMLM
from lightrnn_asr.lm.piece_lstm import PieceLSTMLM
from lightrnn_asr.lm.recurrent import RecurrentLM
from lightrnn_asr.lm.table import WordTable, table_shape

__all__ = ["ALLOCATIONS", "build_model", "new_model"]

#: Initial LightRNN allocations: by frequency rank, row-major (the paper's), or uniformly random
#: (the official CNTK code's).
ALLOCATIONS = ("frequency", "random")


def build_model(config: LMConfig, table: WordTable | None = None) -> RecurrentLM:
    """Instantiate the model named by ``config.model_type``.

    Raises:
        ValueError: when a LightRNN is asked for without a table.
    """
    if config.model_type == "lightrnn":
        if table is None:
            raise ValueError("a LightRNN needs a WordTable")
        return LightRNN(config, table) if config.recurrence == "halfword" else OneStepLightRNN(config, table)
    if config.model_type == "adaptive":
        return AdaptiveLSTMLM(config)
    if config.model_type == "bpe":  # an empty piece table, which the checkpoint's weights fill
        return PieceLSTMLM(config)
    return LSTMLM(config)


def new_model(model_type: str, vocab_size: int, *, embed_dim: int = EMBED_DIM, hidden_dim: int = HIDDEN_DIM,
              num_layers: int = NUM_LAYERS, dropout: float = DROPOUT, cutoffs: list[int] | None = None,
              recurrence: str | None = None, tie_weights: bool = False, allocation: str = "frequency", seed: int = 0,
              word_bias: bool = False, table_scale: float = 1.0, col_hidden_dim: int | None = None,
              input_shortlist: int | None = None, output_shortlist: int | None = None, backward: bool = False,
              pieces: tuple[torch.Tensor, torch.Tensor, int] | None = None,
              preset: str = "default") -> tuple[RecurrentLM, WordTable | None]:
    """A freshly initialised model for a vocabulary of ``vocab_size`` words (ids in frequency order),
    and its table: a LightRNN starts on a table of :func:`table_shape` ``(vocab_size, table_scale)``
    (the paper's shape for ``table_scale = 1``) from the ``allocation`` named
    (``"frequency"``: :meth:`WordTable.sequential`; ``"random"``: :meth:`WordTable.random` seeded
    with ``seed``); the LSTMs have no table (``None``). ``col_hidden_dim`` is
    :attr:`LMConfig.col_hidden_dim` (a one-step LightRNN's column state size; 0: the LSTM's) and
    ``input_shortlist`` :attr:`LMConfig.input_shortlist` (how many frequent words get an input vector
    of their own) and ``output_shortlist`` :attr:`LMConfig.output_shortlist` (how many frequent words get an
    output vector of their own) and ``backward`` :attr:`LMConfig.backward` (the model reads right to left).
    A ``"bpe"`` model needs ``pieces``: ``(word_pieces (|V|, L) int32, word_piece_count (|V|,) int32,
    n_pieces)``, from :func:`~lightrnn_asr.text.pieces.word_piece_table` and the sentencepiece model.

    Every argument after ``vocab_size`` is a keyword. Those left at ``None`` (``recurrence``,
    ``col_hidden_dim``, the shortlists) take the values of the LightRNN ``preset`` named
    (:data:`~lightrnn_asr.lm.defaults.PRESETS`: ``"default"`` or ``"paper"``) and, where it has none,
    the defaults of :mod:`lightrnn_asr.lm.defaults`, the same as ``lightrnn-asr train``'s (``--preset``),
    so that both give the same model.

    Raises:
        ValueError: for an unknown preset, an invalid configuration (e.g. adaptive ``cutoffs`` out of range, tied
            weights with ``embed_dim != hidden_dim``), an unknown allocation, or a ``table_scale``
            above 1 without ``word_bias`` (whose bias of -30 on empty cells keeps them out of the
            column softmax) or below 1.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if model_type == "lightrnn":
        form = PRESETS[preset]
        recurrence = recurrence or form.get("recurrence")
        col_hidden_dim = form.get("col_hidden_dim") if col_hidden_dim is None else col_hidden_dim
        input_shortlist = form.get("input_shortlist") if input_shortlist is None else input_shortlist
        output_shortlist = form.get("output_shortlist") if output_shortlist is None else output_shortlist
    # what is still None, LMConfig takes from lightrnn_asr.lm.defaults
    if table_scale != 1.0 and not (model_type == "lightrnn" and word_bias):
        raise ValueError(f"a table scale of {table_scale} is for a LightRNN with word_bias (empty cells need its bias)")
    table = None
    if model_type == "lightrnn":
        shape = table_shape(vocab_size, table_scale)
        table = (WordTable.sequential(vocab_size, *shape) if allocation == "frequency"
                 else WordTable.random(vocab_size, torch.Generator().manual_seed(seed), *shape))
    if (model_type == "bpe") != (pieces is not None):
        raise ValueError("a bpe model needs its pieces (word_pieces, word_piece_count, n_pieces), and only it")
    rows, cols = (table.n_rows, table.n_cols) if table is not None else (0, 0)
    cfg = LMConfig(model_type=model_type, vocab_size=vocab_size, n_rows=rows, n_cols=cols, embed_dim=embed_dim,
                   hidden_dim=hidden_dim, num_layers=num_layers, dropout=dropout, cutoffs=list(cutoffs or []),
                   recurrence=recurrence, tie_weights=tie_weights, word_bias=word_bias, col_hidden_dim=col_hidden_dim,
                   input_shortlist=input_shortlist, output_shortlist=output_shortlist, backward=backward,
                   **({"n_pieces": pieces[2], "max_word_pieces": pieces[0].shape[1]} if pieces is not None else {}))
    if pieces is not None:
        return PieceLSTMLM(cfg, pieces[0], pieces[1]), None
    return build_model(cfg, table), table
