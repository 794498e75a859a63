"""A training run's directory: who may write it, and what a resumed run must agree with."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

__all__ = ["RUN_FILES", "claim_run_dir", "check_resume_settings"]

#: The files of a run in its directory (see :mod:`lightrnn_asr.training.loop`).
RUN_FILES = ("last.pt", "best.pt", "history.json")


def claim_run_dir(out_dir: Path, resume: bool, overwrite: bool, is_main: bool = True) -> None:
    """Make ``out_dir`` a run's directory (created if missing).

    A directory that holds a run (any of :data:`RUN_FILES`) is taken only to resume it, or with
    ``overwrite``, which removes those files first. Temporary files of a write cut short by a kill
    are removed (the files under their real names are intact). Only the main process (``is_main``)
    removes files.

    Raises:
        ValueError: naming the directory and its files when it holds a run and neither ``resume``
            nor ``overwrite`` is given.
    """
    held = [name for name in RUN_FILES if (out_dir / name).exists()]
    if held and not resume and not overwrite:
        raise ValueError(f"{out_dir} already holds a run ({', '.join(held)}): continue it with --resume, or "
                         "replace it with --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not is_main:
        return
    for name in held if not resume else ():
        (out_dir / name).unlink()
    for name in RUN_FILES:
        for stale in out_dir.glob(f".{name}.*tmp"):
            stale.unlink(missing_ok=True)


def check_resume_settings(path: Path, saved: Mapping[str, Any], asked: Mapping[str, Any]) -> None:
    """Refuse to resume the run of ``path`` (its ``last.pt``) with other settings than its own.

    Args:
        saved, asked: ``{setting: value}`` of the saved run and of this one (model config and
            training config together); settings that only one of them has are not compared.

    Raises:
        ValueError: naming ``path`` and every setting that differs, with both values.
    """
    differ = [f"{k} {asked[k]!r} (saved: {saved[k]!r})" for k in asked if k in saved and asked[k] != saved[k]]
    if differ:
        raise ValueError(f"{path}: this run's settings differ from the saved run's: {', '.join(differ)}; resume with "
                         "the saved settings, or start anew with --overwrite")
