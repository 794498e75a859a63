"""What every assignment solver shares: input checks, cell costs, and exact line re-placement."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from scipy.optimize import linear_sum_assignment

from lightrnn_asr.lm.table import WordTable

__all__ = ["CHUNK", "allocation_cost", "assign_lines", "cell_costs", "check_tables", "line_sweeps", "table_cost"]

CHUNK = 1 << 14  # words whose cost rows are materialised (as float64) at once


def check_tables(row_loss: torch.Tensor, col_loss: torch.Tensor, n_rows: int, n_cols: int) -> None:
    if row_loss.dim() != 2 or col_loss.dim() != 2 or row_loss.shape[0] != col_loss.shape[0]:
        raise ValueError(
            f"loss tables must be (V, R) and (V, C), got {tuple(row_loss.shape)} and {tuple(col_loss.shape)}"
        )
    if row_loss.shape[1] != n_rows or col_loss.shape[1] != n_cols:
        raise ValueError(f"loss tables do not match a {n_rows} x {n_cols} table")
    if n_rows * n_cols < row_loss.shape[0]:
        raise ValueError(f"a {n_rows} x {n_cols} table cannot hold {row_loss.shape[0]} words")
    for name, t in (("row_loss", row_loss), ("col_loss", col_loss)):
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")


def gather_cost(table: torch.Tensor, words: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``table[words[i], cols[i]]`` as float64, chunked (``(n,)``)."""
    out = torch.empty(words.numel(), dtype=torch.float64)
    for s in range(0, words.numel(), 1 << 22):
        out[s : s + (1 << 22)] = table[words[s : s + (1 << 22)], cols[s : s + (1 << 22)]].double()
    return out


def cell_costs(row_loss: torch.Tensor, col_loss: torch.Tensor, cells: torch.Tensor, n_cols: int) -> torch.Tensor:
    """``row_loss[w, r] + col_loss[w, c]`` float64 for word ``w`` in ``cells[w, j]``; same shape as ``cells``."""
    words = torch.arange(cells.shape[0]).view(-1, *([1] * (cells.dim() - 1))).expand_as(cells).reshape(-1)
    flat = cells.reshape(-1)
    cost = gather_cost(row_loss, words, torch.div(flat, n_cols, rounding_mode="floor"))
    return (cost + gather_cost(col_loss, words, flat % n_cols)).view(cells.shape)


def table_cost(row_loss: torch.Tensor, col_loss: torch.Tensor, cell: torch.Tensor, n_cols: int) -> float:
    return float(cell_costs(row_loss, col_loss, cell, n_cols).sum())


def allocation_cost(row_loss: torch.Tensor, col_loss: torch.Tensor, table: WordTable) -> float:
    """Total cost ``sum_w row_loss[w, r(w)] + col_loss[w, c(w)]`` of an allocation (nats, float64 sum)."""
    return table_cost(row_loss, col_loss, table.cell, table.n_cols)


def line_sweeps(row_loss, col_loss, cell: torch.Tensor, n_rows: int, n_cols: int, max_sweeps: int, tol: float):
    """Up to ``max_sweeps`` column-then-row sweeps of exact line re-placements; ``(|V|,)`` int64 cells."""
    previous = table_cost(row_loss, col_loss, cell, n_cols)
    for _ in range(max_sweeps):
        row, col = torch.div(cell, n_cols, rounding_mode="floor"), cell % n_cols
        row = assign_lines(row_loss, col, n_cols)
        col = assign_lines(col_loss, row, n_rows)
        cell = row * n_cols + col
        current = table_cost(row_loss, col_loss, cell, n_cols)
        if previous - current <= tol * max(1.0, abs(previous)):
            break
        previous = current
    return cell


def assign_lines(table: torch.Tensor, line: torch.Tensor, n_lines: int) -> torch.Tensor:
    """Positions ``0..K-1`` for the words of every line, distinct within a line, of least ``table`` cost.

    Args:
        table: ``(|V|, K)`` costs of a word at each position.
        line: ``(|V|,)`` int64 line of every word (at most K words per line).

    Returns:
        ``(|V|,)`` int64 positions (exact, one ``linear_sum_assignment`` per line).
    """
    pos = torch.empty(table.shape[0], dtype=torch.long)
    order = torch.argsort(line, stable=True)
    sizes = torch.bincount(line, minlength=n_lines)
    blocks = [b for b in torch.split(order, sizes.tolist()) if b.numel()]

    def solve(members: torch.Tensor) -> None:
        _, cols = linear_sum_assignment(table[members].double().numpy())
        pos[members] = torch.from_numpy(cols).long()

    # the lines are independent and scipy releases the GIL while it solves
    with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
        list(pool.map(solve, blocks))
    return pos


