"""Language models: LightRNN (2-Component shared embedding) and a full-softmax LSTM.

Both models take plain tensors of word ids and return natural-log
probabilities; neither knows about files, text or vocabularies.

Shapes used throughout:
    ``inputs``  ``(N, T)`` int64: ``<s> w_1 ... w_{T-1}`` (padded rows allowed),
    ``targets`` ``(N, T)`` int64: ``w_1 ... w_{T-1} </s>``; padding positions may
    hold any valid word id and are ignored by the caller through a mask.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from .table import WordTable

__all__ = ["LMConfig", "LightRNN", "LSTMLM", "AdaptiveLSTMLM", "build_model", "default_cutoffs", "model_device"]

MODEL_TYPES = ("lightrnn", "lstm", "adaptive")


@dataclass
class LMConfig:
    """Hyper-parameters of either model (a plain dataclass, stored in checkpoints).

    Attributes:
        model_type: ``"lightrnn"``, ``"lstm"`` (full softmax baseline) or
            ``"adaptive"`` (LSTM with an adaptive softmax, Grave et al. 2017).
        vocab_size: |V|, including ``<s> </s> <unk>``.
        n_rows, n_cols: table shape R x C (LightRNN only; 0 for the LSTM).
        embed_dim: size of the row/column (or word) input vectors.
        hidden_dim: LSTM hidden size.
        num_layers: stacked LSTM layers.
        dropout: dropout on embeddings, between layers and before the heads.
        cutoffs: adaptive softmax cluster boundaries (word ids; the vocabulary
            is sorted by frequency); empty means :func:`default_cutoffs`.
    """

    model_type: str = "lightrnn"
    vocab_size: int = 0
    n_rows: int = 0
    n_cols: int = 0
    embed_dim: int = 256
    hidden_dim: int = 256
    num_layers: int = 2
    dropout: float = 0.1
    cutoffs: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        self.cutoffs = [int(c) for c in self.cutoffs]
        if self.model_type == "adaptive" and not self.cutoffs:
            self.cutoffs = default_cutoffs(self.vocab_size)
        if self.cutoffs and (self.model_type != "adaptive" or self.cutoffs != sorted(set(self.cutoffs))
                             or self.cutoffs[0] < 1 or self.cutoffs[-1] >= self.vocab_size):
            raise ValueError(f"cutoffs must be increasing word ids in [1, {self.vocab_size}) and are for "
                             f"model_type 'adaptive' only, got {self.cutoffs} for {self.model_type!r}")
        if self.model_type == "adaptive" and self.hidden_dim // 4 ** len(self.cutoffs) < 1:
            raise ValueError(f"hidden_dim {self.hidden_dim} is too small for {len(self.cutoffs)} tail clusters: "
                             f"the last tail cluster's projection would have hidden_dim / 4^{len(self.cutoffs)} < 1 "
                             "dimensions")
        for name in ("vocab_size", "embed_dim", "hidden_dim", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"config field {name} must be a positive integer, got {value!r}")
        if self.model_type == "lightrnn" and self.n_rows * self.n_cols < self.vocab_size:
            raise ValueError(
                f"a {self.n_rows} x {self.n_cols} table cannot hold {self.vocab_size} words"
            )
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LMConfig":
        """Build from a dict, rejecting unknown keys (checkpoint validation)."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return cls(**d)


