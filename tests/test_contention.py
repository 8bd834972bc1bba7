"""Contention: a run that did not get the cores it asked for is flagged, and never starred."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.core.spec import RunKey
from bench.launching import launch
from bench.machine import contention
from bench.records import results

from .conftest import fwbench, prose

HOG_S = 240  # the hog stops by itself even if the test is killed


@contextmanager
def cpu_hog() -> Iterator[subprocess.Popen[bytes]]:
    """One process spinning on one core, bounded in time, killed on exit."""
    code = f"import time\nend = time.monotonic() + {HOG_S}\nwhile time.monotonic() < end:\n    pass\n"
    hog = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield hog
    finally:
        hog.kill()
        hog.wait()


def test_the_rule_in_numbers() -> None:
    start = contention.Snapshot(process_cpu_s=10.0, busy_s=100.0, steal_s=1.0)

    def usage(own_s: float, busy_s: float, steal_s: float, threads: int, cpus: int) -> contention.CpuUsage:
        end = contention.Snapshot(10.0 + own_s, 100.0 + busy_s, 1.0 + steal_s)
        return contention.usage(start, end, wall_s=10.0, threads=threads, cpus=cpus)

    idle = usage(own_s=19.0, busy_s=19.5, steal_s=0.0, threads=2, cpus=2)  # 0.05 cores of others
    assert idle.contended is False and idle.others_cores == pytest.approx(0.05) and idle.received_share == 0.95
    hogged = usage(own_s=10.0, busy_s=20.0, steal_s=0.0, threads=2, cpus=2)  # another process took a core
    assert hogged.contended is True and hogged.others_cores == pytest.approx(1.0)
    assert "other processes used 1.00 cores" in hogged.reason
    spare = usage(own_s=10.0, busy_s=20.0, steal_s=0.0, threads=1, cpus=2)  # ...but not one this run asked for
    assert spare.contended is False
    stolen = usage(own_s=15.0, busy_s=15.0, steal_s=5.0, threads=2, cpus=2)  # the hypervisor took half a core
    assert stolen.contended is True and stolen.steal_cores == pytest.approx(0.5)
    # the counters' reading error: a tick (10 ms) at each end of each CPU, over the window
    short = contention.usage(start, contention.Snapshot(10.01, 100.02, 1.0), wall_s=0.02, threads=2, cpus=2)
    assert short.contended is None and "too short" in short.reason  # 1 tick of others in 20 ms: 0.5 cores?
    tenth = contention.usage(start, contention.Snapshot(10.1, 100.16, 1.0), wall_s=0.1, threads=2, cpus=2)
    assert tenth.resolution_cores == pytest.approx(0.4) and tenth.contended is False  # 0.6 cores: within error
    hogged_tenth = contention.usage(start, contention.Snapshot(10.1, 100.2, 1.0), wall_s=0.1, threads=2, cpus=2)
    assert hogged_tenth.contended is True  # a whole other core over 100 ms is seen
    unknown = contention.usage(start, contention.Snapshot(20.0, None, None), wall_s=10.0, threads=2, cpus=2)
    assert unknown.contended is None and unknown.received_share == 0.5  # never "not contended" without evidence


@pytest.mark.slow
@pytest.mark.alone  # it measures contention: the hog must be the only other load
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
def test_a_cell_beside_a_cpu_hog_is_flagged_contended_and_unstarred(tmp_path) -> None:
    cpus = len(os.sched_getaffinity(0))
    out = tmp_path / "out"
    with cpu_hog():
        p = fwbench(
            "run", "--workloads", "mlp-iris", "--backends", "torch-eager", "torchscript", "--repeats", "3", "--seeds", "1",
            "--steps", "300", "--threads", str(cpus), "--init", "native", "--out", str(out), timeout=600,
        )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    suite = results.load(next((out / "runs").glob("*.json")))
    assert len(suite.results) == 6 and all(r.ok for r in suite.results)
    for r in suite.results:
        assert r.contended, r.cpu
        assert r.cpu["others_cores"] > 0.5 and "other processes used" in r.cpu["reason"]
    assert re.search(r"warning: 6 of 6 run\(s\) were contended", p.stderr), p.stderr[-2000:]
    text = (out / "REPORT.md").read_text()
    assert "**Warning: 6 of 6 runs were contended**" in text
    section = text.split("### mlp-iris\n", 1)[1]
    row = next(ln for ln in section.splitlines() if ln.startswith("| torchscript "))
    ratio = row.split("|")[6].strip()
    assert re.fullmatch(r"\d+\.\d\d", ratio), row  # a number, no star: 3 runs a side, but contended
    assert "(3 contended)" in row


def test_the_advice_is_one_rule_and_always_possible() -> None:
    """Fewer threads only where a run has more than one; a busy-time sample above the CPUs never reads as a
    negative idle count (it once printed "-0.0 of 2 usable CPUs")."""
    assert "--threads 1 " in contention.advice(2) and "--threads 3 " in contention.advice(4)
    assert "--threads" not in contention.advice(1) and "idle" in contention.advice(1)
    described = contention.IdleCpus(cpus=2, busy_cores=2.04, threads=1).describe()
    assert "0.0 of 2 usable CPUs were idle" in described and "-0.0" not in described


def test_the_default_leaves_one_core_to_the_launcher_and_the_system(monkeypatch) -> None:
    """Idle 2 CPUs: 1 thread (the worker alone on its core); one busy: still 1; idle 8: 7; a 1-CPU machine: 1."""

    def sampled(cpus: int, busy_cores: float) -> contention.IdleCpus:
        counters = iter([(0.0, 0.0), (busy_cores * 0.5, 0.0)])  # (busy, steal) seconds before and after 0.5 s
        monkeypatch.setattr(contention, "usable_cpus", lambda: list(range(cpus)))
        monkeypatch.setattr(contention, "cpu_counters", lambda _cpus: next(counters))
        monkeypatch.setattr("time.sleep", lambda _s: None)
        return contention.idle_cpus(0.5)

    assert sampled(2, 0.0).threads == 1 and not sampled(2, 0.0).fewer_than_idle_allows
    assert sampled(2, 1.0).threads == 1  # the same choice beside a busy core: the answer does not move with it
    assert sampled(8, 0.0).threads == 7 and sampled(8, 2.0).threads == 5 and sampled(8, 2.0).fewer_than_idle_allows
    assert sampled(1, 0.0).threads == 1
    assert "1 left to the launcher and the system" in sampled(2, 0.0).describe()


def test_a_worker_is_pinned_to_the_first_cpus_and_only_where_others_are_left(monkeypatch) -> None:
    monkeypatch.setattr(contention, "usable_cpus", lambda: [0, 1, 2, 3])
    assert contention.worker_cpus(1) == (0,) and contention.worker_cpus(3) == (0, 1, 2)
    assert contention.worker_cpus(4) == () and contention.worker_cpus(8) == ()  # every CPU anyway: not pinned


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="sched_setaffinity")
def test_pin_worker_sets_the_processs_cpus_from_the_launchers_variable() -> None:
    first = min(os.sched_getaffinity(0))
    code = (
        "import os; from bench.machine import contention as c; "
        f"print(c.pin_worker({{c.WORKER_CPUS_ENV: '{first}'}}), sorted(os.sched_getaffinity(0)), c.pin_worker({{}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"({first},) [{first}] ()"


DATA = Path(__file__).parent / "data"


def contended(r: results.Result) -> results.Result:
    return dataclasses.replace(r, cpu={**r.cpu, "contended": True, "others_cores": 1.0, "reason": "a hog"})


def test_contended_runs_are_redone_once_the_machine_is_quiet_and_the_replaced_records_kept(tmp_path, monkeypatch):
    """The repair, with the worker and the CPU sample replaced: two contended runs, one redo contended again,
    one redo that crashes. Bounded rounds; what the suite ends with; what is kept; the file round-trips."""
    base = results.load(DATA / "suite-mlp-iris.json")
    plan = dataclasses.replace(base.plan, init="native")
    ok = [r for r in base.results if r.ok]
    suite = dataclasses.replace(base, plan=plan, results=[contended(ok[0]), ok[1], contended(ok[2])], redone=[])
    path = tmp_path / "suite.json"
    calls: list[RunKey] = []
    waits: list[int] = []

    def fake_run(plan_, run_id, key, init_path):  # ok[0]'s redo is contended again once; ok[2]'s crashes
        calls.append(key)
        r = next(r for r in ok if r.key(plan.seed) == key)
        if key == ok[2].key(plan.seed):
            return dataclasses.replace(r, status="failed", reason="worker died with SIGSEGV", cpu={})
        return contended(r) if calls.count(key) == 1 else dataclasses.replace(r, cpu={**r.cpu, "contended": False})

    monkeypatch.setattr(launch, "run_one", fake_run)
    monkeypatch.setattr(
        contention, "wait_until_quiet", lambda threads, timeout_s: (waits.append(threads), (True, 0))[1]
    )
    said: list[str] = []
    end = launch.redo_contended(plan, suite, path, tmp_path, rounds=2, notify=said.append)
    assert calls == [ok[0].key(plan.seed), ok[2].key(plan.seed), ok[0].key(plan.seed)]  # the crash is not retried
    assert waits == [plan.threads, plan.threads]  # each round waited for quiet first
    assert [r.contended for r in end.results] == [False, False, True]  # ok[2]'s contended record stayed
    assert [r.status for r in end.redone] == ["ok", "failed", "ok"] and all(r.contended for r in end.redone[::2])
    assert results.load(path) == end  # saved as it went, and the new field reads back
    assert said[0] == "redo round 1 of 2: 2 contended run(s); waiting for the machine to be quiet"

    # a machine that stays busy: nothing is run, the runs stay contended and it is said
    monkeypatch.setattr(contention, "wait_until_quiet", lambda threads, timeout_s: (False, timeout_s))
    calls.clear()
    said.clear()
    kept = launch.redo_contended(plan, suite, path, tmp_path, rounds=2, notify=said.append)
    assert calls == [] and kept.results == suite.results and kept.redone == []
    assert said[-1] == f"the machine stayed busy for {launch.QUIET_WAIT_S:.0f} s: 2 run(s) left contended"


def test_quiet_means_what_the_contended_rule_means() -> None:
    """A run at 2 threads on 2 CPUs needs both free; at 1 thread one other busy core is fine."""
    busy_one = contention.IdleCpus(cpus=2, busy_cores=1.0, threads=1)
    assert not contention.quiet_for(2, busy_one) and contention.quiet_for(1, busy_one)
    assert contention.quiet_for(2, contention.IdleCpus(cpus=2, busy_cores=0.2, threads=2))
    assert contention.quiet_for(2, contention.IdleCpus(cpus=2, busy_cores=None, threads=2))  # cannot see: go on


@pytest.mark.slow
@pytest.mark.alone  # it measures contention: the hog must be the only other load
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
def test_a_suite_beside_a_hog_that_stops_halfway_ends_with_every_run_uncontended(tmp_path) -> None:
    """Issue 24's repair: the hog spins until the suite file holds half the runs, then stops; the runs it
    took cores from are redone at the end, and the run says how many."""
    cpus = len(os.sched_getaffinity(0))
    out = tmp_path / "out"
    runs = 4
    code = (
        "import glob, json, time\n"
        f"end = time.monotonic() + {HOG_S}\n"
        "check = 0.0\n"
        "while time.monotonic() < end:\n"
        "    if time.monotonic() > check:\n"
        "        check = time.monotonic() + 0.5\n"
        f"        files = glob.glob({str(out / 'runs' / '*.json')!r})\n"
        "        try:\n"
        f"            if files and len(json.load(open(files[0]))['results']) >= {runs // 2}:\n"
        "                break\n"
        "        except (OSError, ValueError):\n"
        "            pass\n"
    )
    hog = subprocess.Popen([sys.executable, "-c", code])
    try:
        p = fwbench(
            "run", "--workloads", "mlp-iris", "--backends", "torch-eager", "--repeats", str(runs), "--seeds", "1",
            "--steps", "300", "--threads", str(cpus), "--redo-contended", str(launch.REDO_ROUNDS), "--out", str(out),
            timeout=900,
        )  # fmt: skip
    finally:
        hog.kill()
        hog.wait()
    assert p.returncode == 0, p.stderr[-3000:]
    suite = results.load(next((out / "runs").glob("*.json")))
    assert len(suite.results) == runs and all(r.ok for r in suite.results)
    assert not [r.cpu for r in suite.results if r.contended]
    assert 1 <= len(suite.redone) and all(r.contended for r in suite.redone), [r.cpu for r in suite.redone]
    n = len(suite.redone)
    assert f"redo round 1 of {launch.REDO_ROUNDS}: " in p.stderr
    text = prose((out / "REPORT.md").read_text())
    assert f"**Redone: {n} contended run{'s' if n != 1 else ''}**" in text and "none is left contended" in text
    assert "runs were contended**" not in text  # no contention warning left
    assert json.loads(next((out / "runs").glob("*.json")).read_text())["schema_version"] == results.SCHEMA_VERSION
