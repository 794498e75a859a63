"""Progress bars (tqdm) that stay quiet where nobody watches them.

A bar is drawn only when asked for *and* stderr is a terminal (tqdm's ``disable=None``), so a run
whose output goes to a log file gets the log lines (throughput, perplexity per round) and not
thousands of carriage-return updates.
"""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm import tqdm

__all__ = ["progress_bar"]

T = TypeVar("T")


def progress_bar(iterable: Iterable[T], desc: str, unit: str, enabled: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, ...)``, disabled unless ``enabled`` and stderr is a terminal.

    Args:
        iterable: what to iterate over.
        desc, unit: the bar's label and unit (``"batch"``, ``"lat"``, ...).
        enabled: ``False`` never draws (e.g. on the other ranks of a distributed run).
        kwargs: passed to :class:`tqdm.tqdm` (``leave``, ``mininterval``, ...).
    """
    return tqdm(iterable, desc=desc, unit=unit, disable=None if enabled else True, **kwargs)
