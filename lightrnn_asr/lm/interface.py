"""The public language-model interface every scorer relies on: :class:`LanguageModel`.

N-best rescoring, perplexity and reallocation need whole-sentence log-probabilities; lattice
rescoring (ours and the k2 path) needs word-at-a-time scoring from a state it can copy, select and
batch. A model that implements this class works everywhere, with no special case; the LightRNN
and the LSTMs of this package are such models, and so may be a user's own (an n-gram, a
transformer behind a cache). In the spirit of ESPnet's ``ScorerInterface`` (``init_state``,
``score``) and torchaudio's ``CTCDecoderLM``.

Shapes used throughout:
    ``inputs``  ``(N, T)`` int64: ``<s> w_1 ... w_{T-1}`` (padded rows allowed),
    ``targets`` ``(N, T)`` int64: ``w_1 ... w_{T-1} </s>``; padding positions may
    hold any valid word id and are ignored through ``mask`` (``(N, T)`` bool).
    An :data:`LMState` is a tuple of tensors holding a batch of ``B`` histories.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

if TYPE_CHECKING:
    from lightrnn_asr.lm.compress import Compression

__all__ = ["LanguageModel", "LMState"]

#: A batch of ``B`` histories for word-at-a-time scoring: a tuple of tensors. By default every tensor
#: has the batch as dimension 0; a model whose state is laid out otherwise overrides
#: :meth:`LanguageModel.state_batch_dims`.
LMState = tuple[torch.Tensor, ...]


class LanguageModel(nn.Module):
    """A word-level language model scoring in natural-log probabilities (nats).

    A subclass implements :meth:`token_logprobs` (teacher-forced scoring of padded batches), and, for
    lattice rescoring, :meth:`initial_state` and :meth:`score_next`. It may split
    :meth:`score_next` into :meth:`score_words` and :meth:`advance`, so that lattice expansion
    advances only the histories it keeps (the models of this package do).

    Attributes:
        compression: how the weights were compressed (:class:`~lightrnn_asr.lm.compress.Compression`),
            ``None`` for a float model; set by :func:`~lightrnn_asr.lm.compress.compress_model`.
    """

    compression: "Compression | None" = None
    #: True for a model that reads sentences right to left (``<s> w_n ... w_1 </s>``, trained on reversed
    #: text): whoever scores a word sequence with it reverses the sequence first
    #: (:func:`~lightrnn_asr.text.corpus.in_reading_order`).
    backward: bool = False

    # -- whole sentences ---------------------------------------------------------------------------

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``log P(targets[n, t] | inputs[n, :t+1])`` as ``(N, T)`` float32 (nats)."""
        raise NotImplementedError

    def sentence_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sum of token log-probs over unmasked positions: ``(N,)`` float32 (nats).

        ``mask`` is ``(N, T)`` bool, True on real tokens (the final ``</s>`` included), so the
        result is ``log P(w_1 .. w_n </s> | <s>)``.
        """
        return (self.token_logprobs(inputs, targets) * mask).sum(dim=1)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced mean negative log-likelihood per token (scalar, nats)."""
        lp = self.token_logprobs(inputs, targets)
        return -(lp * mask).sum() / mask.sum().clamp(min=1)

    # -- word at a time ----------------------------------------------------------------------------

    def initial_state(self, n: int, bos_id: int = 0) -> LMState:
        """The state after reading ``<s>``, for a batch of ``n`` histories."""
        raise NotImplementedError

    def score_next(self, state: LMState, words: torch.Tensor) -> tuple[torch.Tensor, LMState]:
        """``log P(words[i] | history i)`` and the state after the words.

        Args:
            state: an :data:`LMState` of batch ``B``.
            words: ``(B,)`` int64 word ids.

        Returns:
            ``(logprob, new_state)``: ``(B,)`` float32 nats. Summed over a sentence (``</s>``
            included) this is :meth:`sentence_logprobs`, up to float error.
        """
        lp, partial = self.score_words(state, words)
        return lp, self.advance(partial, words)

    def score_words(self, state: LMState, words: torch.Tensor) -> tuple[torch.Tensor, LMState]:
        """The log-probabilities of :meth:`score_next`, with the state update possibly left for
        :meth:`advance`.

        Returns:
            ``(logprob, partial)``: ``(B,)`` float32 nats, and an :data:`LMState` (rows can be
            selected and batched like a state's) that :meth:`advance` turns into the state after
            the words. By default the whole of :meth:`score_next`, ``partial`` being its new state.
        """
        if type(self).score_next is LanguageModel.score_next:
            raise NotImplementedError(f"{type(self).__name__} implements neither score_next nor score_words")
        return self.score_next(state, words)

    def advance(self, partial: LMState, words: torch.Tensor) -> LMState:
        """The state after ``words`` (``(B,)`` int64) from :meth:`score_words`' ``partial``
        (by default ``partial`` itself)."""
        return partial

    @property
    def steps_word_by_word(self) -> bool:
        """True when the model implements word-at-a-time scoring (:meth:`initial_state` and
        :meth:`score_next` or :meth:`score_words`): lattice rescoring needs it, and N-best scoring
        then shares prefixes; a model with :meth:`token_logprobs` alone scores whole sentences."""
        cls = type(self)
        return cls.initial_state is not LanguageModel.initial_state and (
            cls.score_next is not LanguageModel.score_next or cls.score_words is not LanguageModel.score_words)

    # -- states ------------------------------------------------------------------------------------

    def state_batch_dims(self) -> tuple[int, ...]:
        """The batch dimension of every tensor of an :data:`LMState` (default: 0 for each)."""
        return ()

    def select_state(self, state: LMState, index: torch.Tensor) -> LMState:
        """The histories ``index`` (``(K,)`` int64, on the state's device) of a state: batch ``K``."""
        dims = self.state_batch_dims() or (0,) * len(state)
        return tuple(t.index_select(d, index) for t, d in zip(state, dims))

    def cat_states(self, states: Sequence[LMState]) -> LMState:
        """Several states joined along the batch, in order."""
        dims = self.state_batch_dims() or (0,) * len(states[0])
        return tuple(torch.cat([s[k] for s in states], d) for k, d in enumerate(dims))

    # -- the model as an object --------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """The device the model lives on (the first parameter's or buffer's; the CPU for none)."""
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")

    def num_parameters(self) -> int:
        """Weights and biases, float or int8 (int8 modules keep theirs outside ``parameters()``)."""
        if self.compression is not None:
            from lightrnn_asr.lm.compress import compressed_state, state_numel

            return state_numel(compressed_state(self))
        return sum(p.numel() for p in self.parameters())
