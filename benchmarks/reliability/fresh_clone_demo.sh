#!/usr/bin/env bash
# `make demo` on a fresh clone of this repository's HEAD (or of COMMIT), timed: appends one JSON line to
# docs/bench/demo_runs.jsonl (total minutes, set-up and minutes per stage, provenance) and leaves the
# clone in DIR (its log in DIR.log), so that two runs can be compared with benchmarks/reliability/compare_reports.py:
#
#   benchmarks/reliability/fresh_clone_demo.sh /tmp/demo1 && benchmarks/reliability/fresh_clone_demo.sh /tmp/demo2
#   python benchmarks/reliability/compare_reports.py /tmp/demo{1,2}/recipes/pocketsphinx/exp/report/results.json \
#       --checkpoints /tmp/demo{1,2}/recipes/pocketsphinx/exp/lm
set -euo pipefail
dir=${1:?usage: $0 DIR [COMMIT]}
commit=${2:-HEAD}
here=$(cd "$(dirname "$0")/../.." && pwd)
[ ! -e "$dir" ] || { echo "$dir exists" >&2; exit 1; }
git clone -q "$here" "$dir"
git -C "$dir" checkout -q "$(git -C "$here" rev-parse "$commit")"
start=$(date +%s)
(cd "$dir" && make demo) > "$dir.log" 2>&1
end=$(date +%s)
cd "$here"
PYTHONPATH=benchmarks .venv/bin/python - "$dir" "$dir.log" "$start" "$end" <<'PY'
import datetime
import re
import subprocess
import sys
from pathlib import Path

from harness import emit

from lightrnn_asr.utils.provenance import provenance

clone, log, start, end = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
stamps = [(datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp(), int(m.group(2)))
          for m in re.finditer(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \[stage (\d+)\]", log.read_text(), re.M)]
stages = {f"stage {s}": (t2 - t1) / 60 for (t1, s), (t2, _) in zip(stamps, stamps[1:] + [(end, None)])}
prov = provenance(f"benchmarks/reliability/fresh_clone_demo.sh {clone}")
prov["commit"] = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
emit({"benchmark": "fresh_clone_demo", "clone": str(clone), "total_min": (end - start) / 60,
      "setup_min": (stamps[0][0] - start) / 60 if stamps else None, "stage_min": stages,
      "report": str(clone / "recipes/pocketsphinx/exp/report/results.json"), "provenance": prov},
     Path("docs/bench/demo_runs.jsonl"))
PY
