"""The 2-Component word table: an allocation of |V| words to an R x C grid.

Li et al., "LightRNN: Memory and Computation-Efficient Recurrent Neural
Language Models", NeurIPS 2016, Section 3.1: every word sits in exactly one
cell ``(row, col)`` of a table with ``R * C >= |V|`` cells and is represented
by the row vector of its row and the column vector of its column. Cells may
stay empty. Cell ``(r, c)`` has the flat index ``r * C + c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["WordTable", "table_shape"]


def table_shape(vocab_size: int, scale: float = 1.0) -> tuple[int, int]:
    """The paper's square-ish shape for ``N = ceil(scale * |V|)`` cells: ``C = ceil(sqrt N)``,
    ``R = ceil(N / C)``. ``scale = 1`` is the paper's table (``R ~ C ~ sqrt |V|``); a larger scale
    leaves cells empty, so that words share their row and column vectors with fewer others, at
    ``2 sqrt(scale |V|)`` vectors instead of ``2 sqrt |V|`` (measured: docs/studies/convergence-and-table-size.md).

    Raises:
        ValueError: for a vocabulary size below 1 or a scale below 1.
    """
    if vocab_size < 1:
        raise ValueError(f"vocabulary size must be >= 1, got {vocab_size}")
    if not scale >= 1.0:
        raise ValueError(f"table scale must be >= 1 (cells per word), got {scale}")
    cells = math.ceil(scale * vocab_size - 1e-9)
    n_cols = math.isqrt(cells - 1) + 1
    n_rows = -(-cells // n_cols)
    return n_rows, n_cols


@dataclass
class WordTable:
    """Word -> cell allocation.

    Attributes:
        cell: ``(|V|,)`` int64, ``cell[w] = row(w) * n_cols + col(w)``; all distinct.
        n_rows, n_cols: grid shape R x C with ``R * C >= |V|``.

    Raises:
        ValueError: when the grid is too small, a cell index is out of range
            or two words share a cell.
    """

    cell: torch.Tensor
    n_rows: int
    n_cols: int

    def __post_init__(self) -> None:
        self.cell = torch.as_tensor(self.cell, dtype=torch.long).reshape(-1)
        v = self.cell.numel()
        if self.n_rows * self.n_cols < v:
            raise ValueError(f"a {self.n_rows} x {self.n_cols} table cannot hold {v} words")
        if v and (int(self.cell.min()) < 0 or int(self.cell.max()) >= self.n_rows * self.n_cols):
            raise ValueError("cell index out of range for the table shape")
        if torch.unique(self.cell).numel() != v:
            raise ValueError("two words share a cell: the allocation must be one-to-one")

    @classmethod
    def sequential(cls, vocab_size: int, n_rows: int | None = None, n_cols: int | None = None) -> "WordTable":
        """Row-major allocation ``w -> (w // C, w % C)`` (the paper's initial one, by frequency rank)."""
        if n_rows is None or n_cols is None:
            n_rows, n_cols = table_shape(vocab_size)
        return cls(torch.arange(vocab_size, dtype=torch.long), n_rows, n_cols)

    @classmethod
    def random(cls, vocab_size: int, generator: torch.Generator | None = None, n_rows: int | None = None,
               n_cols: int | None = None) -> "WordTable":
        """A uniformly random allocation on the given shape (default: :func:`table_shape`)."""
        if n_rows is None or n_cols is None:
            n_rows, n_cols = table_shape(vocab_size)
        cells = torch.randperm(n_rows * n_cols, generator=generator)[:vocab_size]
        return cls(cells, n_rows, n_cols)

    @property
    def vocab_size(self) -> int:
        """The number of words placed in the table (``cell.numel()``)."""
        return self.cell.numel()

    @property
    def row(self) -> torch.Tensor:
        """``(|V|,)`` int64 row of every word."""
        return torch.div(self.cell, self.n_cols, rounding_mode="floor")

    @property
    def col(self) -> torch.Tensor:
        """``(|V|,)`` int64 column of every word."""
        return self.cell % self.n_cols

    def word_at(self) -> torch.Tensor:
        """``(R, C)`` int64 grid of word ids, ``-1`` for empty cells."""
        grid = torch.full((self.n_rows * self.n_cols,), -1, dtype=torch.long)
        grid[self.cell] = torch.arange(self.vocab_size)
        return grid.view(self.n_rows, self.n_cols)

    def to_dict(self) -> dict:
        """``{"cell": int64 tensor (V,), "n_rows": R, "n_cols": C}`` (a copy; :meth:`from_dict` reads it back)."""
        return {"cell": self.cell.clone(), "n_rows": int(self.n_rows), "n_cols": int(self.n_cols)}

    @classmethod
    def from_dict(cls, d: dict) -> "WordTable":
        return cls(d["cell"], int(d["n_rows"]), int(d["n_cols"]))
