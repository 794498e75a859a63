"""The recurrent trunk the LightRNN and the LSTM LMs share, and their common base class.

:class:`RecurrentLM` implements :class:`~lightrnn_asr.lm.interface.LanguageModel` for a model whose
history is a multi-layer LSTM state; subclasses choose the input vectors and the output head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.interface import LanguageModel

__all__ = ["RecurrentLM", "RecurrentState"]

#: A recurrent state: ``(out (B, H), h (L, B, H), c (L, B, H))``, the top layer's last output and
#: the LSTM's hidden and cell states (batch dimensions 0, 1, 1).
RecurrentState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]



def target_logprob(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[..., targets]`` in float32, by ``F.cross_entropy`` (one fused kernel,
    faster on the CPU than ``logits[target] - logsumexp(logits)``).

    Args:
        logits: ``(..., K)`` in any float dtype (bf16/fp16 under autocast).
        targets: ``(...)`` int64 class ids in ``[0, K)``.

    Returns:
        ``(...)`` float32 natural-log probabilities.
    """
    flat = logits.reshape(-1, logits.size(-1)).float()
    return -F.cross_entropy(flat, targets.reshape(-1), reduction="none").reshape(targets.shape)


class Trunk(nn.Module):
    """The shared recurrent trunk: dropout -> multi-layer LSTM -> dropout (input ``input_dim``, default ``embed_dim``)."""

    def __init__(self, cfg: LMConfig, input_dim: int | None = None) -> None:
        super().__init__()
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(
            input_dim or cfg.embed_dim,
            cfg.hidden_dim,
            cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        # device and dtype of recurrent states, whatever ``lstm`` becomes (int8, low-rank: see compress.py)
        self.register_buffer("anchor", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.drop(x))
        return self.drop(out)


class RecurrentLM(LanguageModel):
    """A :class:`LanguageModel` over the shared trunk (``self.trunk``, a :class:`Trunk`)."""

    config: LMConfig
    trunk: Trunk

    def state_batch_dims(self) -> tuple[int, ...]:
        return (0, 1, 1)

    @property
    def backward(self) -> bool:
        """The config's :attr:`~lightrnn_asr.lm.config.LMConfig.backward`: the model reads right to left."""
        return self.config.backward

    @property
    def lstm(self) -> nn.Module:
        """The trunk's recurrence: ``nn.LSTM``, or what compression made of it (low-rank, int8)."""
        return self.trunk.lstm

    def replace_lstm(self, lstm: nn.Module) -> None:
        """Swap the trunk's recurrence (compression: a low-rank LSTM of the same interface)."""
        self.trunk.lstm = lstm

    def _read(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> RecurrentState:
        out, (h, c) = self.trunk.lstm(x[:, None], state)
        return out[:, 0], h, c

    def _zero_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        anchor = self.trunk.anchor
        shape = (self.config.num_layers, n, self.config.hidden_dim)
        return anchor.new_zeros(shape), anchor.new_zeros(shape)

    @property
    def device(self) -> torch.device:
        """The device the model lives on (also for int8 models, which have no float parameters)."""
        return self.trunk.anchor.device
