"""Defaults live in one place (lightrnn_asr.lm.defaults): the model `lightrnn-asr train` builds when no
option is set is the model `new_model` builds when no argument is given, for every model type."""

import re

import pytest
from helpers import run_cli, toy_text_files

from lightrnn_asr.lm import defaults
from lightrnn_asr.lm.build import new_model
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.lm.config import LMConfig


@pytest.mark.parametrize("model_type", ["lightrnn", "adaptive", "lstm"])
def test_the_cli_and_the_python_api_build_the_same_model(tmp_path, model_type):
    toy_text_files(tmp_path, train=300, valid=30)
    run_cli("train", "--model-type", model_type, "--train-text", tmp_path / "train.txt", "--valid-text",
            tmp_path / "valid.txt", "--out-dir", tmp_path / "exp", "--rounds", 1, "--token-budget", 1,
            "--device", "cpu", "--threads", 1, "--no-realloc")
    ck = load_checkpoint(tmp_path / "exp" / "best.pt")
    model, table = new_model(model_type, len(ck.vocab))
    assert model.config == ck.model.config == LMConfig(model_type=model_type, vocab_size=len(ck.vocab))
    assert model.num_parameters() == ck.model.num_parameters()
    if model_type == "lightrnn":
        assert ck.model.config.recurrence == defaults.RECURRENCE
        assert ck.model.config.input_shortlist and ck.model.config.output_shortlist and ck.model.config.col_hidden_dim
    else:
        assert table is None and ck.table is None


def test_new_model_and_lmconfig_take_their_settings_by_keyword_only():
    with pytest.raises(TypeError):
        new_model("lstm", 100, 8, 8, 1)
    with pytest.raises(TypeError):
        LMConfig("lstm", 100)


def test_a_checkpoint_without_a_newer_field_loads_as_it_was_written_not_with_todays_default():
    old = {"model_type": "lightrnn", "vocab_size": 100, "n_rows": 10, "n_cols": 10, "embed_dim": 8, "hidden_dim": 8,
           "num_layers": 1, "dropout": 0.0}  # written before recurrence, the column head and the shortlists
    cfg = LMConfig.from_dict(old)
    assert (cfg.recurrence, cfg.col_hidden_dim, cfg.input_shortlist, cfg.output_shortlist) == ("halfword", 0, 0, 0)
    new = LMConfig(**old)
    assert (new.recurrence, new.input_shortlist) == (defaults.RECURRENCE, 100)


def _train(tmp_path, *args, out="exp"):
    return run_cli("train", "--train-text", tmp_path / "train.txt", "--valid-text", tmp_path / "valid.txt",
                   "--out-dir", tmp_path / out, "--rounds", 1, "--token-budget", 1, "--device", "cpu", "--threads", 1,
                   "--no-realloc", *args)


def test_the_paper_preset_is_the_same_model_from_the_cli_and_new_model(tmp_path):
    toy_text_files(tmp_path, train=300, valid=30)
    _train(tmp_path, "--preset", "paper")
    ck = load_checkpoint(tmp_path / "exp" / "best.pt")
    model, _ = new_model("lightrnn", len(ck.vocab), preset="paper")
    assert model.config == ck.model.config
    c = ck.model.config
    assert (c.recurrence, c.input_shortlist, c.output_shortlist, c.col_hidden_dim) == ("halfword", 0, 0, 0)
    # an option given explicitly overrides the preset, in both
    _train(tmp_path, "--preset", "paper", "--recurrence", "word-sum", out="exp2")
    c2 = load_checkpoint(tmp_path / "exp2" / "best.pt").model.config
    assert (c2.recurrence, c2.input_shortlist, c2.output_shortlist) == ("word-sum", 0, 0)
    assert new_model("lightrnn", len(ck.vocab), preset="paper", recurrence="word-sum")[0].config == c2
    with pytest.raises(ValueError, match="preset must be one of"):
        new_model("lightrnn", 100, preset="nips")


def test_a_config_file_sets_options_and_the_command_line_overrides_it(tmp_path):
    toy_text_files(tmp_path, train=300, valid=30)
    (tmp_path / "conf.yaml").write_text("# the study's settings\nembed-dim: 16\nhidden_dim: 24\ndropout: 0.3\n"
                                        "preset: paper\ntie-weights: true\nkeep-optimizer: true\n")
    _train(tmp_path, "--config", tmp_path / "conf.yaml", "--hidden-dim", 16)
    c = load_checkpoint(tmp_path / "exp" / "best.pt").model.config
    assert (c.embed_dim, c.hidden_dim, c.dropout, c.recurrence, c.tie_weights) == (16, 16, 0.3, "halfword", True)
    # the run's options, written beside it, give the same model again
    import yaml

    written = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert written["hidden-dim"] == 16 and written["reset-optimizer"] is False and "overwrite" not in written
    _train(tmp_path, "--config", tmp_path / "exp" / "config.yaml", out="again")
    assert load_checkpoint(tmp_path / "again" / "best.pt").model.config == c


@pytest.mark.parametrize("text, message", [
    ("dropout: 0.3\nlearning-rate: 0.1\n", r"conf.yaml:2: train has no option 'learning-rate'"),
    ("dropout: 0.3\ndropout: 0.1\n", r"conf.yaml:2: 'dropout' is given twice"),
    ("- dropout\n", r"conf.yaml:1: expected 'option: value' lines"),
    ("dropout: high\n", r"'high' is not a valid float"),
])
def test_a_bad_config_file_is_refused_naming_file_and_line(tmp_path, text, message):
    from click.testing import CliRunner

    from lightrnn_asr.cli import main

    toy_text_files(tmp_path, train=30, valid=5)
    (tmp_path / "conf.yaml").write_text(text)
    res = CliRunner().invoke(main, ["train", "--config", str(tmp_path / "conf.yaml"), "--train-text",
                                    str(tmp_path / "train.txt"), "--valid-text", str(tmp_path / "valid.txt"),
                                    "--out-dir", str(tmp_path / "exp")])
    assert res.exit_code == 2 and re.search(message, res.output), res.output
