"""Defaults live in one place (lightrnn_asr.lm.defaults): the model `lightrnn-asr train` builds when no
option is set is the model `new_model` builds when no argument is given, for every model type."""

import pytest
from helpers import run_cli, toy_text_files

from lightrnn_asr.lm import defaults
from lightrnn_asr.lm.build import new_model
from lightrnn_asr.lm.checkpoint import load_checkpoint


@pytest.mark.parametrize("model_type", ["lightrnn", "adaptive", "lstm"])
def test_the_cli_and_the_python_api_build_the_same_model(tmp_path, model_type):
    toy_text_files(tmp_path, train=300, valid=30)
    run_cli("train", "--model-type", model_type, "--train-text", tmp_path / "train.txt", "--valid-text",
            tmp_path / "valid.txt", "--out-dir", tmp_path / "exp", "--rounds", 1, "--token-budget", 1,
            "--device", "cpu", "--threads", 1, "--no-realloc")
    ck = load_checkpoint(tmp_path / "exp" / "best.pt")
    model, table = new_model(model_type, len(ck.vocab))
    assert model.config == ck.model.config
    assert model.num_parameters() == ck.model.num_parameters()
    if model_type == "lightrnn":
        assert ck.model.config.recurrence == defaults.RECURRENCE
        assert ck.model.config.input_shortlist and ck.model.config.output_shortlist and ck.model.config.col_hidden_dim
    else:
        assert table is None and ck.table is None


def test_new_model_takes_its_settings_by_keyword_only():
    with pytest.raises(TypeError):
        new_model("lstm", 100, 8, 8, 1)