def default_cutoffs(vocab_size: int) -> list[int]:
    """Adaptive softmax clusters for a frequency-sorted vocabulary: a head of
    ``min(8000, |V| / 20)`` words (at least 100), then tails 4x and 16x as large.

    Grave et al. (2017) use a head of a few thousand words, which covers most
    running words of Zipf-distributed text; e.g. 100K words -> ``[5000, 20000, 80000]``.
    """
    head = min(8000, max(100, vocab_size // 20))
    return [c for c in (head, 4 * head, 16 * head) if c < vocab_size - 1] or [max(1, vocab_size // 2)]


#: A recurrent state for word-at-a-time scoring: ``(out (B, H), h (L, B, H), c (L, B, H))``.
LMState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _target_logprob(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[..., targets]`` in float32, by ``F.cross_entropy`` (one fused kernel,
    faster on the CPU than ``logits[target] - logsumexp(logits)``).

    Args:
        logits: ``(..., K)`` in any float dtype (bf16/fp16 under autocast).
        targets: ``(...)`` int64 class ids in ``[0, K)``.

    Returns:
        ``(...)`` float32 natural-log probabilities.
    """
    flat = logits.reshape(-1, logits.size(-1)).float()
    return -F.cross_entropy(flat, targets.reshape(-1), reduction="none").reshape(targets.shape)


class _Trunk(nn.Module):
    """The shared recurrent trunk: dropout -> multi-layer LSTM -> dropout."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(
            cfg.embed_dim,
            cfg.hidden_dim,
            cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        # device and dtype of recurrent states, whatever ``lstm`` becomes (int8, low-rank: see compress.py)
        self.register_buffer("anchor", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.drop(x))
        return self.drop(out)


class _LanguageModel(nn.Module):
    """Common interface: per-token and per-sentence log-probabilities (nats)."""

    config: LMConfig

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``log P(targets[n, t] | inputs[n, :t+1])`` as ``(N, T)`` float32, natural log."""
        raise NotImplementedError

    def sentence_logprobs(
        self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Sum of token log-probs over unmasked positions: ``(N,)`` float32 (nats).

        ``mask`` is ``(N, T)`` bool, True on real tokens (the final ``</s>``
        included), so the result is ``log P(w_1 .. w_n </s> | <s>)``.
        """
        return (self.token_logprobs(inputs, targets) * mask).sum(dim=1)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced mean negative log-likelihood per token (scalar, nats)."""
        lp = self.token_logprobs(inputs, targets)
        return -(lp * mask).sum() / mask.sum().clamp(min=1)

    def num_parameters(self) -> int:
        """Weights and biases, float or int8 (int8 modules keep theirs outside ``parameters()``)."""
        if getattr(self, "compression", None) is not None:
            from .compress import compressed_state, state_numel

            return state_numel(compressed_state(self))
        return sum(p.numel() for p in self.parameters())

    def initial_state(self, n: int, bos_id: int = 0) -> LMState:
        """The recurrent state after reading ``<s>``, repeated ``n`` times (for :meth:`score_next`)."""
        raise NotImplementedError

    def score_next(self, state: LMState, words: torch.Tensor) -> tuple[torch.Tensor, LMState]:
        """One word at a time, for lattice expansion: ``log P(words[i] | history of state i)``.

        Args:
            state: an :data:`LMState` of batch ``B``: ``(out, h, c)`` with the
                top layer's last output ``(B, H)`` and the LSTM's ``(L, B, H)``
                hidden and cell states.
            words: ``(B,)`` int64 word ids.

        Returns:
            ``(logprob, new_state)``: ``(B,)`` float32 nats, and the state
            after reading the words. Summed over a sentence (``</s>``
            included) this is :meth:`sentence_logprobs`, up to float error.
            It is :meth:`score_words` followed by :meth:`advance`.
        """
        lp, partial = self.score_words(state, words)
        return lp, self.advance(partial, words)

    def score_words(self, state: LMState, words: torch.Tensor) -> tuple[torch.Tensor, LMState]:
        """The log-probabilities of :meth:`score_next` without the last state update.

        Returns:
            ``(logprob, partial)``: ``(B,)`` float32 nats, and an
            :data:`LMState`-shaped tuple (rows can be selected and stacked like
            a state's) that :meth:`advance` turns into the state after the
            words. Lattice rescoring advances only the histories it keeps.
        """
        raise NotImplementedError

    def advance(self, partial: LMState, words: torch.Tensor) -> LMState:
        """The state after ``words`` (``(B,)`` int64) from :meth:`score_words`' ``partial``."""
        raise NotImplementedError

    def _read(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> LMState:
        out, (h, c) = self.trunk.lstm(x[:, None], state)
        return out[:, 0], h, c

    def _zero_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        anchor = self.trunk.anchor
        shape = (self.config.num_layers, n, self.config.hidden_dim)
        return anchor.new_zeros(shape), anchor.new_zeros(shape)

    @property
    def device(self) -> torch.device:
        """The device the model lives on (also for int8 models, which have no float parameters)."""
        return self.trunk.anchor.device


class LightRNN(_LanguageModel):
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
        self.trunk = _Trunk(config)
        self.row_head = nn.Linear(config.hidden_dim, config.n_rows)
        self.col_head = nn.Linear(config.hidden_dim, config.n_cols)
        self.register_buffer("word_row", torch.zeros(config.vocab_size, dtype=torch.long), persistent=False)
        self.register_buffer("word_col", torch.zeros(config.vocab_size, dtype=torch.long), persistent=False)
        self.set_table(table)
        nn.init.uniform_(self.row_embed.weight, -0.1, 0.1)
        nn.init.uniform_(self.col_embed.weight, -0.1, 0.1)

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

    def row_col_logits(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column logits of every target position.

        Returns:
            ``(row_logits, col_logits)``: ``(N, T, R)`` and ``(N, T, C)``, in the
            autocast dtype when autocast is on. ``col_logits[n, t]`` is
            conditioned on the row of ``targets[n, t]``.
        """
        out = self._halfword_states(inputs, targets)
        return self.row_head(out[:, 0::2]), self.col_head(out[:, 1::2])

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
        """Log-softmax of :meth:`row_col_logits` in float32: ``(N, T, R)``, ``(N, T, C)`` (nats)."""
        row_logits, col_logits = self.row_col_logits(inputs, targets)
        return F.log_softmax(row_logits.float(), dim=-1), F.log_softmax(col_logits.float(), dim=-1)

    def initial_state(self, n: int, bos_id: int = 0) -> LMState:
        bos = torch.full((n,), bos_id, dtype=torch.long, device=self.device)
        _, h, c = self._read(self.row_embed(self.word_row[bos]), self._zero_state(n))
        return self._read(self.col_embed(self.word_col[bos]), (h, c))

    def score_words(self, state: LMState, words: torch.Tensor) -> tuple[torch.Tensor, LMState]:
        out, h, c = state
        rows, cols = self.word_row[words], self.word_col[words]
        lp = F.log_softmax(self.row_head(out).float(), dim=-1).gather(1, rows[:, None])[:, 0]
        partial = self._read(self.row_embed(rows), (h, c))  # the row is read before the column is predicted
        lp = lp + F.log_softmax(self.col_head(partial[0]).float(), dim=-1).gather(1, cols[:, None])[:, 0]
        return lp, partial

    def advance(self, partial: LMState, words: torch.Tensor) -> LMState:
        _, h, c = partial
        return self._read(self.col_embed(self.word_col[words]), (h, c))

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        row_logits, col_logits = self.row_col_logits(inputs, targets)
        return (_target_logprob(row_logits, self.word_row[targets])
                + _target_logprob(col_logits, self.word_col[targets]))


class LSTMLM(_LanguageModel):
    """Baseline LSTM LM: word embedding (|V|, E), the same trunk, full softmax (H -> |V|).

    Args:
        config: an :class:`LMConfig` with ``model_type="lstm"``.
    """

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.trunk = _Trunk(config)
        self.head = self._make_head(config)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)

    def _make_head(self, config: LMConfig) -> nn.Module:
        return nn.Linear(config.hidden_dim, config.vocab_size)

    def initial_state(self, n: int, bos_id: int = 0) -> LMState:
        bos = torch.full((n,), bos_id, dtype=torch.long, device=self.device)
        return self._read(self.embed(bos), self._zero_state(n))

    def score_words(self, state: LMState, words: torch.Tensor) -> tuple[torch.Tensor, LMState]:
        lp = F.log_softmax(self.head(state[0]).float(), dim=-1).gather(1, words[:, None])[:, 0]
        return lp, state

    def advance(self, partial: LMState, words: torch.Tensor) -> LMState:
        _, h, c = partial
        return self._read(self.embed(words), (h, c))

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return _target_logprob(self.head(self.trunk(self.embed(inputs))), targets)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # cross_entropy fuses log-softmax and gather: less memory than token_logprobs at large |V|.
        logits = self.head(self.trunk(self.embed(inputs))).float()
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
        mask = mask.reshape(-1)
        return (nll * mask).sum() / mask.sum().clamp(min=1)


class AdaptiveLSTMLM(LSTMLM):
    """LSTM LM with an adaptive softmax output (Grave et al., ICML 2017), the usual modern
    alternative to LightRNN for large vocabularies: ``torch.nn.AdaptiveLogSoftmaxWithLoss``
    with ``config.cutoffs`` and ``div_value=4``. Same word embedding and trunk as :class:`LSTMLM`.

    Frequent words (the head cluster) cost ``H x cutoffs[0]`` to score; a rare word adds
    its tail cluster's softmax. Word ids must be sorted by frequency (the vocabulary is).

    Args:
        config: an :class:`LMConfig` with ``model_type="adaptive"``.
    """

    def _make_head(self, config: LMConfig) -> nn.Module:
        return nn.AdaptiveLogSoftmaxWithLoss(config.hidden_dim, config.vocab_size, config.cutoffs, div_value=4.0)

    def _logprob(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # float32 in: the module accumulates log-probs in its input's dtype (bf16 under autocast)
        out = self.head(hidden.reshape(-1, hidden.size(-1)).float(), targets.reshape(-1)).output
        return out.reshape(targets.shape).float()

    def score_words(self, state: LMState, words: torch.Tensor) -> tuple[torch.Tensor, LMState]:
        return self._logprob(state[0], words), state

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self._logprob(self.trunk(self.embed(inputs)), targets)

    loss = _LanguageModel.loss


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a module with neither).

    int8 models hold no float parameters, only packed weights and buffers, so
    ``next(model.parameters())`` is not enough.
    """
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.device
    return torch.device("cpu")


def build_model(config: LMConfig, table: WordTable | None = None) -> _LanguageModel:
    """Instantiate the model named by ``config.model_type``.

    Raises:
        ValueError: when a LightRNN is asked for without a table.
    """
    if config.model_type == "lightrnn":
        if table is None:
            raise ValueError("a LightRNN needs a WordTable")
        return LightRNN(config, table)
    if config.model_type == "adaptive":
        return AdaptiveLSTMLM(config)
    return LSTMLM(config)
