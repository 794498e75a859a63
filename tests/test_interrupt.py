"""Killing a real training process: the last checkpoint survives and --resume ends where an
uninterrupted run ends, weight for weight."""

import signal
import subprocess
import sys
import time

import pytest
import torch

from lightrnn_asr.checkpoint import load_checkpoint

ARGS = ["--rounds", "2", "--epochs-per-round", "8", "--patience", "3", "--embed-dim", "16", "--hidden-dim", "32", "--num-layers", "1",
        "--dropout", "0.1", "--lr", "0.01", "--max-tokens", "400", "--seed", "3", "--device", "cpu", "--threads", "1"]


def command(toy_text, out):
    train_path, valid_path = toy_text
    return [sys.executable, "-m", "lightrnn_asr.cli", "train", "--train-text", str(train_path),
            "--valid-text", str(valid_path), "--out-dir", str(out), *ARGS]


def kill_after_first_round(cmd, sig, out):
    """Start training, wait until round 0's checkpoint exists, then send ``sig`` (mid round 1)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "last.pt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "round 0 did not finish in time"
        time.sleep(0.02)
    time.sleep(0.2)  # into round 1 (a round takes about a second)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from conftest import toy_sentences  # the toy_text fixture is function-scoped; this one is shared

    base = tmp_path_factory.mktemp("full")
    train_path, valid_path = base / "train.txt", base / "valid.txt"
    train_path.write_text("\n".join(toy_sentences(1500, 0)) + "\n")
    valid_path.write_text("\n".join(toy_sentences(50, 1)) + "\n")
    out = base / "exp"
    subprocess.run(command((train_path, valid_path), out), check=True, capture_output=True)
    return (train_path, valid_path), load_checkpoint(out / "last.pt")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_killed_training_resumes_to_the_same_weights(uninterrupted, tmp_path, sig):
    texts, full = uninterrupted
    out = tmp_path / "exp"
    code, err = kill_after_first_round(command(texts, out), sig, out)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 130, err
        assert "interrupted: " in err and "continue with --resume" in err
    saved = load_checkpoint(out / "last.pt")  # intact, and still round 0 (the kill came mid round 1)
    assert saved.train_state["round"] == 0
    subprocess.run(command(texts, out) + ["--resume"], check=True, capture_output=True)
    resumed = load_checkpoint(out / "last.pt")
    assert resumed.train_state["round"] == 1
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(full.table.cell, resumed.table.cell)
    assert full.train_state["best_ppl"] == resumed.train_state["best_ppl"]
    assert not list(out.glob(".*.tmp"))
