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
:data:`SOLVERS` maps names to the solvers of :mod:`lightrnn_asr.training.assignment`.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import Corpus, length_batches, make_batch
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training.assignment import (
    allocation_cost,
    solve_alternating,
    solve_exact,
    solve_greedy,
    solve_rows_then_columns,
    solve_transport,
)
from lightrnn_asr.utils.device import autocast_for
from lightrnn_asr.utils.distributed import DistContext, all_reduce_sum, broadcast_object, reduce_to_main
from lightrnn_asr.utils.progress import progress_bar

__all__ = [
    "LossTableSums",
    "occurring_anywhere",
    "reallocate_round",
    "loss_tables",
    "occurring_words",
    "allocation_cost",
    "reallocate",
    "SOLVERS",
    "AllocationSolver",
]

AllocationSolver = Callable[..., WordTable]  # (row_loss, col_loss, n_rows, n_cols, init=WordTable | None)


class LossTableSums:
    """Running sums of the row- and column-loss tables (the module docstring's ``row_loss`` and
    ``col_loss``), on the device of the log-probabilities added, with ``index_add_``.

    Args:
        vocab_size: ``|V|``.
        n_rows, n_cols: the table's ``R`` and ``C``.
        device: where the sums live (the model's device).
        dtype: accumulation dtype (float32: ``4 n (R + C)`` bytes; float64 doubles that).
        words: ``(n,)`` int64 distinct word ids: keep only their rows (see :func:`occurring_words`),
            in this order; ``None``: all ``|V|`` words. Targets outside ``words`` go to a scratch row.
    """

    def __init__(self, vocab_size: int, n_rows: int, n_cols: int, device: torch.device,
                 dtype: torch.dtype = torch.float32, words: torch.Tensor | None = None) -> None:
        self.n = vocab_size if words is None else words.numel()
        slot = torch.arange(self.n) if words is None else torch.full((vocab_size,), self.n, dtype=torch.long)
        if words is not None:
            slot[words] = torch.arange(self.n)
        self.slot = slot.to(device)  # slot[w]: the table row of word w, or n (the scratch row)
        self.dtype = dtype
        self.row = torch.zeros(self.n + 1, n_rows, dtype=dtype, device=device)
        self.col = torch.zeros(self.n + 1, n_cols, dtype=dtype, device=device)

    @torch.no_grad()
    def add(self, targets: torch.Tensor, mask: torch.Tensor, row_lp: torch.Tensor, col_lp: torch.Tensor) -> None:
        """Add one batch: ``targets`` ``(N, T)`` int64, ``mask`` ``(N, T)`` bool, and the
        :meth:`LightRNN.row_col_logprobs` of it, ``(N, T, R)`` and ``(N, T, C)`` (nats)."""
        # every position, padding weighted 0: no boolean indexing, so no host-device sync per batch
        at, keep = self.slot[targets.reshape(-1)], mask.reshape(-1, 1).to(self.dtype)
        self.row.index_add_(0, at, -row_lp.reshape(at.numel(), -1).to(self.dtype) * keep)
        self.col.index_add_(0, at, -col_lp.reshape(at.numel(), -1).to(self.dtype) * keep)

    def zero_(self) -> None:
        """Start the sums again (a new epoch)."""
        self.row.zero_()
        self.col.zero_()

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(row_loss, col_loss)``: ``(n, R)`` and ``(n, C)`` on the CPU, in nats."""
        return self.row[: self.n].cpu(), self.col[: self.n].cpu()


@torch.no_grad()
def loss_tables(
    model: LightRNN,
    corpus: Corpus,
    bos_id: int = 0,
    eos_id: int = 1,
    max_tokens: int = 8000,
    progress: bool = False,
    dtype: torch.dtype = torch.float32,
    words: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accumulate the row- and column-loss tables in one pass over ``corpus``.

    The pass runs on the model's device in batches of ``max_tokens`` (under
    the same autocast as training on CUDA; log-softmax is computed in float32
    there) and accumulates on that device (:class:`LossTableSums`).

    Args:
        model: a trained :class:`LightRNN` (put in eval mode for the pass).
        corpus: the training sentences.
        dtype: accumulation and result dtype. float32 (default) takes
            ``8 |V| sqrt|V|`` bytes for both tables (0.25 GB at |V| = 100K,
            8 GB at |V| = 1M); float64 doubles that.
        words: ``(n,)`` int64 distinct word ids: accumulate only their rows
            (see :func:`occurring_words`), in this order. A vocabulary read
            from a word list has many words that never occur in the text;
            their rows would be all zero.

    Returns:
        ``(row_loss, col_loss)``: ``(n, R)`` and ``(n, C)`` on the CPU (``n``
        is ``|V|`` without ``words``), in nats (sums of negative
        log-probabilities). Words that never occur as a target have all-zero
        rows (any cell costs them nothing).
    """
    cfg = model.config
    device = model.device
    sums = LossTableSums(cfg.vocab_size, cfg.n_rows, cfg.n_cols, device, dtype, words)
    was_training = model.training
    model.eval()
    try:
        batches = length_batches(corpus.lengths(), max_tokens)
        for idx in progress_bar(batches, "loss tables", "batch", progress, leave=False):
            inputs, targets, mask = make_batch([corpus.sentence(i) for i in idx.tolist()], bos_id, eos_id)
            inputs, targets, mask = inputs.to(device), targets.to(device), mask.to(device)
            with autocast_for(device):
                row_lp, col_lp = model.row_col_logprobs(inputs, targets)
            sums.add(targets, mask, row_lp, col_lp)
    finally:
        model.train(was_training)
    return sums.tables()


