"""Batched sentence log-probabilities and perplexity from any of the LMs.

This is the piece N-best rescoring, perplexity and reallocation share: give it
sentences as id tensors, get ``log P(w_1 .. w_n </s> | <s>)`` in nats back in
the original order.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .data import Corpus, length_batches, make_batch
from .model import model_device
from .progress import progress_bar

__all__ = ["score_sentences", "perplexity", "Perplexity", "autocast_for", "split_on_oom", "to_device"]

log = logging.getLogger(__name__)


def autocast_for(device: torch.device, enabled: bool = True):
    """Mixed precision context: bf16 (else fp16) autocast on CUDA, a no-op on CPU.

    Log-softmax and the sums are done in float32 by the models whatever the
    autocast dtype, so sentence scores keep float32 accuracy.
    """
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return torch.autocast(device_type="cpu", enabled=False)


@torch.inference_mode()
def score_sentences(
    model: torch.nn.Module,
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
        model: a :class:`~lightrnn_asr.model.LightRNN` or :class:`~lightrnn_asr.model.LSTMLM`.
        sentences: 1-D int64 id tensors (no ``<s>``/``</s>``), or a :class:`Corpus`.
        max_tokens: padded tokens per forward pass.
        device: defaults to the model's device.
        amp: on CUDA, run under bf16 (else fp16) autocast (:func:`autocast_for`); log-softmax
            and sums stay float32, but the logits carry bf16's 8-bit mantissa. Stated
            tolerance: 0.02 nats per token from ``amp=False``. The CUDA test in
            ``tests/test_model.py`` checks it on small models, and ``benchmarks/lm_compare.py
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
    device = torch.device(device) if device is not None else model_device(model)
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


def to_device(tensors: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """Move CPU tensors to ``device``; for CUDA through pinned memory, asynchronously."""
    if device.type != "cuda":
        return [t.to(device) for t in tensors]
    return [t.pin_memory().to(device, non_blocking=True) for t in tensors]


def split_on_oom(fn: Callable[[Sequence], list], items: Sequence, device: torch.device, what: str, unit: str,
                 too_big: Callable[[object], str]) -> list:
    """``fn(items)``, a list of one result per item; a batch that runs out of CUDA memory is split in
    halves and retried (with a warning naming ``what``), so a batch size chosen for the largest
    device does not end a run on a smaller one.

    Raises:
        MemoryError: ``too_big(item)`` when a single item does not fit.
    """
    try:
        return fn(items)
    except RuntimeError as e:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not _is_oom(e):
            raise
    # retried outside the except block, so the failed attempt's tensors are freed first
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if len(items) == 1:
        raise MemoryError(too_big(items[0]))
    log.warning("%s: out of memory on %s with %d %s; splitting the batch", what, device, len(items), unit)
    half = len(items) // 2
    return (split_on_oom(fn, items[:half], device, what, unit, too_big)
            + split_on_oom(fn, items[half:], device, what, unit, too_big))


def _is_oom(e: BaseException) -> bool:
    """A CUDA out-of-memory error (``torch.cuda.OutOfMemoryError``; older torch: its message)."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(e, oom)) or "out of memory" in str(e)


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


def perplexity(model: torch.nn.Module, corpus: Corpus, unk_id: int = 2, **kwargs) -> Perplexity:
    """Perplexity of ``model`` on ``corpus`` (keyword arguments go to :func:`score_sentences`)."""
    total = float(score_sentences(model, corpus, **kwargs).sum())
    n = corpus.num_tokens
    oov = float((corpus.ids == unk_id).sum()) / max(1, corpus.ids.numel())
    return Perplexity(math.exp(-total / n), total, n, oov)
