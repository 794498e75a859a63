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


def test_the_pyctcdecode_names_section_shows_each_systems_alpha_and_hotword_weight_and_its_grid():
    from helpers import load_script

    render = load_script(ROOT / "benchmarks" / "render_results.py", "render_results")
    common = {"split": "test", "reference": "LightRNN + add-words", "beam": 20, "contacts": 455, "lean": 0.75,
              "decoys": False, "unk_score_offset": -10.0, "sentences": 10, "words": 100, "dev_wer": 5.0,
              "ci95": [1.0, 9.0], "ner": 4.0, "ner_ci95": [0.0, 8.0], "name_errors": 1, "name_tokens": 25,
              "false_names": 0, "seconds": 2.0, "provenance": {"command": "ctc_pyctcdecode_names.py", "commit": "abc"}}
    grid = {"alpha": [0.5, 1.0], "hotword_weight": [None, 10.0]}
    rows = [{**common, "system": "no LM", "alpha": None, "hotword_weight": 10.0, "wer": 9.0,
             "grid": {"alpha": None, "hotword_weight": grid["hotword_weight"]}},
            {**common, "system": "LightRNN + add-words", "alpha": 0.5, "hotword_weight": None, "wer": 4.0, "grid": grid},
            {**common, "system": "LightRNN (names as <unk>)", "alpha": 1.0, "hotword_weight": 10.0, "wer": 4.0,
             "grid": grid, "same_output_as_reference": True}]
    text = render.ctc_names_section(rows, render.CTC_PYCTC_NAMES)
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert " | - / 10 | " in lines["no LM"]
    assert " | 0.5 / none | " in lines["LightRNN + add-words"]
    assert "same output" in lines["LightRNN (names as `<unk>`)"]
    assert "Grid: alpha 0.5, 1 x hotword weight none, 10; OOV offset -10 (log10)." in text
    assert "`docs/bench/ctc_pyctcdecode_names.jsonl`" in text


def test_every_run_of_the_recipe_on_record_shows_its_verdicts_side_by_side():
    import copy
    import json

    from helpers import load_script

    render = load_script(ROOT / "benchmarks" / "render_results.py", "render_results")
    demo = json.loads((ROOT / "docs" / "bench" / "demo.json").read_text())
    other = copy.deepcopy(demo)
    other["provenance"]["commit"] = "0123456789ab"
    other["sets"]["asterisk"]["lightrnn_vs_lstm"]["p_lightrnn_better"] = 0.97
    names = other["sets"]["names"]["names"]["p_lightrnn_fewer_name_errors"]
    first = next(iter(names))
    names[first] = 0.01
    assert render.repeats_table(demo, []) == ""  # one run: nothing to set beside it
    text = render.repeats_table(demo, [other])
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and rows[0].startswith("| `01234567`")  # the repeat first, the latest last
    cells = [row.split(" | ") for row in rows]
    head = [h.strip("| ") for h in text.splitlines()[2].split(" | ")]
    asterisk = head.index("asterisk: P(LightRNN + trigram better)")
    assert cells[0][asterisk] == "0.970 (LightRNN better)"
    fewer = head.index(f"P(fewer name errors than {first.removesuffix(' rescoring')})")
    assert cells[0][fewer] == "0.010 (LightRNN more)"
    p = demo["sets"]["names"]["names"]["p_lightrnn_fewer_name_errors"][first]
    assert cells[1][fewer].startswith(f"{p:.3f} (")
    latest = copy.deepcopy(demo)
    latest["sets"]["asterisk"]["lightrnn_vs_lstm"]["p_lightrnn_better"] = 0.5
    for run in (latest, other):
        run["sets"]["synthetic"]["lightrnn_vs_lstm"]["p_lightrnn_better"] = 0.99
    text = render.repeats_table(latest, [other])
    assert "- asterisk: P(LightRNN + trigram better): changes from run to run (LightRNN better; noise)" in text
    assert "- synthetic: P(LightRNN + trigram better): LightRNN better in every run" in text
