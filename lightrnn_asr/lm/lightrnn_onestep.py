"""A LightRNN with one LSTM step per word: the same table, factorisation and reallocation as the
paper's form (:class:`~lightrnn_asr.lm.lightrnn.LightRNN`), half the recurrence.

The paper's LSTM reads two half-words per word (the previous word's column vector, then the
current word's row vector) and predicts the row from the first state, the column from the second,
so its recurrence is 2T steps long. Here step ``t`` reads the previous word's row and column
vectors together, ``[x^r(w_{t-1}); x^c(w_{t-1})]`` (``recurrence="word-concat"``, input ``2E``)
or ``x^r + x^c`` (``"word-sum"``, input ``E``), and its output ``h_t`` predicts both halves:

    P_row(r | h_t)    = softmax(Y^r h_t)
    P_col(c | h_t, r) = softmax(Y^c tanh(h_t + P x^r_r))

with ``P`` (E -> H) a learnt projection of the row's input vector: the column is conditioned on
the row through the row's own vector, as the paper's second step conditions it, but without a
second pass through the LSTM. With ``col_hidden_dim = K`` the column state is a hidden layer of
its own, ``tanh(W h_t + P x^r_r)`` (W: H -> K, P: E -> K, ``Y^c``: K -> C): C column vectors
serve all |V| words, and a wider state lets the row reshape what they see at K (H + E + C)
parameters, independent of |V| (measured: docs/studies/column-head.md).
``lightrnn-asr train`` uses K = 2H unless told otherwise.

With ``input_shortlist = N`` (word-sum only) the N most frequent words also get an input vector of
their own, ``e_w``, so step ``t`` reads ``x^r + x^c + e_{w_{t-1}}`` (``e_w = 0`` for the other words, and
at the start of training for all, so training starts from the shared vectors' model); the output layer
and the table are unchanged, and the cost is N x E parameters whatever |V| is. The shared input
vectors are what a word's row and column mates pull apart; own vectors also make the first
reallocation gentler, and own vectors for every word overfit (measured: docs/studies/input-shortlist.md).
``lightrnn-asr train`` uses N = min(|V|, 4000).

With ``output_shortlist = M`` the M most frequent words (ids below M) also get an output vector of their
own, and the first softmax runs over them and the R rows together:

    P(w | h_t) = softmax([Y^s h_t; Y^r h_t + m^r])_w                                    (w < M)
    P(w | h_t) = softmax([Y^s h_t; Y^r h_t + m^r])_{M + r(w)} P_col(c(w) | h_t, r(w))    (w >= M)

where the column softmax runs over the cells of factorised words only (``m^c``: 0 on those, ``-30`` on
the cells of shortlist words and empty ones) and ``m^r`` masks the rows that hold no factorised word,
so the |V| probabilities sum to exactly 1. This is the adaptive softmax's head (Grave et al., ICML 2017)
with the LightRNN's table as its tail: the words that make most of the running text are predicted as a
full softmax would, the rest by row and column, at M x (H + 1) parameters whatever |V| is. Shortlist words
keep their cells, which only their input vectors use; reallocation places the factorised words (the
shortlist's loss-table rows are 0, so they fill whatever cells are left). Measured:
docs/studies/output-shortlist.md. ``lightrnn-asr train`` uses M = min(1000, |V| / 10).

In training ``r`` is the target word's row; in scoring, the row of the word scored (lattice
expansion needs no LSTM step to score a word, only to advance a history).
``P(w | h) = P_row(r(w) | h) P_col(c(w) | h, r(w))`` sums to 1 over all cells, as in the paper's form.

``word-sum`` is the default of ``lightrnn-asr train``: one LSTM step per word instead of two makes
rescoring and training faster, and it measured best of the three in one run each (docs/studies/one-step.md).
The paper's form stays available as ``recurrence="halfword"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.lightrnn import EMPTY_CELL_BIAS, LightRNN
from lightrnn_asr.lm.recurrent import RecurrentState, Trunk, target_logprob
from lightrnn_asr.lm.table import WordTable

__all__ = ["OneStepLightRNN"]


class OneStepLightRNN(LightRNN):
    """The one-step-per-word LightRNN (see the module docstring).

    Args:
        config: an :class:`LMConfig` with ``model_type="lightrnn"`` and ``recurrence`` ``"word-concat"``
            or ``"word-sum"``.
        table: the word allocation.

    Raises:
        ValueError: for the paper's recurrence, or a table that does not fit the config.
    """

    def __init__(self, config: LMConfig, table: WordTable) -> None:
        if config.recurrence == "halfword":
            raise ValueError("OneStepLightRNN is the one-step form: use LightRNN for recurrence 'halfword'")
        super().__init__(config, table)
        concat = config.recurrence == "word-concat"
        self.trunk = Trunk(config, 2 * config.embed_dim if concat else config.embed_dim)
        k = config.col_hidden_dim or config.hidden_dim
        self.row_to_col = nn.Linear(config.embed_dim, k, bias=False)  # P
        self.col_in = nn.Linear(config.hidden_dim, k) if config.col_hidden_dim else None  # W
        n = config.input_shortlist  # slot n: the zero vector of the words without one (padding_idx: never trained)
        self.shortlist_embed = nn.Embedding(n + 1, config.embed_dim, padding_idx=n) if n else None
        if n:  # zero: training starts from the shared vectors' model and learns each word's own part
            nn.init.zeros_(self.shortlist_embed.weight)
            # (|V|,) int64: each word's slot, ids below n their own, the rest n; saved with the weights, as
            # words added to a trained model (training.openvocab) may read another word's vector
            self.register_buffer("word_slot", torch.arange(config.vocab_size).clamp(max=n))
        m = config.output_shortlist  # the frequent words' own output vectors (H -> m), beside the row head
        self.shortlist_head = nn.Linear(config.hidden_dim, m) if m else None
        if m:  # float32, 0 where a factorised word is, EMPTY_CELL_BIAS elsewhere (not saved: from the table)
            self.register_buffer("cell_mask", torch.zeros(config.n_rows, config.n_cols), persistent=False)  # (R, C)
            self.register_buffer("row_mask", torch.zeros(config.n_rows), persistent=False)  # (R,)
            # (R,) int64: the row whose cells' mask each row's column softmax takes: itself, or for a row that
            # add-words made a copy of a factorised word's row, that row (saved with the weights)
            self.register_buffer("mask_source_row", torch.arange(config.n_rows))
            self._set_cell_mask(table)

    def set_table(self, table: WordTable) -> None:
        super().set_table(table)
        if getattr(self, "shortlist_head", None) is not None:  # (not yet built when LightRNN's __init__ calls it)
            self._set_cell_mask(table)

    @torch.no_grad()
    def _set_cell_mask(self, table: WordTable) -> None:
        """Mask what no factorised word can be: in the column softmax the empty cells and those of shortlist
        words, in the first softmax the rows that hold none (so the |V| words' probabilities sum to 1)."""
        mask = torch.full((table.n_rows * table.n_cols,), EMPTY_CELL_BIAS)
        mask[table.cell[self.config.output_shortlist:]] = 0.0
        mask = mask.view(table.n_rows, table.n_cols)[self.mask_source_row.cpu()]
        self.cell_mask.copy_(mask.to(self.cell_mask.device))
        self.row_mask.copy_(mask.max(1).values.to(self.row_mask.device))

    def _word_inputs(self, words: torch.Tensor) -> torch.Tensor:
        """The LSTM input of each word: ``(..., 2E)`` or ``(..., E)`` (plus its own vector with
        ``input_shortlist``)."""
        rows, cols = self.row_embed(self.word_row[words]), self.col_embed(self.word_col[words])
        if self.config.recurrence == "word-concat":
            return torch.cat([rows, cols], -1)
        if self.shortlist_embed is None:
            return rows + cols
        return rows + cols + self.shortlist_embed(self.word_slot[words])

    def _col_hidden(self, out: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``tanh(h + P x^r_rows)`` (or ``tanh(W h + P x^r_rows)`` with ``col_hidden_dim``): the state
        ``(..., K)`` the column head reads, given the row taken. ``P x^r`` is computed once for the R
        rows and gathered (R x E x K work instead of E x K per token)."""
        every_row = torch.arange(self.config.n_rows, device=rows.device)  # (embedding calls: int8 ones too)
        h = out if self.col_in is None else self.col_in(out)
        # F.embedding, not [rows]: indexing's backward sums repeated rows in a thread-dependent order
        return torch.tanh(h + F.embedding(rows, self.row_to_col(self.row_embed(every_row))))

    def col_logits(self, hidden: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Column logits ``(..., C)`` given the rows ``rows`` ``(...)`` taken; with ``output_shortlist`` the
        cells that hold no factorised word get :data:`EMPTY_CELL_BIAS` (e^-30 of the mass)."""
        logits = super().col_logits(hidden, rows)
        return logits if self.shortlist_head is None else logits + self.cell_mask[rows]

    def head_logits(self, out: torch.Tensor, masked: bool = True) -> torch.Tensor:
        """The first softmax's logits ``(..., M + R)``: the M shortlist words' (``output_shortlist``), then
        the R rows' (those that hold no factorised word masked, unless ``masked=False``); ``(..., R)``
        without a shortlist. ``out``: LSTM outputs ``(..., H)``."""
        rows = self.row_head(out)
        if self.shortlist_head is None:
            return rows
        return torch.cat([self.shortlist_head(out), rows + self.row_mask if masked else rows], -1)

    def _head_targets(self, words: torch.Tensor) -> torch.Tensor:
        """Each word's class in :meth:`head_logits`: its own (ids below M) or M + its row."""
        m = self.config.output_shortlist
        rows = self.word_row[words]
        return rows if not m else torch.where(words < m, words, rows + m)

    @torch.no_grad()
    def next_word_logprobs(self, state: RecurrentState) -> torch.Tensor:
        """``log P(w | history)`` of every word ``w`` of the vocabulary, ``(B, |V|)`` float32 (nats), from a
        state of batch ``B``: the first softmax once, and the column head once per row (R column states,
        not |V|), each word then its row's and column's terms (or its own, for a shortlist word). The
        same values as :meth:`score_words` over all words; for decoders that ask for many words from one
        history (a lexicon trie)."""
        out = state[0]
        b, n_rows = out.shape[0], self.config.n_rows
        head = torch.log_softmax(self.head_logits(out).float(), -1)  # (B, M + R) or (B, R)
        every_row = torch.arange(n_rows, device=out.device).expand(b, n_rows)  # (B, R)
        hidden = self._col_hidden(out[:, None, :].expand(b, n_rows, out.shape[-1]), every_row)  # (B, R, K)
        col = torch.log_softmax(self.col_logits(hidden, every_row).float(), -1)  # (B, R, C)
        words = torch.arange(self.config.vocab_size, device=out.device)
        lp = head[:, self._head_targets(words)]  # (B, |V|): each word's own class, or its row
        col_lp = col[:, self.word_row, self.word_col]  # (B, |V|): each word's column in its row
        m = self.config.output_shortlist if self.shortlist_head is not None else 0
        return lp + col_lp if not m else torch.where(words < m, lp, lp + col_lp)

    def _logprob(self, out: torch.Tensor, words: torch.Tensor, dense: bool = False) -> torch.Tensor:
        """``log P(words | out)`` ``(...)`` float32 (nats) from LSTM outputs ``out`` ``(..., H)``. With
        ``output_shortlist`` the column head runs for the factorised words only (81 % of the demo's running
        words are among its 1,000 most frequent); ``dense=True`` runs it for every word and keeps the terms
        of the factorised ones (the same values, with shapes that do not depend on the words: what a trace
        for ONNX needs)."""
        lp = target_logprob(self.head_logits(out), self._head_targets(words))
        if self.shortlist_head is None or dense:
            rows = self.word_row[words]
            col_lp = target_logprob(self.col_logits(self._col_hidden(out, rows), rows), self.word_col[words])
            return lp + col_lp if self.shortlist_head is None else torch.where(
                words >= self.config.output_shortlist, lp + col_lp, lp)
        tail = words >= self.config.output_shortlist  # (...) bool
        words, out = words[tail], out[tail]  # (n,), (n, H)
        rows = self.word_row[words]
        col_lp = target_logprob(self.col_logits(self._col_hidden(out, rows), rows), self.word_col[words])
        return lp.index_put((tail,), col_lp, accumulate=True)

    def row_col_logits(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column logits of every target position, ``(N, T, R)`` and ``(N, T, C)``; with
        ``output_shortlist`` the row logits are :meth:`head_logits`, ``(N, T, M + R)``."""
        out = self.trunk(self._word_inputs(inputs))  # (N, T, H): one step per word
        rows = self.word_row[targets]
        return self.head_logits(out), self.col_logits(self._col_hidden(out, rows), rows)

    def row_col_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`LightRNN.row_col_logprobs`, ``(N, T, R)`` and ``(N, T, C)`` float32 (nats). With
        ``output_shortlist`` they are the target's terms as if it sat in that row (cell of its row): the
        row's (cell's) logit without the mask, over the normaliser of the current table (the shortlist
        words take their share of the first softmax); both are 0 for shortlist targets, whose
        probability does not depend on their cell."""
        if self.shortlist_head is None:
            return super().row_col_logprobs(inputs, targets)
        _, row_lp, col_lp = self.loss_and_logprobs(inputs, targets, torch.ones_like(targets, dtype=torch.bool))
        return row_lp, col_lp

    def loss_and_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor,
                          mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`LightRNN.loss_and_logprobs`: the loss (scalar, nats) and :meth:`row_col_logprobs`,
        ``(N, T, R)`` and ``(N, T, C)`` float32, from one forward pass."""
        if self.shortlist_head is None:
            return super().loss_and_logprobs(inputs, targets, mask)
        m = self.config.output_shortlist
        out = self.trunk(self._word_inputs(inputs))
        rows = self.word_row[targets]
        # a cell's (a row's) entry: its logit without the mask over the normaliser of the current table,
        # which for the target's own cell (row) is its log-probability
        head = self.head_logits(out, masked=False).float()  # (N, T, M + R)
        head_norm = torch.logsumexp(head + F.pad(self.row_mask, (m, 0)), dim=-1, keepdim=True)  # (N, T, 1)
        col = super().col_logits(self._col_hidden(out, rows), rows).float()  # (N, T, C)
        col_norm = torch.logsumexp(col + self.cell_mask[rows], dim=-1, keepdim=True)
        tail = (targets >= m)[..., None]  # (N, T, 1)
        lp = (head.gather(-1, self._head_targets(targets)[..., None]) - head_norm
              + (col.gather(-1, self.word_col[targets][..., None]) - col_norm) * tail)[..., 0]
        loss = -(lp * mask).sum() / mask.sum().clamp(min=1)
        return loss, (head[..., m:] - head_norm) * tail, (col - col_norm) * tail

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self._logprob(self.trunk(self._word_inputs(inputs)), targets)

    def initial_state(self, n: int, bos_id: int = 0) -> RecurrentState:
        bos = torch.full((n,), bos_id, dtype=torch.long, device=self.device)
        return self._read(self._word_inputs(bos), self._zero_state(n))

    def score_words(self, state: RecurrentState, words: torch.Tensor) -> tuple[torch.Tensor, RecurrentState]:
        return self._logprob(state[0], words), state  # scoring needs no LSTM step: advance() takes it

    def advance(self, partial: RecurrentState, words: torch.Tensor) -> RecurrentState:
        _, h, c = partial
        return self._read(self._word_inputs(words), (h, c))