def occurring_words(corpus: Corpus, vocab_size: int, eos_id: int = 1) -> torch.Tensor:
    """``(n,)`` int64 sorted ids of the words that occur as a target in ``corpus`` (``</s>`` included)."""
    seen = torch.bincount(corpus.ids, minlength=vocab_size) > 0
    if len(corpus):
        seen[eos_id] = True
    return seen.nonzero()[:, 0]


#: Problems (words to place) from which ``auto`` uses :func:`solve_rows_then_columns`: above it the
#: candidate graph of :func:`solve_transport` (``81 |V|`` edges) takes minutes.
AUTO_ROWS_COLUMNS_FROM = 300_000


def solve_auto(row_loss: torch.Tensor, col_loss: torch.Tensor, n_rows: int, n_cols: int, init=None) -> WordTable:
    """:func:`solve_transport` below :data:`AUTO_ROWS_COLUMNS_FROM` words, :func:`solve_rows_then_columns` above."""
    if row_loss.shape[0] < AUTO_ROWS_COLUMNS_FROM:
        return solve_transport(row_loss, col_loss, n_rows, n_cols, init=init)
    return solve_rows_then_columns(row_loss, col_loss, n_rows, n_cols, init=init)


#: Reallocation solvers by name (see :mod:`lightrnn_asr.training.assignment`).
SOLVERS: dict[str, AllocationSolver] = {
    "auto": solve_auto,
    "exact": solve_exact,
    "greedy": solve_greedy,
    "alternating": solve_alternating,
    "transport": solve_transport,
    "rows-columns": solve_rows_then_columns,
}


