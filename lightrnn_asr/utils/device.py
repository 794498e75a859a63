"""Device helpers shared by training, sentence scoring and lattice rescoring: device choice,
mixed precision, host-to-device copies, and batches that split themselves when CUDA memory runs out."""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch

__all__ = ["resolve_device", "autocast_for", "to_device", "split_on_oom"]

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device, enabled: bool = True):
    """Mixed precision context: bf16 (else fp16) autocast on CUDA, a no-op on CPU.

    Log-softmax and the sums are done in float32 by the models whatever the
    autocast dtype, so sentence scores keep float32 accuracy.
    """
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return torch.autocast(device_type="cpu", enabled=False)


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
