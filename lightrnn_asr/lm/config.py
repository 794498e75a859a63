"""Hyper-parameters of every model: :class:`LMConfig` (a plain dataclass, stored in checkpoints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from lightrnn_asr.lm import defaults
from lightrnn_asr.lm.table import table_shape

__all__ = ["LMConfig", "MODEL_TYPES", "RECURRENCES", "default_cutoffs"]

MODEL_TYPES = ("lightrnn", "lstm", "adaptive", "bpe")
#: LightRNN recurrences: the paper's two LSTM steps per word, or one step reading both vectors of the
#: previous word, concatenated or summed (:class:`~lightrnn_asr.lm.lightrnn_onestep.OneStepLightRNN`).
RECURRENCES = ("halfword", "word-concat", "word-sum")


#: What a checkpoint written before a field existed meant by its absence (:meth:`LMConfig.from_dict`).
LEGACY_FIELDS = {"recurrence": "halfword", "col_hidden_dim": 0, "input_shortlist": 0, "output_shortlist": 0}


@dataclass(kw_only=True)
class LMConfig:
    """Hyper-parameters of every model (a plain dataclass, stored in checkpoints), keyword-only.

    A field left unset gets the package's default (:mod:`lightrnn_asr.lm.defaults`), so that
    ``LMConfig(model_type=..., vocab_size=...)`` is the model ``lightrnn-asr train`` and
    :func:`~lightrnn_asr.lm.build.new_model` build when no option is given; the fields that depend on
    others (table shape, recurrence, column head, shortlists) are resolved in ``__post_init__``.

    Attributes:
        model_type: ``"lightrnn"``, ``"lstm"`` (full softmax baseline),
            ``"adaptive"`` (LSTM with an adaptive softmax, Grave et al. 2017) or ``"bpe"`` (an LSTM over
            sentencepiece pieces that scores words, :class:`~lightrnn_asr.lm.piece_lstm.PieceLSTMLM`).
        vocab_size: |V|, including ``<s> </s> <unk>`` (required).
        n_rows, n_cols: table shape R x C (LightRNN only; 0 for the LSTM); unset:
            :func:`~lightrnn_asr.lm.table.table_shape` of ``vocab_size``.
        embed_dim: size of the row/column (or word) input vectors.
        hidden_dim: LSTM hidden size.
        num_layers: stacked LSTM layers.
        dropout: dropout on embeddings, between layers and before the heads.
        cutoffs: adaptive softmax cluster boundaries (word ids; the vocabulary
            is sorted by frequency); empty means :func:`default_cutoffs`.
        recurrence: LightRNN only: ``"halfword"`` (the paper's: the LSTM reads a row vector and a
            column vector per word, 2T steps) or ``"word-concat"``/``"word-sum"`` (one step per
            word; see :class:`~lightrnn_asr.lm.lightrnn_onestep.OneStepLightRNN`). Unset:
            :func:`~lightrnn_asr.lm.defaults.default_recurrence`; checkpoints without the field are
            ``"halfword"``.
        tie_weights: LightRNN only: the row head's weights are the row input vectors and the column
            head's the column input vectors (``Y^r = X^r``, ``Y^c = X^c``; Press & Wolf 2017, weight
            tying), so ``embed_dim`` must equal ``hidden_dim``. Checkpoints without the field are untied.
        word_bias: LightRNN only: one learnt scalar per word added to its column logit (|V| floats, no
            |V| x H matrix), so that words sharing a column can differ in frequency; see
            :class:`~lightrnn_asr.lm.lightrnn.LightRNN`. Checkpoints without the field have none.
        col_hidden_dim: one-step LightRNN only: the size K of the state the column head reads, a hidden
            layer ``tanh(W h + P x^r)`` over the LSTM output and the row's input vector (W: H -> K,
            P: E -> K); 0 (checkpoints without the field) is ``tanh(h + P x^r)`` with K = H; see
            :class:`~lightrnn_asr.lm.lightrnn_onestep.OneStepLightRNN`. Unset:
            :func:`~lightrnn_asr.lm.defaults.default_col_hidden_dim`.
        input_shortlist: one-step LightRNN with recurrence ``"word-sum"`` only: the N most frequent
            words (ids below N; the vocabulary is in frequency order) get an input vector of their own,
            added to their row and column vectors (N x E parameters, independent of |V|); the output
            layer is unchanged. 0 (checkpoints without the field): none, the paper's input layer. Unset:
            :func:`~lightrnn_asr.lm.defaults.default_input_shortlist`.
        output_shortlist: one-step LightRNN only (not with ``word_bias``): the N most frequent words
            (ids below N) get an output vector of their own and are predicted directly, by one softmax
            over those N words and the R rows (the other words' row); the other words keep the
            factorised prediction, their column softmax over the cells of other words only (N x (H + 1)
            parameters, independent of |V|); see
            :class:`~lightrnn_asr.lm.lightrnn_onestep.OneStepLightRNN`. 0 (checkpoints without the
            field): none, the paper's output layer. Unset:
            :func:`~lightrnn_asr.lm.defaults.default_output_shortlist`.
        backward: the model reads every sentence right to left (``<s> w_n ... w_1 </s>``): it was
            trained on reversed sentences and every scorer reverses the words it is given
            (:attr:`~lightrnn_asr.lm.interface.LanguageModel.backward`). A backward LM complements a
            forward one in N-best rescoring (:func:`~lightrnn_asr.scoring.nbest.with_backward_lm`, as
            Kaldi's ``rnnlm/lmrescore_nbest_back.sh``). Any model type. False (checkpoints without the
            field): left to right.
        n_pieces: ``"bpe"`` only: the size P of the piece vocabulary (``<unk> <s> </s>`` included); 0 for
            the other models.
        max_word_pieces: ``"bpe"`` only: the most pieces a word of the vocabulary has (the width of its
            piece table); 0 for the other models.
    """

    model_type: str = "lightrnn"
    vocab_size: int
    n_rows: int | None = None
    n_cols: int | None = None
    embed_dim: int = defaults.EMBED_DIM
    hidden_dim: int = defaults.HIDDEN_DIM
    num_layers: int = defaults.NUM_LAYERS
    dropout: float = defaults.DROPOUT
    cutoffs: list = field(default_factory=list)
    recurrence: str | None = None
    tie_weights: bool = False
    word_bias: bool = False
    col_hidden_dim: int | None = None
    input_shortlist: int | None = None
    output_shortlist: int | None = None
    backward: bool = False
    n_pieces: int = 0
    max_word_pieces: int = 0

    def __post_init__(self) -> None:
        self._resolve_defaults()
        self._check()

    def _resolve_defaults(self) -> None:
        """Unset fields that depend on others, from :mod:`lightrnn_asr.lm.defaults` (as ``new_model``)."""
        if self.n_rows is None or self.n_cols is None:
            shape = table_shape(self.vocab_size) if self.model_type == "lightrnn" and isinstance(self.vocab_size, int) \
                and self.vocab_size > 0 else (0, 0)
            self.n_rows = shape[0] if self.n_rows is None else self.n_rows
            self.n_cols = shape[1] if self.n_cols is None else self.n_cols
        if self.recurrence is None:
            self.recurrence = defaults.default_recurrence(self.model_type)
        if self.col_hidden_dim is None:
            self.col_hidden_dim = defaults.default_col_hidden_dim(self.model_type, self.recurrence, self.hidden_dim,
                                                                  self.tie_weights)
        if self.input_shortlist is None:
            self.input_shortlist = defaults.default_input_shortlist(self.model_type, self.recurrence, self.vocab_size)
        if self.output_shortlist is None:
            self.output_shortlist = defaults.default_output_shortlist(self.model_type, self.recurrence, self.vocab_size,
                                                                      self.word_bias)

    def _check(self) -> None:
        if self.word_bias and self.model_type != "lightrnn":
            raise ValueError(f"word_bias is for model_type 'lightrnn' only, got {self.model_type!r}")
        if self.tie_weights and (self.model_type != "lightrnn" or self.embed_dim != self.hidden_dim):
            raise ValueError(f"tie_weights needs model_type 'lightrnn' and embed_dim == hidden_dim, got "
                             f"{self.model_type!r} with {self.embed_dim} and {self.hidden_dim}")
        if self.recurrence not in RECURRENCES or (self.recurrence != "halfword" and self.model_type != "lightrnn"):
            raise ValueError(f"recurrence must be one of {RECURRENCES} (all but 'halfword' for model_type 'lightrnn' only), "
                             f"got {self.recurrence!r} for {self.model_type!r}")
        if self.col_hidden_dim and (self.model_type != "lightrnn" or self.recurrence == "halfword"):
            raise ValueError("col_hidden_dim is for a one-step LightRNN (recurrence 'word-sum' or 'word-concat'), got "
                             f"{self.model_type!r} with recurrence {self.recurrence!r}")
        if not isinstance(self.col_hidden_dim, int) or self.col_hidden_dim < 0:
            raise ValueError(f"col_hidden_dim must be an integer >= 0, got {self.col_hidden_dim!r}")
        if not isinstance(self.input_shortlist, int) or not 0 <= self.input_shortlist <= self.vocab_size:
            raise ValueError(f"input_shortlist must be an integer in [0, vocab_size = {self.vocab_size}], "
                             f"got {self.input_shortlist!r}")
        if self.input_shortlist and (self.model_type != "lightrnn" or self.recurrence != "word-sum"):
            raise ValueError("input_shortlist is for a one-step LightRNN with recurrence 'word-sum', got "
                             f"{self.model_type!r} with recurrence {self.recurrence!r}")
        if not isinstance(self.output_shortlist, int) or not 0 <= self.output_shortlist <= self.vocab_size:
            raise ValueError(f"output_shortlist must be an integer in [0, vocab_size = {self.vocab_size}], "
                             f"got {self.output_shortlist!r}")
        if self.output_shortlist and (self.model_type != "lightrnn" or self.recurrence == "halfword" or self.word_bias):
            raise ValueError("output_shortlist is for a one-step LightRNN (recurrence 'word-sum' or 'word-concat') "
                             f"without word_bias, got {self.model_type!r} with recurrence {self.recurrence!r}"
                             f"{' and word_bias' if self.word_bias else ''}")
        if self.tie_weights and self.col_hidden_dim not in (0, self.embed_dim):
            raise ValueError(f"tie_weights needs col_hidden_dim 0 or embed_dim ({self.embed_dim}), got {self.col_hidden_dim}")
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
        self._check_pieces()
        if not isinstance(self.backward, bool):
            raise ValueError(f"backward must be true or false, got {self.backward!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def _check_pieces(self) -> None:
        pieces = (self.n_pieces, self.max_word_pieces)
        if self.model_type == "bpe" and not (isinstance(self.n_pieces, int) and self.n_pieces >= 4
                                             and isinstance(self.max_word_pieces, int) and self.max_word_pieces >= 1):
            raise ValueError(f"a bpe model needs n_pieces >= 4 and max_word_pieces >= 1, got {pieces}")
        if self.model_type != "bpe" and pieces != (0, 0):
            raise ValueError(f"n_pieces and max_word_pieces are for model_type 'bpe' only, got {pieces} "
                             f"for {self.model_type!r}")

    def to_dict(self) -> dict:
        """The fields as a plain dict (what a checkpoint stores; :meth:`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LMConfig":
        """Build from a checkpoint's dict: a field it lacks (written before the field existed) takes the
        value its absence meant then (:data:`LEGACY_FIELDS`), not today's default.

        Raises:
            ValueError: unknown keys, or invalid values (as the constructor).
        """
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return cls(**{**LEGACY_FIELDS, **d})


def default_cutoffs(vocab_size: int) -> list[int]:
    """Adaptive softmax clusters for a frequency-sorted vocabulary: a head of
    ``min(8000, |V| / 20)`` words (at least 100), then tails 4x and 16x as large.

    Grave et al. (2017) use a head of a few thousand words, which covers most
    running words of Zipf-distributed text; e.g. 100K words -> ``[5000, 20000, 80000]``.
    """
    head = min(8000, max(100, vocab_size // 20))
    return [c for c in (head, 4 * head, 16 * head) if c < vocab_size - 1] or [max(1, vocab_size // 2)]
