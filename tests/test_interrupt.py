"""Killing a real training process: the last checkpoint survives and --resume ends where an
uninterrupted run ends, weight for weight."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pause_training import HANG_GUARD_S, cleanup, default_signals, wait_until_paused, wait_until_pending

from lightrnn_asr.lm.checkpoint import load_checkpoint

HERE = Path(__file__).parent

ARGS = ["--rounds", "2", "--epochs-per-round", "8", "--patience", "3", "--embed-dim", "16", "--hidden-dim", "32", "--num-layers", "1",
        "--dropout", "0.1", "--lr", "0.01", "--max-tokens", "400", "--seed", "3", "--device", "cpu", "--threads", "1"]


def command(toy_text, out, pause_dir=None):
    """The training command; with ``pause_dir``, training stops itself when round 1's epoch 3 starts."""
    train_path, valid_path = toy_text
    prefix = ["-m", "lightrnn_asr.cli"] if pause_dir is None else [str(HERE / "pause_training.py"), "1:3", str(pause_dir)]
    return [sys.executable, *prefix, "train", "--train-text", str(train_path),
            "--valid-text", str(valid_path), "--out-dir", str(out), *ARGS]


def interrupt_round_1(texts, sig, out):
    """Train, pause in round 1 (round 0's checkpoint written, 3 of round 1's 8 epochs done), send
    ``sig``, continue.

    The signal is pending before the process runs again, so it is handled inside round 1 at the
    start of its epoch 3, on any machine and under any load.
    """
    pause_dir = out.parent / "pause"
    pause_dir.mkdir()
    proc = subprocess.Popen(command(texts, out, pause_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    with cleanup(proc, pause_dir):
        [pid] = wait_until_paused(pause_dir, 1, proc)
        assert pid == proc.pid
        proc.send_signal(sig)
        if sig != signal.SIGKILL:
            wait_until_pending(pid, sig, proc)
            proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=HANG_GUARD_S)
    return proc.returncode, err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from helpers import toy_sentences  # the toy_text fixture is function-scoped; this one is shared

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
    code, err = interrupt_round_1(texts, sig, out)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 130, err
        assert "interrupted: " in err and "continue with --resume" in err
    saved = load_checkpoint(out / "last.pt")  # intact, and still round 0 (the signal came in round 1)
    assert saved.train_state["round"] == 0
    res = subprocess.run(command(texts, out) + ["--resume"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    resumed = load_checkpoint(out / "last.pt")
    assert resumed.train_state["round"] == 1
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(full.table.cell, resumed.table.cell)
    assert full.train_state["best_ppl"] == resumed.train_state["best_ppl"]
    assert not list(out.glob(".*.tmp"))
