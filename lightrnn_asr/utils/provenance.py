"""Where a result comes from: the code's commit, the date, the machine, the package versions and the
command, for every record a benchmark, a study or an evaluation writes."""

from __future__ import annotations

import datetime
import functools
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["provenance", "cpu_model", "cpu_id", "cpu_capability"]

#: Distributions whose versions a record names (those not installed are left out).
PACKAGES = ("lightrnn-asr", "torch", "numpy", "scipy", "kaldialign", "kaldifst", "k2", "lhotse", "pocketsphinx")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_id(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The first CPU's vendor, family, model and stepping from ``cpuinfo`` (Linux's ``/proc/cpuinfo``; e.g. ``"AuthenticAMD family 25
    model 17 stepping 1"``), which tell apart two CPUs a virtual machine names alike; ``None`` where not on
    Linux."""
    fields: dict[str, str] = {}
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("vendor_id", "cpu family", "model", "stepping") and key not in fields:
                fields[key] = value.strip()
            if not line.strip() and fields:
                break
    except OSError:
        return None
    if not fields:
        return None
    return " ".join([fields.get("vendor_id", "?"), "family", fields.get("cpu family", "?"), "model",
                     fields.get("model", "?"), "stepping", fields.get("stepping", "?")])


def cpu_capability() -> str | None:
    """The vector instruction set torch's CPU kernels run with on this machine (``"AVX512"``, ``"AVX2"``,
    ``"DEFAULT"``...; ``torch.backends.cpu.get_cpu_capability``, torch >= 2.0), ``None`` when torch is not
    imported or too old to say. Two machines with different kernel sets sum floating-point numbers in
    different orders: results agree to rounding, not digit for digit."""
    torch = sys.modules.get("torch")
    get = getattr(getattr(getattr(torch, "backends", None), "cpu", None), "get_cpu_capability", None)
    return get() if get is not None else None


@functools.lru_cache(maxsize=1)
def _commit() -> str | None:
    """``git describe``-style commit of the source tree this package runs from (``+dirty`` when it has
    uncommitted changes), or ``None`` outside a git checkout. Read once per process, at the first call: a
    long run's records name the code it loaded, not a commit made while it ran."""
    root = Path(__file__).resolve().parents[2]
    try:
        run = dict(cwd=root, capture_output=True, text=True, timeout=10, check=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(command: str | None = None) -> dict:
    """What a record must say about where it comes from.

    Args:
        command: the command that produced the record; default: this process's command line.

    Returns:
        ``{"commit", "date", "cpu", "cpu_id", "cpu_capability", "cores", "threads", "os", "versions",
        "command"}``: the git commit
        (``None`` outside a checkout; ``+dirty`` with uncommitted changes; read at this process's first
        call, so a program that runs long calls this when it starts), the UTC time (ISO 8601,
        seconds), the CPU model, its vendor/family/model/stepping (:func:`cpu_id`), torch's CPU kernel set
        (:func:`cpu_capability`), the cores this process may use, torch's CPU threads (when torch is
        imported), the OS, ``{package: version}`` and the command.
    """
    torch = sys.modules.get("torch")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "commit": _commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_id": cpu_id(),
        "cpu_capability": cpu_capability(),
        "cores": cores,
        "threads": torch.get_num_threads() if torch is not None else None,
        "os": platform.platform(),
        "versions": _versions(),
        "command": command if command is not None else shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
