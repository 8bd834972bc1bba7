"""Nothing lost on interruption: a suite killed mid-run keeps every completed result, and
`fwbench run --resume RUN_ID` makes only the missing runs, each exactly once.

One suite of three runs (mlp-iris / torch-eager, repeats 0..2), through the real CLI, each in its
own process group as a shell starts a job:
1. SIGKILL while run #1 is in flight: the launcher cannot clean up. The file holds run #0, is
   valid JSON, and the orphaned worker dies with its launcher (it does not train on unseen).
2. `--resume`, then Ctrl-C (SIGINT to the group) while run #2 is in flight: the launcher kills the
   worker, prints one line naming the resume command and exits 130.
3. `--resume` again: the run completes; runs #0 and #1 are the very results saved before.
4. `--resume` of the finished run: nothing to do, the file is left byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from bench.core import backends
from bench.records import results

from .conftest import REPO, fwbench

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
    pytest.mark.skipif(not backends.get("torch-eager").installed(), reason="needs torch"),
]

REPEATS = 3
RUN = ["--workloads", "mlp-iris", "--backends", "torch-eager", "--init", "native", "--epochs", "10", "--seeds", "1"]


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "bench", "run", *args],
            cwd=REPO,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a job started from a shell
        )


def workers(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for c in children:
        try:
            if "bench.worker" in c.cmdline() and any(a.endswith("run-job.json") for a in c.cmdline()):
                found.append(c)
        except psutil.NoSuchProcess:
            pass
    return found


def saved(out: Path) -> results.Suite | None:
    files = list((out / "runs").glob("*.json"))
    return results.load(files[0]) if files else None


def wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        assert proc.poll() is None, f"exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def interrupt_during_run(
    out: Path, args: list[str], log: Path, done_before: int, sig: signal.Signals
) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    """Start the CLI, wait until `done_before` runs are saved and the next one is in flight, send `sig` to the group."""
    proc = start(args, log)

    def next_run_in_flight() -> bool:
        s = saved(out)
        return s is not None and len(s.results) == done_before and bool(workers(proc))

    wait_for(f"{done_before} saved runs and a worker in flight", next_run_in_flight, proc, log)
    running = workers(proc)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
    return proc, running


def dead(p: psutil.Process, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_kill_then_ctrl_c_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [*RUN, "--repeats", str(REPEATS), "--out", str(out)]

    # 1. SIGKILL while run #1 is in flight
    proc, running = interrupt_during_run(out, args, tmp_path / "1.log", 1, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert running and all(dead(w) for w in running), "an orphaned worker kept running after its launcher died"
    (path,) = (out / "runs").glob("*.json")  # one document, valid (results.load is strict)
    first = results.load(path)
    assert [r.key() for r in first.results] == [("mlp-iris", "torch-eager", 0, 0, "train", "fp32", 1, 1)]
    assert first.results[0].status == "ok" and first.finished_at is None
    run_id = first.run_id

    # 2. resume, then Ctrl-C while run #2 is in flight
    resume = ["--resume", run_id, "--out", str(out)]
    proc, running = interrupt_during_run(out, resume, tmp_path / "2.log", 2, signal.SIGINT)
    log = (tmp_path / "2.log").read_text()
    assert proc.returncode == 130, log[-3000:]
    assert "Traceback" not in log
    assert log.strip().splitlines()[-1] == (
        f"fwbench: interrupted; {path} keeps every completed run: finish with "
        f"`fwbench run --resume {run_id} --out {out}`"
    )
    assert running and all(dead(w, within_s=1.0) for w in running), "Ctrl-C left the worker running"
    second = results.load(path)
    assert [r.key() for r in second.results] == [
        ("mlp-iris", "torch-eager", 0, r, "train", "fp32", 1, 1) for r in (0, 1)
    ]
    assert second.results[0] == first.results[0]

    # 3. resume to the end
    p = fwbench("run", *resume)
    assert p.returncode == 0, p.stderr[-3000:]
    final = results.load(path)
    planned = [("mlp-iris", "torch-eager", 0, r, "train", "fp32", 1, 1) for r in range(REPEATS)]
    assert sorted(r.key() for r in final.results) == planned  # each planned run exactly once
    assert final.results[:2] == second.results  # earlier results untouched: same values, same worker pids
    assert len({r.pid for r in final.results}) == REPEATS
    assert all(r.status == "ok" for r in final.results), [(r.status, r.reason) for r in final.results]
    assert final.run_id == run_id and final.finished_at is not None and final.plan == first.plan
    assert (out / "REPORT.md").is_file()
    assert list((out / "runs").iterdir()) == [path]  # no second document, no temp file left

    # 4. resuming a finished run changes nothing
    before = path.read_bytes(), path.stat().st_mtime_ns
    p = fwbench("run", *resume)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_resume_with_retry_failed_redoes_only_the_failed_cell(tmp_path: Path) -> None:
    """A run that failed (here an injected exception, recorded in the plan so it fails again) is redone by
    `--resume --retry-failed`, its failure record kept; the run that finished is not touched."""
    out = tmp_path / "out"
    args = ["--workloads", "mlp-iris", "--backends", "torch-eager", "torchscript", "--init", "native", "--seeds", "1"]
    p = fwbench("run", *args, "--epochs", "1", "--out", str(out), env={"FWBENCH_FAULT": "mlp-iris/torchscript=raise"})
    assert p.returncode == 0, p.stderr[-3000:]
    (path,) = (out / "runs").glob("*.json")
    first = results.load(path)
    # the plan's seeded order chooses which backend ran first (bench.core.plan.SuitePlan.runs)
    assert {r.backend: r.status for r in first.results} == {"torch-eager": "ok", "torchscript": "failed"}
    assert [r.key() for r in first.results] == first.plan.runs()  # made in the plan's order
    p = fwbench("run", "--resume", first.run_id, "--out", str(out))
    assert p.returncode == 0 and results.load(path).results == first.results  # plain --resume: a failure is a result
    p = fwbench("run", "--resume", first.run_id, "--retry-failed", "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    again = results.load(path).results
    assert again[:2] == first.results  # nothing lost
    assert [(r.backend, r.status) for r in again[2:]] == [("torchscript", "failed")]  # only that cell, redone
    assert again[2].pid != next(r.pid for r in first.results if r.backend == "torchscript")
    bad = fwbench("run", "--retry-failed", "--out", str(out))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].endswith("give it with --resume RUN_ID")
