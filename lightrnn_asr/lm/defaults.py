"""The defaults of a new model, in one place: what ``lightrnn-asr train``,
:func:`~lightrnn_asr.lm.build.new_model` and :class:`~lightrnn_asr.lm.config.LMConfig` give when an
option is not set (the same model from each).

A checkpoint written before a field existed loads with the value its absence meant then
(:data:`lightrnn_asr.lm.config.LEGACY_FIELDS`, e.g. ``recurrence="halfword"``), not with these.
"""

from __future__ import annotations

__all__ = ["EMBED_DIM", "HIDDEN_DIM", "NUM_LAYERS", "DROPOUT", "RECURRENCE", "INPUT_SHORTLIST", "OUTPUT_SHORTLIST",
           "PRESETS", "default_recurrence", "default_col_hidden_dim", "default_input_shortlist", "default_output_shortlist"]

EMBED_DIM = 256
HIDDEN_DIM = 256
NUM_LAYERS = 2
DROPOUT = 0.1
#: A LightRNN's recurrence: one LSTM step per word reading its row and column vectors summed
#: (:class:`~lightrnn_asr.lm.lightrnn_onestep.OneStepLightRNN`; docs/studies/one-step.md).
RECURRENCE = "word-sum"


def default_recurrence(model_type: str) -> str:
    """:data:`RECURRENCE` for a LightRNN; ``"halfword"`` (the only one they have) for the other models."""
    return RECURRENCE if model_type == "lightrnn" else "halfword"


def default_col_hidden_dim(model_type: str, recurrence: str, hidden_dim: int, tie_weights: bool) -> int:
    """The column-state size K when none is given (``new_model``, ``train --col-hidden-dim``): ``2 * hidden_dim`` for a
    one-step LightRNN without tied weights, else 0 (the column head reads ``tanh(h + P x^r)``).

    Chosen on the demo's text (docs/studies/column-head.md) before the dev/test
    protocol of docs/protocol.md, by held-out perplexity on the novel whose chapters now also hold the test.
    Checked on dev alone since (benchmarks/quality/dev_search.py, docs/results.md): K = 0 did as well, so this
    default is open to change.
    """
    if model_type != "lightrnn" or recurrence == "halfword" or tie_weights:
        return 0
    return 2 * hidden_dim


#: The input shortlist when none is given (see :func:`default_input_shortlist`).
INPUT_SHORTLIST = 4000


def default_input_shortlist(model_type: str, recurrence: str, vocab_size: int) -> int:
    """The input shortlist N when none is given (``new_model``, ``train --input-shortlist``): ``min(|V|, 4000)`` for a
    one-step word-sum LightRNN, else 0. They cost 4000 x E parameters whatever |V| is.

    Chosen on the demo's text (docs/studies/input-shortlist.md)
    before the dev/test protocol of docs/protocol.md; confirmed on dev alone since (without it dev perplexity
    is worse: benchmarks/quality/dev_search.py, docs/results.md).
    """
    if model_type != "lightrnn" or recurrence != "word-sum":
        return 0
    return min(vocab_size, INPUT_SHORTLIST)


#: The output shortlist when none is given (see :func:`default_output_shortlist`).
OUTPUT_SHORTLIST = 1000


def default_output_shortlist(model_type: str, recurrence: str, vocab_size: int, word_bias: bool) -> int:
    """The output shortlist M when none is given (``new_model``, ``train --output-shortlist``): ``min(1000, |V| // 10)`` for a
    one-step LightRNN without ``--word-bias``, else 0 (a tenth of the vocabulary at most, so that the
    factorised rows and columns still hold most words of a small one). They cost 1000 x (H + 1) parameters
    whatever |V| is.

    Chosen on the demo's text (docs/studies/output-shortlist.md)
    before the dev/test protocol of docs/protocol.md; confirmed on dev alone since (without it dev perplexity
    is worse: benchmarks/quality/dev_search.py, docs/results.md).
    """
    if model_type != "lightrnn" or recurrence == "halfword" or word_bias:
        return 0
    return min(OUTPUT_SHORTLIST, vocab_size // 10)


#: Named forms of a LightRNN, as keyword arguments of :func:`~lightrnn_asr.lm.build.new_model` (``preset=``)
#: and options of ``lightrnn-asr train`` (``--preset``); what a preset leaves out takes the defaults above,
#: and an argument or option given explicitly overrides the preset.
#:
#: - ``default``: this package's LightRNN (one LSTM step per word, input and output shortlists, a column
#:   head of its own).
#: - ``paper``: the form of Li et al., "LightRNN: Memory and Computation-Efficient Recurrent Neural
#:   Networks" (NeurIPS 2016), Section 3: two LSTM steps per word (row vector, then column vector), the
#:   2C embedding alone at the input and the row and column softmaxes alone at the output.
PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    "paper": {"recurrence": "halfword", "input_shortlist": 0, "output_shortlist": 0, "col_hidden_dim": 0},
}
