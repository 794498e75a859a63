"""What every command shares: the click group, error handling and option parsing."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading

import click
import numpy as np

from lightrnn_asr.formats.lattice import LatticeFormatError
from lightrnn_asr.formats.nbest import NBestFormatError
from lightrnn_asr.lm.checkpoint import CheckpointError

__all__ = ["main", "friendly", "parse_grid", "sigterm_as_interrupt", "log"]

log = logging.getLogger("lightrnn_asr")


def friendly(fn):
    """Turn the library's validation errors and the operating system's errors (a missing, unreadable or
    unwritable file, a full disk) into click errors: one line naming the file, exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (NBestFormatError, LatticeFormatError, CheckpointError, ValueError, MemoryError) as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)) from None

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
    """A SIGTERM handler that ends a command as Ctrl-C does (``KeyboardInterrupt``): temporary files are
    removed, and training keeps its last finished round."""
    raise KeyboardInterrupt


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """LightRNN language models for ASR N-best and lattice rescoring."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM ends a command as Ctrl-C does: its half-written outputs are removed on the way out
        signal.signal(signal.SIGTERM, sigterm_as_interrupt)
