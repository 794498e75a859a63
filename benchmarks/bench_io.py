"""Result lines shared by the benchmark scripts: one JSON object per line, printed and appended."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Mapping

from lightrnn_asr.utils.provenance import provenance


def emit(row: dict, out: Path | None) -> None:
    """Print ``row`` as one JSON line and append the same line to ``out`` when given, with its
    provenance (commit, date, CPU, versions, command: :func:`lightrnn_asr.utils.provenance.provenance`)."""
    line = json.dumps({**row, "provenance": row.get("provenance") or provenance()})
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


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
