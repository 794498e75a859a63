"""``lightrnn-asr`` with training paused at a defined point, for the tests that interrupt training.

Run as ``python pause_training.py ROUND:EPOCH PID_DIR <lightrnn-asr arguments>`` (or under torchrun):
when epoch EPOCH of round ROUND is about to start (so round ROUND-1's checkpoint is on disk, and the
epochs of round ROUND before EPOCH are done), every process writes its pid to ``PID_DIR/<pid>.pid``
and stops itself with SIGSTOP. A test waits for that
with :func:`wait_until_paused`, sends its signal, waits until the signal is pending
(:func:`wait_until_pending`) and continues the processes with SIGCONT. The signal is then handled
inside round ROUND, at the start of epoch EPOCH, whatever the speed or load of the machine: the tests
depend on events, not on how long a round takes.

Linux only (``/proc/PID/stat`` and ``/proc/PID/status``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HANG_GUARD_S = 600  # only against a hung process; nothing here depends on how fast anything runs


def pause_before_epoch(round_index: int, epoch: int, pid_dir: Path) -> None:
    """Make training stop itself (SIGSTOP) when epoch ``epoch`` of round ``round_index`` starts."""
    train_module = importlib.import_module("lightrnn_asr.training.loop")  # the package's `train` is the function

    original = train_module._train_epoch

    def train_epoch(*args, **kwargs):
        desc = kwargs["desc"] if "desc" in kwargs else args[8]
        if desc == f"round {round_index} epoch {epoch}":
            tmp = pid_dir / f".{os.getpid()}.tmp"
            tmp.write_text(str(os.getpid()))
            os.replace(tmp, pid_dir / f"{os.getpid()}.pid")
            os.kill(os.getpid(), signal.SIGSTOP)
        return original(*args, **kwargs)

    train_module._train_epoch = train_epoch


def _proc_state(pid: int) -> str:
    """The one-letter state of ``/proc/PID/stat`` (``T``: stopped), ``""`` once the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ""
    return stat[stat.rindex(")") + 2]


def _wait(condition, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"{what}: the process ended first (exit {proc.returncode})\n{out[-2000:]}{err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: nothing after {HANG_GUARD_S} s (hung?)")
        time.sleep(0.01)


def wait_until_paused(pid_dir: Path, n: int, proc: subprocess.Popen) -> list[int]:
    """Wait until ``n`` processes have written their pid files and are stopped; returns their pids.

    Raises:
        AssertionError: when ``proc`` (the process started by the test) ends first.
    """
    def paused() -> bool:
        pids = [int(p.read_text()) for p in pid_dir.glob("*.pid")]
        return len(pids) == n and all(_proc_state(pid) == "T" for pid in pids)

    _wait(paused, f"waiting for {n} paused training processes", proc)
    return sorted(int(p.read_text()) for p in pid_dir.glob("*.pid"))


def wait_until_pending(pid: int, sig: int, proc: subprocess.Popen) -> None:
    """Wait until ``sig`` is pending for the stopped process ``pid`` (sent to it by someone else,
    e.g. torchrun forwarding a SIGTERM to its workers)."""
    bit = 1 << (sig - 1)

    def pending() -> bool:
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
        except FileNotFoundError:
            return True  # gone: nothing left to wait for
        masks = {line.split(":")[0]: int(line.split()[1], 16) for line in status
                 if line.startswith(("SigPnd:", "ShdPnd:", "SigIgn:"))}
        if masks["SigIgn"] & bit:  # an ignored signal is discarded, never pending
            raise AssertionError(f"process {pid} ignores signal {sig} (inherited from whoever started the tests?)")
        return bool((masks["SigPnd"] | masks["ShdPnd"]) & bit)

    _wait(pending, f"waiting for signal {sig} to reach process {pid}", proc)


@contextlib.contextmanager
def cleanup(proc: subprocess.Popen, pid_dir: Path):
    """On the way out (a failed assertion included), kill what is left of ``proc`` and of the
    processes that paused themselves, so that no stopped process outlives the test."""
    try:
        yield proc
    finally:
        for p in pid_dir.glob("*.pid"):
            pid = int(p.read_text())
            if _proc_state(pid) == "T":  # still paused (an exited one's pid may belong to another process now)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def default_signals() -> None:
    """``preexec_fn`` for the training process: SIGINT and SIGTERM as a fresh interpreter expects
    them, even when the tests were started with them ignored (``nohup``, ``cmd &`` in a script)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main() -> None:
    round_index, epoch = (int(x) for x in sys.argv[1].split(":"))
    pause_before_epoch(round_index, epoch, Path(sys.argv[2]))
    args = sys.argv[3:]
    from lightrnn_asr.cli import main as cli_main

    cli_main(args=args, prog_name="lightrnn-asr")


if __name__ == "__main__":
    main()
