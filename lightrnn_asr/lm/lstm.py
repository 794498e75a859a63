"""Word-level LSTM LMs, the baselines: full softmax and adaptive softmax (Grave et al., ICML 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.lm.recurrent import RecurrentLM, RecurrentState, Trunk, target_logprob

__all__ = ["LSTMLM", "AdaptiveLSTMLM"]


class LSTMLM(RecurrentLM):
    """Baseline LSTM LM: word embedding (|V|, E), the same trunk, full softmax (H -> |V|).

    Args:
        config: an :class:`LMConfig` with ``model_type="lstm"``.
    """

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.trunk = Trunk(config)
        self.head = self._make_head(config)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)

    def _make_head(self, config: LMConfig) -> nn.Module:
        return nn.Linear(config.hidden_dim, config.vocab_size)

    def initial_state(self, n: int, bos_id: int = 0) -> RecurrentState:
        bos = torch.full((n,), bos_id, dtype=torch.long, device=self.device)
        return self._read(self.embed(bos), self._zero_state(n))

    def score_words(self, state: RecurrentState, words: torch.Tensor) -> tuple[torch.Tensor, RecurrentState]:
        lp = F.log_softmax(self.head(state[0]).float(), dim=-1).gather(1, words[:, None])[:, 0]
        return lp, state

    def advance(self, partial: RecurrentState, words: torch.Tensor) -> RecurrentState:
        _, h, c = partial
        return self._read(self.embed(words), (h, c))

    @torch.no_grad()
    def next_word_logprobs(self, state: RecurrentState) -> torch.Tensor:
        """``log P(w | history)`` of every word, ``(B, |V|)`` float32 (nats): one softmax per history."""
        return F.log_softmax(self.head(state[0]).float(), dim=-1)

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return target_logprob(self.head(self.trunk(self.embed(inputs))), targets)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # cross_entropy fuses log-softmax and gather: less memory than token_logprobs at large |V|.
        logits = self.head(self.trunk(self.embed(inputs))).float()
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
        mask = mask.reshape(-1)
        return (nll * mask).sum() / mask.sum().clamp(min=1)


class AdaptiveLSTMLM(LSTMLM):
    """LSTM LM with an adaptive softmax output (Grave et al., ICML 2017), the usual modern
    alternative to LightRNN for large vocabularies: ``torch.nn.AdaptiveLogSoftmaxWithLoss``
    with ``config.cutoffs`` and ``div_value=4``. Same word embedding and trunk as :class:`LSTMLM`.

    Frequent words (the head cluster) cost ``H x cutoffs[0]`` to score; a rare word adds
    its tail cluster's softmax. Word ids must be sorted by frequency (the vocabulary is).

    Args:
        config: an :class:`LMConfig` with ``model_type="adaptive"``.
    """

    def _make_head(self, config: LMConfig) -> nn.Module:
        return nn.AdaptiveLogSoftmaxWithLoss(config.hidden_dim, config.vocab_size, config.cutoffs, div_value=4.0)

    def _logprob(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # float32 in: the module accumulates log-probs in its input's dtype (bf16 under autocast)
        out = self.head(hidden.reshape(-1, hidden.size(-1)).float(), targets.reshape(-1)).output
        return out.reshape(targets.shape).float()

    def score_words(self, state: RecurrentState, words: torch.Tensor) -> tuple[torch.Tensor, RecurrentState]:
        return self._logprob(state[0], words), state

    @torch.no_grad()
    def next_word_logprobs(self, state: RecurrentState) -> torch.Tensor:
        """``log P(w | history)`` of every word, ``(B, |V|)`` float32 (nats): the head cluster and every tail
        cluster once per history (``AdaptiveLogSoftmaxWithLoss.log_prob``)."""
        return self.head.log_prob(state[0].float())

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self._logprob(self.trunk(self.embed(inputs)), targets)

    loss = LanguageModel.loss
