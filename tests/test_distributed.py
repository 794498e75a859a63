"""Distributed training and sharded rescoring with 2 gloo processes on CPU, started by torchrun."""

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from pause_training import HANG_GUARD_S, cleanup, default_signals, wait_until_paused, wait_until_pending

from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.utils.distributed import DistContext, sharded_map

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
WORDS = [f"w{i}" for i in range(60)]


def toy_text(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):  # a little structure: each word prefers a few successors
        w = rng.randrange(60)
        words = []
        for _ in range(rng.randrange(2, 20)):
            words.append(WORDS[w])
            w = (w * 7 + rng.choice([1, 2, 3])) % 60
        lines.append(" ".join(words))
    path.write_text("\n".join(lines) + "\n")
    return path


def torchrun(nproc: int) -> list[str]:
    """torchrun on this machine with its rendezvous on a port the OS picks. (``--standalone`` does
    that from torch 2.x on, but under torch 1.13 it takes the fixed port 29400, which another job
    on the machine may hold.)"""
    return [str(BIN / "torchrun"), "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0",
            f"--rdzv_id={uuid.uuid4()}", "--nnodes=1", f"--nproc_per_node={nproc}"]


def run(cmd: list[str], nproc: int = 0, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``cmd`` in one process, or under :func:`torchrun` with ``nproc`` processes; one thread each."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    if nproc:  # torchrun runs a Python script with its own interpreter
        cmd = cmd[1:] if cmd[0] == sys.executable else cmd
        cmd = [*torchrun(nproc), *cmd]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp")
    return toy_text(d / "train.txt", 400, 0), toy_text(d / "valid.txt", 40, 1)


@pytest.mark.parametrize("recurrence", ["halfword", "word-concat"])
def test_two_processes_train_like_one_and_hold_identical_tables(texts, tmp_path, recurrence):
    train_txt, valid_txt = texts
    worker = [sys.executable, str(HERE / "ddp_worker.py"), str(train_txt), str(valid_txt)]
    run(worker + [str(tmp_path / "one"), "3", recurrence])
    run(worker + [str(tmp_path / "two"), "3", recurrence], nproc=2)
    one = torch.load(tmp_path / "one" / "rank0.pt")
    r0, r1 = torch.load(tmp_path / "two" / "rank0.pt"), torch.load(tmp_path / "two" / "rank1.pt")
    # two reallocations happened (3 rounds) and every rank installed the same table
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    assert [("realloc" in h) for h in history] == [True, True, False]
    assert sum(h["realloc"]["words_moved"] for h in history[:2]) > 0
    assert torch.equal(r0["row"], r1["row"]) and torch.equal(r0["col"], r1["col"])
    for k in r0["params"]:  # DDP keeps the replicas equal
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    # and the same allocation and (within float summation order) parameters as one process
    assert torch.equal(r0["row"], one["row"]) and torch.equal(r0["col"], one["col"])
    for k, v in one["params"].items():
        torch.testing.assert_close(r0["params"][k], v, atol=2e-4, rtol=1e-3)
    # only rank 0 wrote checkpoints, and the checkpoint holds what the ranks hold
    ck = load_checkpoint(tmp_path / "two" / "last.pt")
    assert torch.equal(ck.table.row, r0["row"])
    one_hist = json.loads((tmp_path / "one" / "history.json").read_text())
    assert [h["valid_ppl"] for h in history] == pytest.approx([h["valid_ppl"] for h in one_hist], rel=1e-4)


def test_cli_train_under_torchrun_resumes_on_another_number_of_ranks(texts, tmp_path):
    """Two processes are stopped (SIGTERM to torchrun) in round 1, after round 0 was saved; one process resumes;
    the end result is a one-process run's."""
    train_txt, valid_txt = texts
    args = ["train", "--train-text", str(train_txt), "--valid-text", str(valid_txt), "--embed-dim", "16",
            "--hidden-dim", "16", "--num-layers", "1", "--dropout", "0", "--max-tokens", "300", "--lr", "0.005",
            "--patience", "6", "--rounds", "6", "--device", "cpu"]
    lightrnn = str(BIN / "lightrnn-asr")
    run([lightrnn, *args, "--out-dir", str(tmp_path / "one")])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    split, pause_dir = tmp_path / "split", tmp_path / "pause"
    pause_dir.mkdir()
    # both ranks stop themselves when round 1 starts (round 0 saved); SIGTERM goes to torchrun, which
    # forwards it to the ranks; once it is pending in both, they continue and handle it in round 1
    proc = subprocess.Popen([*torchrun(2), str(HERE / "pause_training.py"), "1:0", str(pause_dir), *args,
                             "--out-dir", str(split)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    with cleanup(proc, pause_dir):
        ranks = wait_until_paused(pause_dir, 2, proc)
        proc.send_signal(signal.SIGTERM)
        for pid in ranks:
            wait_until_pending(pid, signal.SIGTERM, proc)
        for pid in ranks:
            os.kill(pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=HANG_GUARD_S)
    stopped = json.loads((split / "history.json").read_text())
    assert len(stopped) == 1 and stopped[0]["processes"] == 2, err[-2000:]
    assert {p.name for p in split.iterdir()} <= {"best.pt", "history.json", "last.pt", "vocab.txt", "config.yaml",
                                                 ".history.json.tmp"}
    run([lightrnn, *args, "--out-dir", str(split), "--resume"])  # one process
    history = json.loads((split / "history.json").read_text())
    assert len(history) == 6 and "processes" not in history[-1]
    a, b = load_checkpoint(tmp_path / "one" / "last.pt"), load_checkpoint(split / "last.pt")
    assert torch.equal(a.table.cell, b.table.cell)
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        torch.testing.assert_close(x, y, atol=2e-4, rtol=1e-3, msg=k)


def test_sharded_rescoring_writes_what_one_process_writes(texts, tmp_path):
    train_txt, valid_txt = texts
    lightrnn = str(BIN / "lightrnn-asr")
    run([lightrnn, "train", "--train-text", str(train_txt), "--valid-text", str(valid_txt), "--out-dir",
         str(tmp_path / "lm"), "--embed-dim", "16", "--hidden-dim", "16", "--num-layers", "1", "--rounds", "1",
         "--device", "cpu"])
    rng = random.Random(3)
    for name in ("dev", "test"):
        lines, refs = [], []
        for u in range(23):
            words = [rng.choice(WORDS) for _ in range(rng.randrange(2, 9))]
            refs.append(f"{name}{u:03d} {' '.join(words)}")
            for k in range(rng.randrange(1, 6)):
                hyp = [w if rng.random() > 0.3 else rng.choice(WORDS) for w in words]
                lines.append(f"{name}{u:03d}\t{-rng.uniform(50, 60):.3f}\t{-rng.uniform(5, 9):.3f}\t{' '.join(hyp)}")
        (tmp_path / f"{name}.nbest").write_text("\n".join(lines) + "\n")
        (tmp_path / f"{name}.ref").write_text("\n".join(refs) + "\n")
    outputs = {}
    for nproc in (0, 2):
        out = tmp_path / f"out{nproc}"
        out.mkdir()
        res = run([lightrnn, "rescore", str(tmp_path / "test.nbest"), "--dev", str(tmp_path / "dev.nbest"),
                   str(tmp_path / "dev.ref"), "--model", str(tmp_path / "lm" / "best.pt"), "--fp-lm-scale", "0.5", "--lm-scale", "0:2:0.25",
                   "--chunk-utterances", "4", "--out", str(out / "1best.txt"), "--scores-out", str(out / "scores.tsv"),
                   "--device", "cpu"], nproc=nproc)
        outputs[nproc] = (res.stdout, (out / "1best.txt").read_bytes(), (out / "scores.tsv").read_bytes())
    assert outputs[0] == outputs[2]
    assert outputs[0][1].count(b"\n") == 23 and outputs[0][2].count(b"\n") > 23


def test_sharded_map_without_a_process_group_is_map():
    assert list(sharded_map(lambda x: x * 2, range(5), DistContext())) == [0, 2, 4, 6, 8]
