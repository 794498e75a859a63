"""Bootstrap word reallocation (Li et al., NeurIPS 2016, Section 3.3).

After a training round, for every word ``w`` and every row ``r`` / column
``c`` the negative log-likelihood the model would give the training
occurrences of ``w`` if ``w`` sat in row ``r`` (column ``c``) is summed:

    row_loss[w, r] = - sum_{t: w_t = w} log P_row(r | h_t)
    col_loss[w, c] = - sum_{t: w_t = w} log P_col(c | h_t, r_old(w))

The column term is conditioned on the word's *current* row, the paper's
approximation that keeps both tables at ``|V| x sqrt|V|``. The new allocation
is the minimum-weight perfect matching of words to cells with cost
``row_loss[w, r] + col_loss[w, c]``.

A solver is any callable ``(row_loss, col_loss, n_rows, n_cols, init=current) -> WordTable``
(``init`` is the current allocation, which a solver may start from or ignore);
:data:`SOLVERS` maps names to the solvers of :mod:`lightrnn_asr.assignment`.
"""

from __future__ import annotations

from typing import Callable

import torch
from tqdm import tqdm

from .assignment import allocation_cost, solve_alternating, solve_exact, solve_greedy, solve_transport

from .data import Corpus, length_batches, make_batch
from .model import LightRNN
from .scorer import autocast_for
from .table import WordTable

__all__ = [
    "loss_tables",
    "allocation_cost",
    "reallocate",
    "SOLVERS",
    "AllocationSolver",
]

AllocationSolver = Callable[..., WordTable]  # (row_loss, col_loss, n_rows, n_cols, init=WordTable | None)


@torch.no_grad()
def loss_tables(
    model: LightRNN,
    corpus: Corpus,
    bos_id: int = 0,
    eos_id: int = 1,
    max_tokens: int = 8000,
    progress: bool = False,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accumulate the row- and column-loss tables in one pass over ``corpus``.

    The pass runs on the model's device in batches of ``max_tokens`` (under
    the same autocast as training on CUDA; log-softmax is computed in float32
    there) and accumulates on that device with ``index_add_``.

    Args:
        model: a trained :class:`LightRNN` (put in eval mode for the pass).
        corpus: the training sentences.
        dtype: accumulation and result dtype. float32 (default) takes
            ``8 |V| sqrt|V|`` bytes for both tables (0.25 GB at |V| = 100K,
            8 GB at |V| = 1M); float64 doubles that.

    Returns:
        ``(row_loss, col_loss)``: ``(|V|, R)`` and ``(|V|, C)`` on the CPU, in
        nats (sums of negative log-probabilities). Words that never occur as a
        target have all-zero rows (any cell costs them nothing).
    """
    cfg = model.config
    device = next(model.parameters()).device
    row_loss = torch.zeros(cfg.vocab_size, cfg.n_rows, dtype=dtype, device=device)
    col_loss = torch.zeros(cfg.vocab_size, cfg.n_cols, dtype=dtype, device=device)
    was_training = model.training
    model.eval()
    try:
        batches = length_batches(corpus.lengths(), max_tokens)
        for idx in tqdm(batches, desc="loss tables", unit="batch", disable=not progress, leave=False):
            inputs, targets, mask = make_batch([corpus.sentence(i) for i in idx.tolist()], bos_id, eos_id)
            inputs, targets, mask = inputs.to(device), targets.to(device), mask.to(device)
            with autocast_for(device):
                row_lp, col_lp = model.row_col_logprobs(inputs, targets)
            words = targets[mask]
            row_loss.index_add_(0, words, -row_lp[mask].to(dtype))
            col_loss.index_add_(0, words, -col_lp[mask].to(dtype))
    finally:
        model.train(was_training)
    return row_loss.cpu(), col_loss.cpu()


#: Reallocation solvers by name (see :mod:`lightrnn_asr.assignment`).
SOLVERS: dict[str, AllocationSolver] = {
    "exact": solve_exact,
    "greedy": solve_greedy,
    "alternating": solve_alternating,
    "transport": solve_transport,
}


def reallocate(
    row_loss: torch.Tensor,
    col_loss: torch.Tensor,
    current: WordTable,
    solver: str | AllocationSolver = "transport",
) -> tuple[WordTable, float, float]:
    """Run a solver and keep the result only if it does not cost more.

    Returns:
        ``(table, cost_before, cost_after)`` in nats; ``table`` is ``current``
        when the solver found nothing cheaper, so the total loss never rises.

    Raises:
        KeyError: for an unknown solver name.
    """
    fn = SOLVERS[solver] if isinstance(solver, str) else solver
    before = allocation_cost(row_loss, col_loss, current)
    new = fn(row_loss, col_loss, current.n_rows, current.n_cols, init=current)
    after = allocation_cost(row_loss, col_loss, new)
    if after > before:
        return current, before, before
    return new, before, after

