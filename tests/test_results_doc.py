"""The results document and README's results table are generated from the records, and up to date."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_results_document_and_readme_table_match_their_records():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "render_results.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
