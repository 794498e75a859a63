"""Export an LM as a TorchScript sentence scorer, for deployment without this package.

The exported module (``torch.jit.load(path)``, also from C++ with libtorch) computes
``forward(inputs, targets, mask) -> (N,) float32`` sentence log-probabilities in nats,
exactly :meth:`~lightrnn_asr.lm.interface.LanguageModel.sentence_logprobs`:

* ``inputs``: ``(N, T)`` int64, ``<s> w_1 .. w_L`` padded;
* ``targets``: ``(N, T)`` int64, ``w_1 .. w_L </s>`` padded with any valid id;
* ``mask``: ``(N, T)`` bool, True on the ``L + 1`` real targets.

Word ids are those of the checkpoint's vocabulary (``vocab.txt`` order, ``<s>``, ``</s>``,
``<unk>`` first). The graph is traced (``torch.jit.trace``) with batch and length left
dynamic; the time loop of a low-rank trunk is scripted (``torch.jit.script``) so that
it is kept as a loop, not unrolled.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from lightrnn_asr.lm.compress import LowRankLSTM
from lightrnn_asr.utils.io import atomic_path

__all__ = ["SentenceScorer", "export_torchscript", "check_exportable"]


class SentenceScorer(nn.Module):
    """``model.sentence_logprobs`` as ``forward`` (what TorchScript exports)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model.sentence_logprobs(inputs, targets, mask)


@torch.no_grad()
def check_exportable(model: nn.Module) -> None:
    """Raise ``ValueError`` when :func:`export_torchscript` cannot export ``model`` (an adaptive-softmax
    model: its clusters are chosen per word at run time, which a trace cannot follow)."""
    if model.config.model_type == "adaptive":
        raise ValueError("adaptive-softmax models cannot be exported to TorchScript: "
                         "torch.nn.AdaptiveLogSoftmaxWithLoss picks clusters per word at run time")


def export_torchscript(model: nn.Module, path: str | Path, bos_id: int = 0, eos_id: int = 1) -> None:
    """Write ``model`` (float, int8 or low-rank; on the CPU) as a TorchScript file.

    Args:
        model: a LightRNN, LSTMLM or AdaptiveLSTMLM (compressed or not). The exported scorer takes word ids
            as given: for a backward LM (``model.backward``) the caller reverses each sentence.
        path: where to write (written atomically: a temporary file, then renamed).
        bos_id, eos_id: used only for the example batch that the trace runs.

    Raises:
        ValueError: for an adaptive-softmax model (its clusters are chosen per word at run
            time, which a trace cannot follow).
        RuntimeError: from ``torch.jit`` when the model cannot be exported.
    """
    check_exportable(model)
    model = copy.deepcopy(model).cpu().eval()
    lstm = model.lstm
    if isinstance(lstm, LowRankLSTM):
        for k, layer in enumerate(lstm.layers):
            lstm.layers[k] = torch.jit.script(layer)
    example_ids = torch.tensor([[bos_id, 3, 4, 5], [bos_id, 3, eos_id, eos_id]]) % model.config.vocab_size
    targets = torch.roll(example_ids, -1, 1)
    targets[:, -1] = eos_id
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    with warnings.catch_warnings():  # shape checks inside nn.LSTM become constants: harmless here
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(SentenceScorer(model), (example_ids, targets, mask), check_trace=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        traced.save(str(tmp))
