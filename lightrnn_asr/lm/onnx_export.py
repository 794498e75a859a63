"""Export an LM's step function to ONNX, for on-device users who run onnxruntime rather than TorchScript.

The exported graph is one word step of the model (:meth:`~lightrnn_asr.lm.interface.LanguageModel.score_next`)::

    (out, h, c, words) -> (logprob, out_next, h_next, c_next)

* ``out``: ``(B, H)`` float32, the LSTM output after the history; ``h``, ``c``: ``(L, B, H)`` float32;
* ``words``: ``(B,)`` int64 word ids of the checkpoint's vocabulary;
* ``logprob``: ``(B,)`` float32, ``log P(words | history)`` in nats; the ``*_next`` tensors are the
  state after the words. ``B`` is dynamic.

The state before a sentence is the state after ``<s>``: step ``<s>`` from zeros and ignore that
step's ``logprob``. A sentence's log-probability is the sum of its words' and ``</s>``'s. The
file's metadata (``metadata_props``) holds ``model_type``, ``vocab_size``, ``num_layers``,
``hidden_dim``, ``bos_id``, ``eos_id``, ``unk_id``, ``backward`` and ``vocab`` (the words, one per
line, in id order), so that the file is all a decoder needs. ``int8=True`` also writes the same
graph with int8 weights (onnxruntime's dynamic quantisation, ``quantize_dynamic``).

The graph is traced with ``torch.onnx.export``'s TorchScript-based exporter (``dynamo=False`` where
the argument exists), opset 17. Supported: the LightRNN (one-step or halfword) and the full-softmax
LSTM; an adaptive softmax picks clusters per word at run time and a BPE LSTM steps a word's pieces in
a loop of data-dependent length, which a trace cannot follow.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from pathlib import Path

import torch
from torch import nn

from lightrnn_asr.lm.lightrnn_onestep import OneStepLightRNN
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.utils.io import atomic_path

__all__ = ["StepFunction", "export_onnx"]

INPUTS, OUTPUTS = ["out", "h", "c", "words"], ["logprob", "out_next", "h_next", "c_next"]


class StepFunction(nn.Module):
    """``score_next`` as ``forward(out, h, c, words)`` with no data-dependent shapes: a one-step LightRNN
    with an output shortlist computes every word's column term and keeps it where the word is not in
    the shortlist (the same values as :meth:`score_next`, which runs the column head for those words only)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, out: torch.Tensor, h: torch.Tensor, c: torch.Tensor, words: torch.Tensor):
        m = self.model
        if not isinstance(m, OneStepLightRNN):
            lp, (o2, h2, c2) = m.score_next((out, h, c), words)
            return lp, o2, h2, c2
        o2, h2, c2 = m.advance((out, h, c), words)
        return m._logprob(out, words, dense=True), o2, h2, c2


def _check(model: nn.Module) -> None:
    kind = model.config.model_type
    if kind in ("adaptive", "bpe"):
        raise ValueError(f"a {kind} model cannot be exported to ONNX: "
                         + ("its clusters are picked per word at run time" if kind == "adaptive"
                            else "it steps a word's pieces in a loop of data-dependent length"))
    if getattr(model, "compression", None) is not None:
        raise ValueError("export the float model to ONNX (int8=True quantises the ONNX graph itself)")


def _metadata(model: nn.Module, vocab: Vocabulary) -> dict[str, str]:
    cfg = model.config
    return {"model_type": cfg.model_type, "vocab_size": str(cfg.vocab_size), "num_layers": str(cfg.num_layers),
            "hidden_dim": str(cfg.hidden_dim), "bos_id": str(vocab.bos_id), "eos_id": str(vocab.eos_id),
            "unk_id": str(vocab.unk_id), "backward": str(cfg.backward).lower(), "vocab": "\n".join(vocab.words),
            "signature": "(out, h, c, words) -> (logprob, out_next, h_next, c_next); start: step <s> from zeros"}


@torch.no_grad()
def export_onnx(model: nn.Module, vocab: Vocabulary, path: str | Path, int8: bool = False) -> list[Path]:
    """Write ``model``'s step function as an ONNX file (and, with ``int8``, ``PATH`` with ``.int8.onnx``).

    Args:
        model: a LightRNN or a full-softmax LSTM (float, any device; exported from a CPU copy).
        vocab: its vocabulary (ids, special symbols and words go into the metadata).
        path: where to write (atomically).
        int8: also write an int8 copy (onnxruntime ``quantize_dynamic``, weights as int8).

    Returns:
        the paths written.

    Raises:
        ValueError: for an adaptive-softmax or BPE model, or a compressed one.
        ImportError: when the ``onnx`` package (or, for ``int8``, ``onnxruntime``) is missing.
    """
    import onnx

    _check(model)
    step = StepFunction(copy.deepcopy(model).cpu().eval())
    state = step.model.initial_state(2, vocab.bos_id)
    words = torch.tensor([vocab.eos_id, min(3, len(vocab) - 1)])
    dyn = {"out": {0: "B"}, "h": {1: "B"}, "c": {1: "B"}, "words": {0: "B"}, "logprob": {0: "B"},
           "out_next": {0: "B"}, "h_next": {1: "B"}, "c_next": {1: "B"}}
    kw = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
        torch.onnx.export(step, (*state, words), str(tmp), input_names=INPUTS, output_names=OUTPUTS,
                          dynamic_axes=dyn, opset_version=17, **kw)
        graph = onnx.load(str(tmp))
        for key, value in _metadata(model, vocab).items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))
    written = [path]
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q = path.with_suffix(".int8.onnx")
        with atomic_path(q) as tmp:
            quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8)
        written.append(q)
    return written
