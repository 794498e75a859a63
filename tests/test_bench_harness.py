"""The benchmarks' shared harness: a child's peak memory is its own, records carry provenance and the
command as it can be rerun."""

import json
import sys
from pathlib import Path

from helpers import load_script

ROOT = Path(__file__).resolve().parent.parent


def load_harness():
    return load_script(ROOT / "benchmarks" / "harness.py", "bench_harness")


def test_a_childs_peak_memory_is_its_own_not_the_parents():
    harness = load_harness()
    ballast = bytearray(400 * 2**20)  # this process is now large; a small child must not be charged with it
    ballast[::4096] = b"x" * len(ballast[::4096])
    small = harness.run_child([sys.executable, "-c", "print('ok')"], check=True)
    big = harness.run_child([sys.executable, "-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    assert small.stdout.strip() == "ok" and small.returncode == 0
    assert small.peak_rss_bytes < 150 * 2**20 < harness.peak_rss_bytes()
    assert 300 * 2**20 < big.peak_rss_bytes < 500 * 2**20
    assert big.wall_s > 0
    del ballast


def test_a_child_killed_by_a_signal_exits_128_plus_the_signal():
    harness = load_harness()
    run = harness.run_child([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"])
    assert run.returncode == 128 + 15


def test_records_carry_provenance_and_the_rerunnable_command(tmp_path, monkeypatch, capsys):
    harness = load_harness()
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "speed" / "lexicon_scale.py"), "--data", "d"])
    harness.emit({"x": 1}, tmp_path / "r.jsonl")
    harness.write_record({"y": 2}, tmp_path / "r.json")
    row = json.loads((tmp_path / "r.jsonl").read_text())
    doc = json.loads((tmp_path / "r.json").read_text())
    assert row["x"] == 1 and doc["y"] == 2
    for prov in (row["provenance"], doc["provenance"]):
        assert prov["command"] == "benchmarks/speed/lexicon_scale.py --data d"
        assert {"commit", "date", "cpu", "cores", "versions"} <= set(prov)
    assert json.loads(capsys.readouterr().out) == row
    with harness.timed() as t:
        sum(range(1000))
    assert 0 < t.seconds < 5


def test_a_runs_records_name_the_commit_it_started_from(monkeypatch):
    from lightrnn_asr.utils import provenance as prov

    def git_unreadable(*args, **kwargs):
        raise OSError("git")

    prov._commit.cache_clear()
    load_harness()  # a benchmark starts: the commit is read
    first = prov.provenance()["commit"]
    assert first  # the tests run in a checkout
    monkeypatch.setattr(prov.subprocess, "run", git_unreadable)
    assert prov.provenance()["commit"] == first  # not read again: a commit made while it runs changes nothing
    prov._commit.cache_clear()
    assert prov.provenance()["commit"] is None  # read afresh: none, as outside a checkout
    prov._commit.cache_clear()


def test_records_tell_apart_two_cpus_a_virtual_machine_names_alike(tmp_path):
    from helpers import load_script

    from lightrnn_asr.utils import provenance as prov

    def cpuinfo(name, model, stepping):
        text = "".join(f"processor\t: {i}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {model}\n"
                       f"model name\t: AMD EPYC\nstepping\t: {stepping + i}\nflags\t\t: fpu\n\n" for i in range(2))
        (tmp_path / name).write_text(text)
        return tmp_path / name

    assert prov.cpu_id(cpuinfo("a", 17, 1)) == "AuthenticAMD family 25 model 17 stepping 1"  # the first CPU's
    assert prov.cpu_id(cpuinfo("b", 1, 1)) == "AuthenticAMD family 25 model 1 stepping 1"
    assert prov.cpu_id(tmp_path / "missing") is None
    compare = load_script(ROOT / "benchmarks" / "reliability" / "compare_reports.py", "compare_reports")
    same = {"cpu": "AMD EPYC", "cpu_id": prov.cpu_id(tmp_path / "a"), "cpu_capability": "AVX512"}
    assert compare.machines({"provenance": same}, {"provenance": dict(same)}) is None
    other = {**same, "cpu_id": prov.cpu_id(tmp_path / "b")}
    assert "machines differ" in compare.machines({"provenance": same}, {"provenance": other})
    assert "machines differ" in compare.machines({"provenance": {"cpu": "AMD EPYC"}}, {"provenance": {"cpu": "AMD EPYC"}})
