"""What every benchmark shares: records with their provenance, timing, and peak memory.

- :func:`emit` prints one result row as a JSON line and appends it to a JSONL record under ``docs/bench/``;
  :func:`write_record` writes one JSON document. Both add the run's provenance (commit, date, CPU model
  and cores, package versions, the command: :func:`lightrnn_asr.utils.provenance.provenance`), so that no
  script writes out its environment by hand.
- :func:`timed` and :func:`seconds_in_turn` time code in this process (wall seconds, ``time.perf_counter``).
- :func:`peak_rss_bytes` and :func:`cuda_peak_bytes` give this process's peak memory; :func:`run_child`
  runs a command and gives its wall seconds and its own peak resident memory (measured by a small
  wrapper process, so that neither this process's size nor another child's enters the figure).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from lightrnn_asr.utils.provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
provenance()  # the commit, read now: every record of this run names the code it loaded


def command() -> str:
    """This process's command line, the script named by its path in the repository
    (``benchmarks/speed/lexicon_scale.py --data ...``) so that a record says how to rerun it."""
    script = Path(sys.argv[0]).resolve()
    name = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else script.name
    return shlex.join([name, *sys.argv[1:]])


def emit(row: dict, out: Path | None) -> None:
    """Print ``row`` as one JSON line and append the same line to ``out`` when given, with its
    provenance (commit, date, CPU, versions, command: :func:`lightrnn_asr.utils.provenance.provenance`)."""
    line = json.dumps({**row, "provenance": row.get("provenance") or provenance(command())})
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def write_record(record: dict, out: Path) -> None:
    """Write ``record`` with its provenance to ``out`` as one indented JSON document (through a temporary
    file and a rename, so that an interrupted run leaves the old record whole)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({**record, "provenance": record.get("provenance") or provenance(command())}, indent=1) + "\n")
    os.replace(tmp, out)


@dataclass
class Timer:
    """Wall seconds of a ``with timed() as t:`` block, in ``t.seconds`` once the block has ended."""

    seconds: float = float("nan")


@contextlib.contextmanager
def timed() -> Iterator[Timer]:
    """Time the body of a ``with`` block in wall seconds (``time.perf_counter``)."""
    timer = Timer()
    t0 = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - t0


def seconds_in_turn(models: Mapping[str, object], run: Callable[[object], object], repeats: int) -> dict[str, list[float]]:
    """``run(model)`` timed ``repeats`` times for every model, the models in turn within each repeat, so that
    a change in the host's load falls on every model alike: ``{name: [seconds, ...]}`` (compare the minima)."""
    seconds = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            t0 = time.perf_counter()
            run(model)
            seconds[name].append(time.perf_counter() - t0)
    return seconds


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far, in bytes (``getrusage``; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cuda_peak_bytes() -> int | None:
    """The peak of CUDA memory allocated by torch in this process, in bytes; None without CUDA."""
    import torch

    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


@dataclass
class ChildRun:
    """What :func:`run_child` measured: exit code, output, wall seconds, the child's peak RSS in bytes."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_bytes: int


# Runs argv[2:], then writes its peak RSS (KiB) to argv[1]. Linux charges a child started from a large
# process with that process's size (the memory it shared until exec), so the command is started from
# this small interpreter, whose size is negligible.
_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(128 - code if code < 0 else code)
"""


def run_child(cmd: Sequence[str], *, check: bool = False, env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None) -> ChildRun:
    """Run ``cmd`` to its end and measure it: wall seconds, and the peak resident memory of that process
    and the descendants it waited for, in bytes; its output captured as text. A command killed by signal
    N exits with 128 + N.

    Raises:
        subprocess.CalledProcessError: ``check`` and a non-zero exit code.
    """
    with tempfile.TemporaryDirectory() as d:
        rss_file = Path(d) / "peak_rss_kib"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, str(rss_file), *map(str, cmd)], capture_output=True,
                              text=True, env=None if env is None else dict(env), cwd=cwd)
        wall = time.perf_counter() - t0
        peak = int(rss_file.read_text()) * 1024 if rss_file.exists() else 0
    run = ChildRun(proc.returncode, proc.stdout, proc.stderr, wall, peak)
    if check and run.returncode:
        raise subprocess.CalledProcessError(run.returncode, list(cmd), run.stdout, run.stderr)
    return run
