"""Result lines shared by the benchmark scripts: one JSON object per line, printed and appended."""

from __future__ import annotations

import json
from pathlib import Path

from lightrnn_asr.utils.provenance import provenance


def emit(row: dict, out: Path | None) -> None:
    """Print ``row`` as one JSON line and append the same line to ``out`` when given, with its
    provenance (commit, date, CPU, versions, command: :func:`lightrnn_asr.utils.provenance.provenance`)."""
    line = json.dumps({**row, "provenance": row.get("provenance") or provenance()})
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")
