"""LightRNN: the 2-Component shared embedding and factorised prediction (Li et al., NeurIPS 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.recurrent import RecurrentLM, RecurrentState, Trunk, target_logprob
from lightrnn_asr.lm.table import WordTable

__all__ = ["EMPTY_CELL_BIAS", "LightRNN"]

#: The column-logit bias of a cell that holds no word (with ``word_bias``): e^-30 of the mass, and
#: finite, so that a row with no word still has a defined column softmax.
EMPTY_CELL_BIAS = -30.0


class LightRNN(RecurrentLM):
    """LightRNN language model (Li et al., NeurIPS 2016, Sections 3.1-3.2).

    Every word ``w`` lives in cell ``(r(w), c(w))`` of an R x C table. Its
    input representation is two vectors, the row vector ``x^r_{r(w)}`` and
    the column vector ``x^c_{c(w)}`` (``row_embed``: (R, E), ``col_embed``:
    (C, E)); the output layer is a row head ``Y^r`` (H -> R) and a column head
    ``Y^c`` (H -> C). So both layers hold ``2 * sqrt|V|`` vectors, not ``|V|``.

    Factorised prediction, ``P(w | h) = P_row(r(w) | h) * P_col(c(w) | h, r(w))``,
    exactly as in the paper: the LSTM reads the sequence of *half-words*

        x^r(w_0), x^c(w_0), x^r(w_1), x^c(w_1), ..., x^c(w_{T-1}), x^r(w_T)

    The state after reading ``x^c(w_{t-1})`` gives ``P_row(. | h)`` of the
    next word via ``softmax(Y^r h)``; the state after reading the next word's
    row vector ``x^r(w_t)`` gives ``P_col(. | h, r(w_t)) = softmax(Y^c h')``.
    That is how the column is conditioned on the row: the target word's row
    vector is fed into the recurrence before its column is predicted. With
    teacher forcing the true row is fed, which makes per-word probabilities
    (and so sentence probabilities) exact, not approximations.

    The softmaxes run over all R rows and all C columns; cells that hold no
    word (and the cell of ``<s>``, never a target) are learnt to get almost no
    mass, so the probabilities of the |V| words sum to at most 1 and
    perplexity is, if anything, slightly pessimistic.

    With ``config.word_bias`` the column logit of cell ``(r, c)`` also gets
    ``b_w``, a learnt scalar of the word ``w`` in that cell (:data:`EMPTY_CELL_BIAS`
    for an empty cell): the C column vectors are shared by R words each, and
    without it those words can differ in frequency only through the row-dependent
    state. It costs |V| floats (4 MB at 1M words), no |V| x H matrix, and moves
    with its word when words are reallocated.

    Args:
        config: an :class:`LMConfig` with ``model_type="lightrnn"``.
        table: the word allocation (its shape must match the config).

    Raises:
        ValueError: when the table does not fit the config.
    """

    def __init__(self, config: LMConfig, table: WordTable) -> None:
        super().__init__()
        self.config = config
        self.row_embed = nn.Embedding(config.n_rows, config.embed_dim)
        self.col_embed = nn.Embedding(config.n_cols, config.embed_dim)
        self.trunk = Trunk(config)
        self.row_head = nn.Linear(config.hidden_dim, config.n_rows)
        self.col_head = nn.Linear(config.col_hidden_dim or config.hidden_dim, config.n_cols)
        self.register_buffer("word_row", torch.zeros(config.vocab_size, dtype=torch.long), persistent=False)
        self.register_buffer("word_col", torch.zeros(config.vocab_size, dtype=torch.long), persistent=False)
        if config.word_bias:
            self.word_bias = nn.Parameter(torch.zeros(config.vocab_size))
            self.register_buffer("cell_word", torch.zeros(config.n_rows * config.n_cols, dtype=torch.long),
                                 persistent=False)
        self.set_table(table)
        nn.init.uniform_(self.row_embed.weight, -0.1, 0.1)
        nn.init.uniform_(self.col_embed.weight, -0.1, 0.1)
        if config.tie_weights:  # one (R, E) and one (C, E) matrix, read at the input and the output
            self.row_head.weight = self.row_embed.weight
            self.col_head.weight = self.col_embed.weight

    def set_table(self, table: WordTable) -> None:
        """Install a (new) allocation; row/column vectors stay, words move (Section 3.3)."""
        if (table.vocab_size, table.n_rows, table.n_cols) != (
            self.config.vocab_size,
            self.config.n_rows,
            self.config.n_cols,
        ):
            raise ValueError(
                f"table ({table.vocab_size} words, {table.n_rows} x {table.n_cols}) does not match "
                f"the model ({self.config.vocab_size} words, {self.config.n_rows} x {self.config.n_cols})"
            )
        self.word_row.copy_(table.row.to(self.word_row.device))
        self.word_col.copy_(table.col.to(self.word_col.device))
        if self.config.word_bias:  # empty cells point at the extra slot V of the padded bias
            at = torch.full((table.n_rows * table.n_cols,), table.vocab_size, dtype=torch.long)
            at[table.cell] = torch.arange(table.vocab_size)
            self.cell_word.copy_(at.to(self.cell_word.device))

    @torch.no_grad()
    def init_word_bias(self, counts: torch.Tensor) -> None:
        """Start ``word_bias`` at ``log(count + 1)`` of every word (``counts``: ``(|V|,)`` training
        counts), a unigram prior that training then corrects.

        Raises:
            ValueError: for a model without ``word_bias`` or counts of another length.
        """
        if not self.config.word_bias or counts.numel() != self.config.vocab_size:
            raise ValueError(f"init_word_bias needs a model with word_bias and {self.config.vocab_size} counts")
        self.word_bias.copy_(torch.log(counts.float() + 1.0).to(self.word_bias.device))

    def cell_bias(self) -> torch.Tensor | None:
        """``(R, C)`` float32 column-logit bias of every cell (``word_bias``), or ``None`` without it."""
        if not self.config.word_bias:
            return None
        padded = torch.cat([self.word_bias.float(), self.word_bias.new_full((1,), EMPTY_CELL_BIAS).float()])
        return padded[self.cell_word].view(self.config.n_rows, self.config.n_cols)

    def col_logits(self, hidden: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Column logits ``(..., C)`` from the column state ``hidden`` ``(..., H)`` given the rows ``rows``
        ``(...)`` taken: ``Y^c hidden`` plus, with ``word_bias``, the bias of each cell of those rows."""
        logits = self.col_head(hidden)
        bias = self.cell_bias()
        # F.embedding, not bias[rows]: indexing's backward sums repeated rows in a thread-dependent order
        return logits if bias is None else logits + F.embedding(rows, bias)

    def row_col_logits(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column logits of every target position.

        Returns:
            ``(row_logits, col_logits)``: ``(N, T, R)`` and ``(N, T, C)``, in the
            autocast dtype when autocast is on. ``col_logits[n, t]`` is
            conditioned on the row of ``targets[n, t]``.
        """
        out = self._halfword_states(inputs, targets)
        return self.row_head(out[:, 0::2]), self.col_logits(out[:, 1::2], self.word_row[targets])

    def _halfword_states(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Top-layer LSTM outputs ``(N, 2T, H)``: even positions predict rows, odd ones columns.

        The half-word sequence ``x^r(w_0), x^c(w_0), x^r(w_1), ..., x^r(w_T)``
        (``2T + 1`` vectors) is written into one buffer, with no stack or cat.
        """
        n, t = inputs.shape
        first = self.row_embed(self.word_row[inputs[:, :1]])  # (N, 1, E)
        x = first.new_empty((n, 2 * t + 1, first.size(-1)))
        x[:, :1] = first
        x[:, 1::2] = self.col_embed(self.word_col[inputs])
        x[:, 2::2] = self.row_embed(self.word_row[targets])
        return self.trunk(x)[:, 1:]

    def row_col_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities in float32 (nats) of each target in every row ``(N, T, R)`` and every column
        ``(N, T, C)`` of its row: what reallocation's loss tables and ``add-words`` need. With
        ``word_bias`` the column term is the target's as if it sat in that column: its own bias in
        place of the bias of the word there (the normaliser stays that of the current table)."""
        row_logits, col_logits = self.row_col_logits(inputs, targets)
        col_lp = F.log_softmax(col_logits.float(), dim=-1)
        bias = self.cell_bias()
        if bias is not None:
            own = self.word_bias.float().index_select(0, targets.reshape(-1)).view(*targets.shape, 1)
            col_lp = col_lp - F.embedding(self.word_row[targets], bias) + own
        return F.log_softmax(row_logits.float(), dim=-1), col_lp

    def loss_and_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor,
                          mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`loss` (scalar, nats) together with the :meth:`row_col_logprobs` it is taken from,
        ``(N, T, R)`` and ``(N, T, C)`` float32: training can so fill reallocation's loss tables
        from its own steps."""
        row_lp, col_lp = self.row_col_logprobs(inputs, targets)
        lp = (row_lp.gather(-1, self.word_row[targets][..., None])[..., 0]
              + col_lp.gather(-1, self.word_col[targets][..., None])[..., 0])
        return -(lp * mask).sum() / mask.sum().clamp(min=1), row_lp, col_lp

    def initial_state(self, n: int, bos_id: int = 0) -> RecurrentState:
        bos = torch.full((n,), bos_id, dtype=torch.long, device=self.device)
        _, h, c = self._read(self.row_embed(self.word_row[bos]), self._zero_state(n))
        return self._read(self.col_embed(self.word_col[bos]), (h, c))

    def score_words(self, state: RecurrentState, words: torch.Tensor) -> tuple[torch.Tensor, RecurrentState]:
        out, h, c = state
        rows, cols = self.word_row[words], self.word_col[words]
        lp = F.log_softmax(self.row_head(out).float(), dim=-1).gather(1, rows[:, None])[:, 0]
        partial = self._read(self.row_embed(rows), (h, c))  # the row is read before the column is predicted
        lp = lp + F.log_softmax(self.col_logits(partial[0], rows).float(), dim=-1).gather(1, cols[:, None])[:, 0]
        return lp, partial

    def advance(self, partial: RecurrentState, words: torch.Tensor) -> RecurrentState:
        _, h, c = partial
        return self._read(self.col_embed(self.word_col[words]), (h, c))

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        row_logits, col_logits = self.row_col_logits(inputs, targets)
        return (target_logprob(row_logits, self.word_row[targets])
                + target_logprob(col_logits, self.word_col[targets]))
