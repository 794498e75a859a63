"""The recipe's LM settings, as the settings search and the speed benchmark read them, are what `make demo`
trains: every system's options parse as `lightrnn-asr train` options, its own output-layer settings
included."""

from pathlib import Path

from helpers import load_script

from lightrnn_asr.cli.train_cmds import train_cmd

ROOT = Path(__file__).resolve().parent.parent


def test_the_recipes_options_parse_and_carry_each_lms_own_output_layer_settings(tmp_path):
    common, opts, budgets = load_script(ROOT / "benchmarks" / "quality" / "dev_search.py", "dev_search").recipe_settings()
    assert set(opts) == set(budgets) == {"lightrnn", "adaptive", "lstm", "bpe"}
    params, text = {}, tmp_path / "train.txt"
    text.write_text("a b c\n")
    for system, options in opts.items():
        args = [*common, *options, "--token-budget", budgets[system], "--train-text", str(text), "--valid-text",
                str(text), "--out-dir", str(tmp_path / "o")]
        params[system] = train_cmd.make_context("train", args).params
        assert params[system]["model_type"] == system and params[system]["token_budget"] == int(budgets[system])
    assert params["lightrnn"]["output_shortlist"] is not None and params["lightrnn"]["col_hidden_dim"] is not None
    assert params["adaptive"]["cutoffs"]
    assert "--bpe-pieces" in opts["bpe"]
