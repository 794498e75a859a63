"""What every command shares: the click group, error handling and option parsing."""

from __future__ import annotations

import functools
import logging
import sys

import click
import numpy as np

from lightrnn_asr.formats.lattice import LatticeFormatError
from lightrnn_asr.formats.nbest import NBestFormatError
from lightrnn_asr.lm.checkpoint import CheckpointError

__all__ = ["main", "friendly", "parse_grid", "sigterm_as_interrupt", "log"]

log = logging.getLogger("lightrnn_asr")


def friendly(fn):
    """Turn the library's validation errors into click errors (one line, exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (NBestFormatError, LatticeFormatError, CheckpointError, ValueError, FileNotFoundError,
                MemoryError) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def parse_grid(spec: str) -> np.ndarray | None:
    """``"0:2:0.1"`` (start:stop:step, inclusive), ``"0.5,1,2"``, or ``"auto"`` (``None``: searched)."""
    if spec.strip().lower() == "auto":
        return None
    if ":" in spec:
        start, stop, step = (float(x) for x in spec.split(":"))
        return np.round(np.arange(start, stop + step / 2, step), 6)
    return np.array([float(x) for x in spec.split(",")])


def sigterm_as_interrupt(signum, frame):
    """A SIGTERM handler that ends training as Ctrl-C does (the last finished round is kept)."""
    raise KeyboardInterrupt


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """LightRNN language models for ASR N-best and lattice rescoring."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
