"""One-file checkpoints: weights, config, vocabulary, table and training state.

The file holds only tensors and plain Python types, so it loads with
``torch.load(path, weights_only=True)`` (no unpickling of arbitrary objects,
torch >= 1.13). Python floats (config, optimizer hyper-parameters, training
history) are stored as ``{"__float__": repr(x)}``: torch 1.13's weights-only
unpickler has no float opcode, and this keeps a file written under torch 2.x
loadable there (k2's wheels pin torch 1.13.1), exactly. It is written atomically: to a temporary file in the same
directory, flushed and fsynced, then renamed over the target, so a crash
never leaves a half-written checkpoint under the real name.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lightrnn_asr.lm.build import build_model
from lightrnn_asr.lm.compress import Compression, compressed_state, load_compressed_state, prepare_structure
from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.utils.io import atomic_path, write_error

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint", "atomic_torch_save"]

FORMAT = "lightrnn-asr/1"


class CheckpointError(ValueError):
    """A file is not a valid lightrnn-asr checkpoint (message names the file)."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds, rebuilt into live objects.

    Attributes:
        model: the LM, on the CPU, in eval mode.
        vocab: its vocabulary.
        table: its word table (``None`` for the full-softmax LSTM).
        train_state: optimizer state, RNG state, round counters and history
            (empty dict when the file was saved without it).
    """

    model: LanguageModel
    vocab: Vocabulary
    table: WordTable | None
    train_state: dict[str, Any] = field(default_factory=dict)


_FLOAT_TAG = "__float__"


def _encode_floats(obj: Any) -> Any:
    """``obj`` with every Python float replaced by ``{"__float__": repr(x)}`` (exact, see module doc)."""
    if isinstance(obj, float):
        return {_FLOAT_TAG: repr(obj)}
    if isinstance(obj, dict):
        return {k: _encode_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_encode_floats(v) for v in obj)
    return obj


def _decode_floats(obj: Any) -> Any:
    """The inverse of :func:`_encode_floats`; plain floats (older files) pass through."""
    if isinstance(obj, dict):
        if len(obj) == 1 and _FLOAT_TAG in obj:
            return float(obj[_FLOAT_TAG])
        return {k: _decode_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_decode_floats(v) for v in obj)
    return obj


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`~lightrnn_asr.utils.io.atomic_path` (fsync, then ``os.replace``).

    Raises:
        OSError: naming ``path`` when it cannot be written (torch's writer reports a full disk as a
            ``RuntimeError``; it is turned into ``ENOSPC``/``EIO`` here).
    """
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:
            free = shutil.disk_usage(Path(path).parent).free
            code = errno.ENOSPC if free < (1 << 20) else errno.EIO
            raise write_error(OSError(code, f"{os.strerror(code)} (torch.save: {str(e).splitlines()[0]})"),
                              path) from None


def save_checkpoint(
    path: str | Path,
    model: LanguageModel,
    vocab: Vocabulary,
    table: WordTable | None,
    train_state: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically.

    Raises:
        ValueError: when vocabulary, table and model disagree in size.
    """
    cfg = model.config
    if len(vocab) != cfg.vocab_size or (table is not None and table.vocab_size != cfg.vocab_size):
        raise ValueError("vocabulary, table and model disagree on the vocabulary size")
    compression = model.compression
    payload = {
        "format": FORMAT,
        "config": cfg.to_dict(),
        "state_dict": ({k: v.detach().cpu() for k, v in model.state_dict().items()} if compression is None
                       else compressed_state(model)),  # int8 and low-rank weights as plain tensors (compress.py)
        "vocab": vocab.to_dict(),
        "table": table.to_dict() if table is not None else None,
        "train_state": train_state or {},
    }
    if compression is not None:
        payload["compression"] = compression.to_dict()
    atomic_torch_save(_encode_floats(payload), path)


def load_checkpoint(path: str | Path, expect_type: str | None = None) -> Checkpoint:
    """Load and validate a checkpoint; never unpickles arbitrary objects.

    Args:
        path: a file written by :func:`save_checkpoint`.
        expect_type: ``"lightrnn"`` or ``"lstm"`` to insist on a model type.

    Raises:
        CheckpointError: naming the file when it is missing, truncated,
            corrupt, holds non-tensor objects, its config, vocabulary,
            table and weights are inconsistent, or a weight is NaN or infinite
            (naming the tensor).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since torch 1.6
        raise CheckpointError(f"{path}: not a lightrnn-asr checkpoint: not a complete file written by torch.save "
                              "(truncated, or another format)")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused an object
        raise CheckpointError(f"{path}: not a lightrnn-asr checkpoint: it holds Python objects other than tensors and "
                              "plain values, and such files are never unpickled here (a checkpoint of another "
                              "program?)") from None
    except Exception as e:  # torch.load raises many types on corrupt input (KeyError, EOFError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable lightrnn-asr checkpoint: corrupt archive ({first})") from None
    try:
        payload = _decode_floats(payload)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid checkpoint: {e}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a lightrnn-asr checkpoint (format tag {FORMAT!r} missing)")
    missing = [key for key in ("config", "state_dict", "vocab") if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: invalid checkpoint: no {' or '.join(repr(k) for k in missing)} entry")
    try:
        cfg = LMConfig.from_dict(dict(payload["config"]))
        vocab = Vocabulary.from_dict(payload["vocab"])
        table = WordTable.from_dict(payload["table"]) if payload.get("table") is not None else None
        if expect_type is not None and cfg.model_type != expect_type:
            raise ValueError(f"expected a {expect_type} model, found {cfg.model_type}")
        if len(vocab) != cfg.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} words, config says {cfg.vocab_size}")
        if table is not None and (table.vocab_size, table.n_rows, table.n_cols) != (
            cfg.vocab_size,
            cfg.n_rows,
            cfg.n_cols,
        ):
            raise ValueError("word table does not match the config")
        model = build_model(cfg, table)
        if payload.get("compression") is not None:
            model = prepare_structure(model, Compression.from_dict(payload["compression"]))
            load_compressed_state(model, payload["state_dict"])
        else:
            model.load_state_dict(payload["state_dict"], strict=True)
    except KeyError as e:
        raise CheckpointError(f"{path}: invalid checkpoint: the field {e} is missing") from None
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: invalid checkpoint: {e}") from None
    _check_finite(model, path)
    model.eval()
    return Checkpoint(model, vocab, table, dict(payload.get("train_state") or {}))


def _check_finite(model: torch.nn.Module, path: Path) -> None:
    """Refuse weights holding NaN or infinity (a diverged run, a corrupt file): they would score every
    sentence NaN."""
    for name, t in model.state_dict().items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{path}: invalid checkpoint: the weight {name} holds {bad:,} NaN or infinite "
                                  f"values of {t.numel():,}")