def reallocate(
    row_loss: torch.Tensor,
    col_loss: torch.Tensor,
    current: WordTable,
    solver: str | AllocationSolver = "auto",
    words: torch.Tensor | None = None,
) -> tuple[WordTable, float, float]:
    """Run a solver and keep the result only if it does not cost more.

    Args:
        row_loss, col_loss: ``(n, R)``, ``(n, C)`` loss tables (nats) of all
            words, or of ``words`` only.
        words: ``(n,)`` int64 ids the tables are for (from
            :func:`occurring_words`). The other words cost nothing anywhere,
            so only these are matched; the others keep their cells where
            they are still free and fill the remaining cells otherwise. The
            result is as optimal as the solver's, at the cost of an ``n``-word
            problem (15K instead of 700K words for a vocabulary from a word list).

    Returns:
        ``(table, cost_before, cost_after)`` in nats; ``table`` is ``current``
        when the solver found nothing cheaper, so the total loss never rises.

    Raises:
        KeyError: for an unknown solver name.
        ValueError: when the tables and ``words`` disagree in size.
    """
    fn = SOLVERS[solver] if isinstance(solver, str) else solver
    if words is None:
        sub = current
    else:
        if words.numel() != row_loss.shape[0]:
            raise ValueError(f"{words.numel()} words for loss tables of {row_loss.shape[0]} rows")
        sub = WordTable(current.cell[words], current.n_rows, current.n_cols)
    before = allocation_cost(row_loss, col_loss, sub)
    new = fn(row_loss, col_loss, current.n_rows, current.n_cols, init=sub)
    after = allocation_cost(row_loss, col_loss, new)
    if after > before:
        return current, before, before
    if words is None:
        return new, before, after
    return _fill_idle(current, words, new.cell), before, after


def _fill_idle(current: WordTable, words: torch.Tensor, cells: torch.Tensor) -> WordTable:
    """``current`` with ``words`` moved to ``cells``; every other word keeps its cell unless one of
    ``words`` took it, and then gets a free cell (in id order)."""
    cell = current.cell.clone()
    idle = torch.ones(cell.numel(), dtype=torch.bool)
    idle[words] = False
    taken = torch.zeros(current.n_rows * current.n_cols, dtype=torch.bool)
    taken[cells] = True
    cell[words] = cells
    evicted = idle & taken[current.cell]
    taken[cell[idle & ~evicted]] = True
    cell[evicted] = (~taken).nonzero()[: int(evicted.sum()), 0]
    return WordTable(cell, current.n_rows, current.n_cols)


def occurring_anywhere(vocab: Vocabulary, corpus: Corpus, ctx: DistContext) -> torch.Tensor:
    """``(n,)`` int64 ids of the words that occur as a target on any rank (an all-reduce of ``|V|`` flags)."""
    seen = torch.zeros(len(vocab), dtype=torch.int64)
    seen[occurring_words(corpus, len(vocab), vocab.eos_id)] = 1
    return torch.nonzero(all_reduce_sum(seen, ctx)).flatten()


def reallocate_round(model: LightRNN, table: WordTable, corpus: Corpus, solver: str, max_tokens: int,
                     ctx: DistContext, active: torch.Tensor,
                     sums: LossTableSums | None) -> tuple[WordTable, dict[str, Any]]:
    """One bootstrap reallocation of the words ``active`` with the solver named ``solver``; in a
    distributed run the loss tables are summed over the ranks (onto rank 0, which solves), and the
    table is broadcast. The tables are those of ``sums`` (summed during training) or, without it,
    of a pass over ``corpus`` in batches of ``max_tokens``.

    Communication: ``2 n sqrt|V|`` float32 losses (reduce; ``n`` = words that occur), e.g.
    0.25 GB at |V| = 100K and 8 GB at |V| = 1M.
    """
    if sums is not None:
        row_loss, col_loss = sums.tables()
    else:
        row_loss, col_loss = loss_tables(model, corpus, max_tokens=max_tokens, words=active)
    reduce_to_main(row_loss, ctx)
    reduce_to_main(col_loss, ctx)
    result = None
    if ctx.is_main:
        new_table, before, after = reallocate(row_loss, col_loss, table, solver, words=active)
        result = (new_table.cell, {"cost_before": before, "cost_after": after,
                                   "words_moved": int((new_table.cell != table.cell).sum())})
    cell, info = broadcast_object(result, ctx)
    new_table = WordTable(cell, table.n_rows, table.n_cols)
    model.set_table(new_table)
    return new_table, info
