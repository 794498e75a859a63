"""Post-training compression of an LM for on-device rescoring: low-rank LSTM weights and int8.

Grachev, Ignatov and Savchenko (2019, "Compression of recurrent neural networks for
efficient language modeling") compare pruning, quantisation, low-rank and tensor-train
factorisation of RNN LMs by size, speed and perplexity. Two of those are offered here,
and they compose (low-rank first, then int8):

* **low-rank**: every LSTM weight matrix ``W`` (``4H x in``) becomes ``U V`` with
  ``U`` (``4H x r``) and ``V`` (``r x in``) from its truncated SVD (Eckart-Young: the best
  rank-``r`` approximation in Frobenius norm). The trunk then runs :class:`LowRankLSTM`.
* **int8**: post-training dynamic quantisation with torch's own API
  (``torch.ao.quantization.quantize_dynamic``): LSTM and linear weights become qint8
  (per-tensor, symmetric), embeddings quint8 with a float scale and offset per row;
  activations are quantised on the fly. int8 models run on the CPU only (fbgemm/x86,
  or qnnpack on ARM).

Compressed models are for scoring, not for further training. They are stored in
checkpoints as plain integer and float tensors (see :func:`compressed_state`), so the
files still load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["scoring_device", "Compression", "LowRankLSTM", "compress_model", "compressed_state", "load_compressed_state",
           "prepare_structure", "state_bytes", "state_numel"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Compression:
    """What was done to a model (stored in its checkpoint).

    Attributes:
        rank: rank of every LSTM weight matrix (0: full rank, no factorisation).
        int8: dynamic int8 quantisation of the LSTM, linear layers and embeddings.
    """

    rank: int = 0
    int8: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 0:
            raise ValueError(f"rank must be a non-negative integer, got {self.rank!r}")

    @property
    def name(self) -> str:
        """A short label: ``rank<R>``, ``int8``, both joined by ``+``, or ``fp32`` for none."""
        parts = ([f"rank{self.rank}"] if self.rank else []) + (["int8"] if self.int8 else [])
        return "+".join(parts) or "fp32"

    def to_dict(self) -> dict:
        """The fields as a plain dict (what a checkpoint stores; :meth:`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Compression":
        unknown = set(d) - {"rank", "int8"}
        if unknown:
            raise ValueError(f"unknown compression fields: {sorted(unknown)}")
        return cls(int(d.get("rank", 0)), bool(d.get("int8", False)))


class _LowRankLayer(nn.Module):
    """One LSTM layer with factorised weights: gates = U_ih V_ih x + U_hh V_hh h + b."""

    def __init__(self, input_size: int, hidden_size: int, rank: int) -> None:
        super().__init__()
        r_ih, r_hh = min(rank, input_size), min(rank, hidden_size)  # a matrix's rank is at most its width
        self.ih_v = nn.Linear(input_size, r_ih, bias=False)
        self.ih_u = nn.Linear(r_ih, 4 * hidden_size)  # its bias is b_ih + b_hh
        self.hh_v = nn.Linear(hidden_size, r_hh, bias=False)
        self.hh_u = nn.Linear(r_hh, 4 * hidden_size, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        gates_x = self.ih_u(self.ih_v(x))  # (N, T, 4H): the input side for all steps at once
        out = []
        for t in range(x.size(1)):  # the recurrence is sequential by nature
            i, f, g, o = (gates_x[:, t] + self.hh_u(self.hh_v(h))).chunk(4, dim=1)  # torch's gate order
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(h)
        return torch.stack(out, dim=1), h, c


class LowRankLSTM(nn.Module):
    """A stacked unidirectional LSTM (``batch_first``) whose weight matrices have rank ``r``.

    A drop-in for ``torch.nn.LSTM`` at inference: ``forward(x (N, T, in), (h0, c0)) ->
    (out (N, T, H), (h (L, N, H), c (L, N, H)))``, float32, torch's gate order (i, f, g, o).
    Each layer holds ``r (in + 4H) + r (H + 4H) + 4H`` numbers (for ``r <= min(in, H)``) instead of
    ``4H (in + H) + 8H``. The loop over time steps is in Python (one batched step per
    position), so it trades speed for size unless ``r`` is well below ``H / 2``.

    Args:
        input_size, hidden_size, num_layers: as for ``torch.nn.LSTM``.
        rank: the rank ``r``; a matrix narrower than ``r`` keeps its full rank (its width).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, rank: int) -> None:
        super().__init__()
        if not 1 <= rank <= max(input_size, hidden_size):
            raise ValueError(f"rank must be in [1, {max(input_size, hidden_size)}], got {rank}")
        self.input_size, self.hidden_size, self.num_layers, self.rank = input_size, hidden_size, num_layers, rank
        self.layers = nn.ModuleList(
            _LowRankLayer(input_size if k == 0 else hidden_size, hidden_size, rank) for k in range(num_layers))

    @classmethod
    @torch.no_grad()
    def from_lstm(cls, lstm: nn.LSTM, rank: int) -> "LowRankLSTM":
        """Truncated SVD of every weight matrix of a trained ``torch.nn.LSTM`` (unidirectional, batch_first)."""
        if lstm.bidirectional or lstm.proj_size or not lstm.batch_first:
            raise ValueError("only unidirectional batch_first LSTMs without projections can be factorised")
        out = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers, rank)
        for k, layer in enumerate(out.layers):
            for side, u, v in (("ih", layer.ih_u, layer.ih_v), ("hh", layer.hh_u, layer.hh_v)):
                w = getattr(lstm, f"weight_{side}_l{k}").float()
                left, s, right = torch.linalg.svd(w, full_matrices=False)
                r = v.out_features
                u.weight.copy_(left[:, :r] * s[:r])
                v.weight.copy_(right[:r])
            layer.ih_u.bias.copy_(getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}"))
        return out

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        n = x.size(0)
        if state is None:
            zeros = x.new_zeros((self.num_layers, n, self.hidden_size))
            state = (zeros, zeros)
        hs, cs = [], []
        for k, layer in enumerate(self.layers):
            x, h, c = layer(x, state[0][k], state[1][k])
            hs.append(h)
            cs.append(c)
        return x, (torch.stack(hs), torch.stack(cs))


def _quantize_dynamic(model: nn.Module) -> nn.Module:
    """torch's dynamic quantisation, in place, of LSTM/linear (qint8) and embedding (quint8) modules."""
    from torch.ao.quantization import default_dynamic_qconfig, float_qparams_weight_only_qconfig, quantize_dynamic

    spec = {nn.LSTM: default_dynamic_qconfig, nn.Linear: default_dynamic_qconfig,
            nn.Embedding: float_qparams_weight_only_qconfig}
    with warnings.catch_warnings():  # torch >= 2.9 warns that torch.ao.quantization moves to torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def compress_model(model: nn.Module, compression: Compression) -> nn.Module:
    """Compress a trained float model in place (on the CPU) and return it, in eval mode.

    Args:
        model: a :class:`~lightrnn_asr.lm.LightRNN`, :class:`~lightrnn_asr.lm.LSTMLM`
            or :class:`~lightrnn_asr.lm.AdaptiveLSTMLM`, uncompressed.
        compression: what to do.

    Raises:
        ValueError: when the model is already compressed or the rank does not fit.
    """
    if (model.compression or Compression()) != Compression():
        raise ValueError(f"the model is already compressed ({model.compression.name})")
    return _restructure(model, compression, lambda lstm: LowRankLSTM.from_lstm(lstm, compression.rank))


def prepare_structure(model: nn.Module, compression: Compression) -> nn.Module:
    """The module structure of a compressed model (weights to be loaded with :func:`load_compressed_state`)."""
    return _restructure(model, compression, lambda lstm: LowRankLSTM(
        lstm.input_size, lstm.hidden_size, lstm.num_layers, compression.rank))


def _restructure(model: nn.Module, compression: Compression, low_rank) -> nn.Module:
    """Low-rank trunk (``low_rank(nn.LSTM) -> LowRankLSTM``), then int8, in place, on the CPU."""
    model = model.cpu().eval()
    if compression.rank:
        model.replace_lstm(low_rank(model.lstm))
    if compression.int8:
        model = _quantize_dynamic(model)
    model.compression = compression
    return model


def _quantized_kinds():
    from torch.ao.nn.quantized import Embedding as QEmbedding
    from torch.ao.nn.quantized.dynamic import LSTM as QLSTM
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    return QEmbedding, QLSTM, QLinear


def _pack(q: torch.Tensor) -> dict:
    """A quantised tensor as plain tensors: integers and their scale(s) and offset(s)."""
    if q.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return {"int": q.int_repr(), "scale": torch.tensor(q.q_scale(), dtype=torch.float64),
                "zero_point": torch.tensor(q.q_zero_point(), dtype=torch.int64)}
    return {"int": q.int_repr(), "scales": q.q_per_channel_scales(), "zero_points": q.q_per_channel_zero_points(),
            "axis": torch.tensor(q.q_per_channel_axis())}


def _unpack(d: dict) -> torch.Tensor:
    """The inverse of :func:`_pack`: quantising the dequantised values again with the same
    scale and offset gives back exactly the same integers."""
    ints = d["int"]
    dtype = torch.quint8 if ints.dtype == torch.uint8 else torch.qint8
    if "scale" in d:
        scale, zp = float(d["scale"]), int(d["zero_point"])
        return torch.quantize_per_tensor(((ints.double() - zp) * scale).float(), scale, zp, dtype)
    axis = int(d["axis"])
    shape = [1] * ints.dim()
    shape[axis] = -1
    deq = (ints.double() - d["zero_points"].double().reshape(shape)) * d["scales"].double().reshape(shape)
    return torch.quantize_per_channel(deq.float(), d["scales"], d["zero_points"], axis, dtype)


def _walk(model: nn.Module):
    """``(prefix, module, kind)`` for every module whose tensors are stored: ``kind`` is the
    int8 module type (``"linear"``, ``"lstm"``, ``"embedding"``) or ``"float"``. The insides of
    int8 modules (packed weights) are not visited."""
    QEmbedding, QLSTM, QLinear = _quantized_kinds()
    kinds = ((QLinear, "linear"), (QLSTM, "lstm"), (QEmbedding, "embedding"))
    quantized: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(q) for q in quantized):
            continue
        kind = next((k for t, k in kinds if isinstance(module, t)), "float")
        if kind != "float":
            quantized.append(f"{name}.")
        yield (f"{name}." if name else ""), module, kind


def _float_tensors(module: nn.Module):
    """A module's own parameters and persistent buffers (not its children's)."""
    yield from module.named_parameters(recurse=False)
    yield from ((k, t) for k, t in module.named_buffers(recurse=False) if k not in module._non_persistent_buffers_set)


def compressed_state(model: nn.Module) -> dict:
    """The weights of a (possibly int8) model as plain tensors, for a weights-only checkpoint.

    Float parameters and persistent buffers keep their ``state_dict`` names; a
    quantised module ``m`` is stored under ``m.`` as ``{"int", "scale", "zero_point"}``
    (per-tensor) or ``{"int", "scales", "zero_points", "axis"}`` (per-row) dicts, plus its
    float biases.
    """
    state = {}
    for prefix, module, kind in _walk(model):
        if kind == "linear":
            w, b = module._weight_bias()
            state[prefix + "weight"] = _pack(w)
            state[prefix + "bias"] = b
        elif kind == "lstm":
            wb = module._weight_bias()
            state.update({prefix + k: _pack(w) for k, w in wb["weight"].items()})
            state.update({prefix + k: b for k, b in wb["bias"].items()})
        elif kind == "embedding":
            state[prefix + "weight"] = _pack(module.weight())
        else:
            state.update({prefix + k: t.detach() for k, t in _float_tensors(module)})
    return state


@torch.no_grad()
def load_compressed_state(model: nn.Module, state: dict) -> None:
    """Load :func:`compressed_state` into a model built by :func:`prepare_structure`.

    Raises:
        ValueError: when a tensor is missing, left over, or of the wrong shape.
    """
    used = set()

    def take(key):
        if key not in state:
            raise ValueError(f"compressed weights lack {key!r}")
        used.add(key)
        return state[key]

    def check(key, got, want):
        if tuple(got) != tuple(want):
            raise ValueError(f"{key} has shape {tuple(got)}, expected {tuple(want)}")

    for prefix, module, kind in _walk(model):
        if kind == "linear":
            w = _unpack(take(prefix + "weight"))
            check(prefix + "weight", w.shape, (module.out_features, module.in_features))
            module.set_weight_bias(w, take(prefix + "bias"))
        elif kind == "lstm":
            names = module._weight_bias()
            flat = {k: _unpack(take(prefix + k)) for k in names["weight"]}
            for k, ref in names["weight"].items():
                check(prefix + k, flat[k].shape, ref.shape)
            flat.update({k: take(prefix + k) for k in names["bias"]})
            module.set_weight_bias(flat)
        elif kind == "embedding":
            w = _unpack(take(prefix + "weight"))
            check(prefix + "weight", w.shape, (module.num_embeddings, module.embedding_dim))
            module.set_weight(w)
        else:
            for k, t in _float_tensors(module):
                value = take(prefix + k)
                if not isinstance(value, torch.Tensor):
                    raise ValueError(f"{prefix}{k}: expected a tensor")
                check(prefix + k, value.shape, t.shape)
                t.copy_(value)
    extra = set(state) - used
    if extra:
        raise ValueError(f"unexpected compressed weights: {sorted(extra)[:5]}")


def state_numel(state: dict) -> int:
    """Weights in a (nested) state dict: integer and float tensor elements, quantisation scales and offsets aside."""
    if isinstance(state, torch.Tensor):
        return state.numel()
    if isinstance(state, dict):
        if "int" in state:
            return state["int"].numel()
        return sum(state_numel(v) for v in state.values())
    return 0


def state_bytes(state: dict) -> int:
    """Bytes of the tensors in a (nested) state dict: what the weights take on disk, headers aside."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(state_bytes(v) for v in state.values())
    return 0


def scoring_device(model: nn.Module, device: torch.device) -> torch.device:
    """``device``, or the CPU (with a warning) for an int8 model: torch's int8 kernels are CPU-only."""
    compression = model.compression
    if compression is not None and compression.int8 and device.type != "cpu":
        log.warning("an int8 model runs on the CPU only; scoring on the CPU instead of %s", device)
        return torch.device("cpu")
    return device
