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
parameters, independent of |V|. On the demo's real text (|V| = 14,848, trunk 200 x 1; docs/results.md,
"A column head of its own") K = 400 brought held-out perplexity at convergence from 152.5 to 137.9
(the full-softmax LSTM of the same trunk: 128.0) at 0.86x the training tokens/s, and from 190.7 to
176.5 after 300 s; K = 800 was no better per epoch and 0.64x as fast. ``lightrnn-asr train`` uses
K = 2H unless told otherwise.

With ``input_shortlist = N`` (word-sum only) the N most frequent words also get an input vector of
their own, ``e_w``, so step ``t`` reads ``x^r + x^c + e_{w_{t-1}}`` (``e_w = 0`` for the other words, and
at the start of training for all, so training starts from the shared vectors' model); the output layer
and the table are unchanged, and the cost is N x E parameters whatever |V| is. The shared input
vectors are what a word's row and column mates pull apart: on the demo's text (docs/results.md, "An
input vector of their own for the frequent words") N = 4000 brought held-out perplexity after 300 s
from 176.5 to 154.2 (validation after 4 epochs 194.5 -> 167.2) at 0.94x the tokens/s, and at
convergence from 137.9 to 129.8 (the full-softmax LSTM of the same trunk: 128.0); it also made the
first reallocation gentle (validation 333 -> 439 without, 290 -> 295 with). Own vectors for every
word overfit (136.6 at convergence). ``lightrnn-asr train`` uses N = min(|V|, 4000).

In training ``r`` is the target word's row; in scoring, the row of the word scored (lattice
expansion needs no LSTM step to score a word, only to advance a history).
``P(w | h) = P_row(r(w) | h) P_col(c(w) | h, r(w))`` sums to 1 over all cells, as in the paper's form.

``word-sum`` is the default of ``lightrnn-asr train`` because it measured best in one run each on 2 CPU
cores (docs/results.md, "One LSTM step per word"): rescoring 1.87x / 1.74x / 1.32x the paper form's
words/s at |V| = 10K / 100K / 1M (and 1.08x the adaptive-softmax LSTM at 10K), training 1.7-2.1x its
tokens/s, and held-out perplexity 204.2 against the paper form's 250.0 after 240 s of training on the
demo's real text (concat: 218.1). The paper's form stays available as ``recurrence="halfword"``.
"""

from __future__ import annotations

import torch
from torch import nn

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.lightrnn import LightRNN
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
        return torch.tanh(h + self.row_to_col(self.row_embed(every_row))[rows])

    def row_col_logits(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.trunk(self._word_inputs(inputs))  # (N, T, H): one step per word
        rows = self.word_row[targets]
        return self.row_head(out), self.col_logits(self._col_hidden(out, rows), rows)

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        row_logits, col_logits = self.row_col_logits(inputs, targets)
        return (target_logprob(row_logits, self.word_row[targets])
                + target_logprob(col_logits, self.word_col[targets]))

    def initial_state(self, n: int, bos_id: int = 0) -> RecurrentState:
        bos = torch.full((n,), bos_id, dtype=torch.long, device=self.device)
        return self._read(self._word_inputs(bos), self._zero_state(n))

    def score_words(self, state: RecurrentState, words: torch.Tensor) -> tuple[torch.Tensor, RecurrentState]:
        out = state[0]
        rows, cols = self.word_row[words], self.word_col[words]
        lp = target_logprob(self.row_head(out), rows) + target_logprob(self.col_logits(self._col_hidden(out, rows), rows), cols)
        return lp, state  # scoring needs no LSTM step: advance() takes it for the histories kept

    def advance(self, partial: RecurrentState, words: torch.Tensor) -> RecurrentState:
        _, h, c = partial
        return self._read(self._word_inputs(words), (h, c))
