"""The results document and README's results table are generated from the records, and up to date."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_results_document_and_readme_table_match_their_records():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "render_results.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_equal_time_choice_is_each_systems_lowest_dev_perplexity_with_the_recipes_other_options():
    from helpers import load_script

    render = load_script(ROOT / "benchmarks" / "render_results.py", "render_results")
    _, opts, _ = render.recipe_settings()
    trunk = " ".join(render.without(opts["bpe"], "--bpe-pieces"))

    def row(system, own, ppl, lr="1e-2"):
        command = f"lightrnn-asr train {trunk.replace('--lr 1e-2', '--lr ' + lr)} {own} --time-budget 180"
        return {"system": system, "command": command, "time_budget_s": 180, "train_tokens": 1000, "tokens_per_s": 10,
                "parameters": 5, "dev_ppl": ppl, "provenance": {"date": "2026-12-07", "commit": "abc"}}

    rows = [row("bpe", "--bpe-pieces 500", 150.0, lr="3e-3"),  # other options: not a candidate
            row("bpe", "--bpe-pieces 2000", 200.0), row("bpe4000", "--bpe-pieces 4000", 190.0),
            row("bpe8000", "--bpe-pieces 8000", 210.0)]
    text = render.budgets_section(rows)
    assert "bpe: --bpe-pieces 4000 (190.00, 1,000 tokens)" in text
    assert "lightrnn:" not in text.split("Lowest")[1]  # no row of its: no choice
