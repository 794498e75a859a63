"""Data-parallel training and sharded rescoring on ``torch.distributed`` (launched by ``torchrun``).

``torchrun --nproc_per_node N`` starts N processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`init_distributed` reads them and
joins the process group (NCCL when the processes use CUDA, gloo on CPU). Without them (a plain
``lightrnn-asr`` run) everything here is a no-op for one process.

How the pieces divide the work (used by :mod:`lightrnn_asr.training.loop` and the CLI):

* Training data: sentence piece ``j`` of the text belongs to rank ``j % world_size``
  (:func:`lightrnn_asr.text.corpus.encode_corpus` with ``shard``); every rank keeps all pieces' lengths,
  so all ranks draw the *same global batches* as a single process would and each runs the part
  it holds. The loss of a rank is its token NLL sum divided by the global batch's tokens and
  multiplied by ``world_size``; DistributedDataParallel averages the gradients, so a step's
  gradient is the single-process one (up to floating-point summation order).
* Reallocation (LightRNN Section 3.3): each rank accumulates its ``V x R`` and ``V x C`` loss
  tables; they are summed onto rank 0 (:func:`reduce_to_main`), rank 0 solves the assignment and
  the new allocation is broadcast (:func:`broadcast_object`), so every rank installs the same table.
* Rescoring: chunk ``k`` of an N-best file is scored on rank ``k % world_size``; rank 0 gathers
  the chunks in order (:func:`sharded_map`) and writes the output, which is therefore identical
  to a single process's that scores the same chunks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, TypeVar

import torch
import torch.distributed as dist

__all__ = ["DistContext", "init_distributed", "shutdown", "sharded_map", "reduce_to_main", "broadcast_object",
           "all_reduce_sum"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a distributed run (rank 0 of 1 when not distributed).

    Attributes:
        rank: global rank, ``0 <= rank < world_size``.
        world_size: number of processes.
        local_rank: rank on this node (picks the CUDA device).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, writes checkpoints and output files."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group ``torchrun`` describes in the environment, if any.

    Args:
        device: the device asked for; under torchrun a CUDA device becomes ``cuda:LOCAL_RANK``.

    Returns:
        ``(context, device)``; ``(DistContext(), device)`` when ``WORLD_SIZE`` is unset or 1.

    Raises:
        RuntimeError: when ``WORLD_SIZE > 1`` but the rendezvous variables are incomplete, or a
            CUDA run has fewer visible GPUs than processes on the node.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(), device
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} but {', '.join(missing)} unset: launch with torchrun")
    ctx = DistContext(int(os.environ["RANK"]), world, int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"local rank {ctx.local_rank} but only {torch.cuda.device_count()} GPUs visible")
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ctx, device


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (after a barrier, so no rank exits while others still talk)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place (any shape and dtype the backend supports); returns it."""
    if ctx.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def reduce_to_main(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over all ranks onto rank 0 (in place there; other ranks' copies are undefined).

    A reduce moves about as many bytes as an all-reduce over a ring but leaves the sum only where
    it is needed (the reallocation solver runs on rank 0).
    """
    if ctx.enabled:
        dist.reduce(tensor, dst=0, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; for small objects: numbers, a word table)."""
    if not ctx.enabled:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sharded_map(fn: Callable[[T], R], chunks: Iterable[T], ctx: DistContext) -> Iterator[R]:
    """``fn`` over ``chunks``, chunk ``k`` computed on rank ``k % world_size``; results in order on rank 0.

    Every rank must iterate the same sequence of chunks (each reads the input itself; only the
    chunks it owns are passed to ``fn``). Rank 0 yields every result in chunk order; the other
    ranks yield nothing. Memory on rank 0: ``world_size`` results at a time.
    """
    if not ctx.enabled:
        yield from map(fn, chunks)
        return
    it = iter(chunks)
    while True:
        group = list(islice(it, ctx.world_size))
        mine = fn(group[ctx.rank]) if ctx.rank < len(group) else None
        gathered: list | None = [None] * ctx.world_size if ctx.is_main else None
        dist.gather_object(mine, gathered, dst=0)
        if ctx.is_main:
            yield from gathered[: len(group)]
        if len(group) < ctx.world_size:
            return
