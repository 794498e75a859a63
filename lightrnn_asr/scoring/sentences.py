"""Batched sentence log-probabilities and perplexity from any of the LMs.

This is the piece N-best rescoring, perplexity and reallocation share: give it
sentences as id tensors, get ``log P(w_1 .. w_n </s> | <s>)`` in nats back in
the original order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.text.corpus import Corpus, length_batches, make_batch
from lightrnn_asr.utils.device import autocast_for, split_on_oom, to_device
from lightrnn_asr.utils.progress import progress_bar

__all__ = ["score_sentences", "perplexity", "Perplexity"]

@torch.inference_mode()
def score_sentences(
    model: LanguageModel,
    sentences: Sequence[torch.Tensor] | Corpus,
    bos_id: int = 0,
    eos_id: int = 1,
    max_tokens: int = 8000,
    device: torch.device | str | None = None,
    progress: bool = False,
    amp: bool = True,
) -> np.ndarray:
    """Sentence log-probabilities, batched by length.

    Args:
        model: a :class:`~lightrnn_asr.lm.LightRNN` or :class:`~lightrnn_asr.lm.LSTMLM`.
        sentences: 1-D int64 id tensors (no ``<s>``/``</s>``), or a :class:`Corpus`.
        max_tokens: padded tokens per forward pass.
        device: defaults to the model's device.
        amp: on CUDA, run under bf16 (else fp16) autocast (:func:`autocast_for`); log-softmax
            and sums stay float32, but the logits carry bf16's 8-bit mantissa. Stated
            tolerance: 0.02 nats per token from ``amp=False``. The CUDA test in
            ``tests/test_model.py`` checks it on small models, and ``benchmarks/speed/lm_compare.py
            --device cuda`` records the difference at full size. No effect on the CPU.

    Returns:
        ``(n,)`` float64 array of ``log P(w_1 .. w_n </s> | <s>)`` in nats, in input order.

    Raises:
        MemoryError: when a single sentence does not fit in the device's memory. A batch that
            runs out of CUDA memory is split in halves and retried (with a warning), so
            ``max_tokens`` may be set for the largest device without crashing on a smaller one.
    """
    if isinstance(sentences, Corpus):
        corpus = sentences
        sentences = [corpus.sentence(i) for i in range(len(corpus))]
    device = torch.device(device) if device is not None else model.device
    was_training = model.training
    model.eval()
    lengths = torch.tensor([int(s.numel()) for s in sentences], dtype=torch.long)
    out = np.zeros(len(sentences), dtype=np.float64)
    batches = length_batches(lengths, max_tokens)

    def score(idx: torch.Tensor) -> list[float]:
        inputs, targets, mask = to_device(make_batch([sentences[i] for i in idx.tolist()], bos_id, eos_id), device)
        with autocast_for(device, amp):
            lp = model.sentence_logprobs(inputs, targets, mask)
        return lp.double().cpu().tolist()

    def too_big(i: torch.Tensor) -> str:
        return f"one sentence of {int(lengths[i])} words does not fit in {device} memory"

    try:
        for idx in progress_bar(batches, "scoring", "batch", progress, leave=False):
            out[idx.numpy()] = split_on_oom(score, idx, device, "scoring", "sentences", too_big)
    finally:
        model.train(was_training)
    return out


@dataclass
class Perplexity:
    """Perplexity over a corpus: ``exp(-total_logprob / num_tokens)``.

    ``num_tokens`` counts words and one ``</s>`` per sentence; ``oov_rate`` is
    the fraction of words mapped to ``<unk>`` (they are scored as ``<unk>``).
    """

    perplexity: float
    total_logprob: float
    num_tokens: int
    oov_rate: float


def perplexity(model: LanguageModel, corpus: Corpus, unk_id: int = 2, **kwargs) -> Perplexity:
    """Perplexity of ``model`` on ``corpus`` (keyword arguments go to :func:`score_sentences`)."""
    total = float(score_sentences(model, corpus, **kwargs).sum())
    n = corpus.num_tokens
    oov = float((corpus.ids == unk_id).sum()) / max(1, corpus.ids.numel())
    return Perplexity(math.exp(-total / n), total, n, oov)
