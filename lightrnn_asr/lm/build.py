"""The model a config names: :func:`build_model`."""

from __future__ import annotations

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.lm.lstm import LSTMLM, AdaptiveLSTMLM
from lightrnn_asr.lm.recurrent import RecurrentLM
from lightrnn_asr.lm.table import WordTable

__all__ = ["build_model"]


def build_model(config: LMConfig, table: WordTable | None = None) -> RecurrentLM:
    """Instantiate the model named by ``config.model_type``.

    Raises:
        ValueError: when a LightRNN is asked for without a table.
    """
    if config.model_type == "lightrnn":
        if table is None:
            raise ValueError("a LightRNN needs a WordTable")
        return LightRNN(config, table)
    if config.model_type == "adaptive":
        return AdaptiveLSTMLM(config)
    return LSTMLM(config)
