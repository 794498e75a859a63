"""One pass over the training text: :func:`train_epoch` (batches, mixed precision, DDP weighting,
an optional deadline or token limit), used by :mod:`lightrnn_asr.training.loop`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.text.corpus import Corpus, length_batches, make_batch
from lightrnn_asr.utils.device import autocast_for, to_device
from lightrnn_asr.utils.distributed import DistContext, all_reduce_sum
from lightrnn_asr.utils.progress import progress_bar

__all__ = ["EpochResult", "LossModule", "grad_scaler", "train_epoch"]

#: How often (in steps) a run with a deadline asks whether the time is up: in a distributed run that
#: is one all-reduce of a flag, so that every rank stops at the same step.
DEADLINE_CHECK_STEPS = 20


def grad_scaler(enabled: bool):
    """``GradScaler`` for fp16 on CUDA (disabled: a no-op), on torch >= 1.13."""
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # torch < 2.3


class LossModule(torch.nn.Module):
    """``model.loss`` as ``forward``, so DistributedDataParallel sees the step (its hooks run on forward).

    With ``sums`` (a :class:`~lightrnn_asr.training.reallocation.LossTableSums`, LightRNN only) the
    step also adds its tokens to the reallocation loss tables: the loss is then taken from the
    same full row and column log-softmaxes (:meth:`LightRNN.loss_and_logprobs`), so the tables
    cost one ``index_add_`` per batch instead of a pass over the text.
    """

    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, sums=None) -> torch.Tensor:
        if sums is None:
            return self.model.loss(inputs, targets, mask)
        loss, row_lp, col_lp = self.model.loss_and_logprobs(inputs, targets, mask)
        sums.add(targets, mask, row_lp.detach(), col_lp.detach())
        return loss


@dataclass
class EpochResult:
    """What one pass did, over all ranks: mean token NLL (nats), tokens, seconds, and whether the
    deadline cut it short."""

    nll: float
    tokens: int
    seconds: float
    cut_short: bool = False


def _time_is_up(deadline: float | None, device: torch.device, ctx: DistContext) -> bool:
    if deadline is None:
        return False
    if not ctx.enabled:  # one process: no device tensor, no sync
        return time.perf_counter() > deadline
    flag = torch.tensor([float(time.perf_counter() > deadline)], device=device)
    return bool(all_reduce_sum(flag, ctx).item() > 0)  # any rank out of time: all stop


def train_epoch(model: LanguageModel, step_loss: torch.nn.Module, corpus: Corpus, opt: torch.optim.Optimizer,
                scaler, settings, gen: torch.Generator, device: torch.device, desc: str, ctx: DistContext,
                deadline: float | None = None, sums=None, token_limit: int | None = None) -> EpochResult:
    """One pass with Adam (``settings``: a :class:`~lightrnn_asr.training.loop.TrainConfig`).

    Batches are drawn over the whole text (:meth:`Corpus.global_lengths`), so every rank draws
    the same ones; a rank runs the sentences of each batch that its shard holds, and weights its
    mean loss by its share of the batch's tokens times the world size, which DDP's gradient
    averaging turns into the whole batch's mean.

    Args:
        deadline: a ``time.perf_counter()`` value; the pass stops at the first check after it
            (every :data:`DEADLINE_CHECK_STEPS` steps, the same step on every rank).
        sums: a :class:`~lightrnn_asr.training.reallocation.LossTableSums` (LightRNN) that the pass
            restarts and fills with the loss tables of its training steps (see :class:`LossModule`).
        token_limit: stop before the first step once this many tokens (words and ``</s>``, all ranks
            together) have been trained in this pass. Unlike ``deadline`` the stopping step does not
            depend on the machine's speed: the same data, seed and limit stop at the same step.
    """
    model.train()
    total_tok = 0
    start = time.perf_counter()
    all_lengths = corpus.global_lengths()
    batches = length_batches(all_lengths, settings.max_tokens, generator=gen)
    bar = progress_bar(batches, desc, "batch", ctx.is_main, leave=False, mininterval=2.0)
    nll_acc = torch.zeros((), dtype=torch.float64, device=device)
    empty = torch.zeros(0, dtype=torch.long)
    cut_short = False
    if sums is not None:
        sums.zero_()
    global_tok = 0  # tokens of the batches taken so far, the same count on every rank
    for step, idx in enumerate(bar):
        if step % DEADLINE_CHECK_STEPS == 0 and step and _time_is_up(deadline, device, ctx):
            cut_short = True
            break
        if token_limit is not None and global_tok >= token_limit:
            cut_short = True
            break
        if token_limit is not None or ctx.enabled:  # the batch's tokens over all ranks (CPU lengths: no sync)
            batch_tok = int(all_lengths[idx].sum()) + idx.numel()
            global_tok += batch_tok
        local = corpus.local_indices(idx).tolist()
        # a rank holding none of this batch still joins the step (DDP all-reduces every step): one
        # empty sentence, weighted 0
        inputs, targets, mask = make_batch([corpus.sentence(i) for i in local] or [empty], 0, 1)
        n_tok = int(mask.sum()) if local else 0  # on the CPU, before the copy: no device sync per step
        inputs, targets, mask = to_device((inputs, targets, mask), device)
        with autocast_for(device, settings.amp):
            loss = step_loss(inputs, targets, mask, sums)
        weighted = loss
        if ctx.enabled:
            weighted = loss * (n_tok * ctx.world_size / batch_tok)
        opt.zero_grad(set_to_none=True)
        scaler.scale(weighted).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
        scaler.step(opt)
        scaler.update()
        nll_acc += loss.detach().double() * n_tok
        total_tok += n_tok
        if step % 50 == 0 and ctx.is_main:
            elapsed = time.perf_counter() - start
            bar.set_postfix(ppl=f"{math.exp(float(nll_acc) / max(1, total_tok)):.1f}", tok_s=f"{total_tok / elapsed:.0f}")
    bar.close()
    if ctx.enabled:
        sums = all_reduce_sum(torch.stack([nll_acc.cpu(), torch.tensor(float(total_tok), dtype=torch.float64)]), ctx)
        nll_acc, total_tok = sums[0], int(sums[1])
    return EpochResult(float(nll_acc) / max(1, total_tok), total_tok, time.perf_counter() - start, cut_short)
