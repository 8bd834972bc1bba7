"""The one place that starts worker processes (`python -m bench.worker JOB OUT`), for run, export-init, peak
and overhead jobs alike: each in its own session with the plan's thread settings, killed with whatever it
started past its time limit or on Ctrl-C, its exit classified (ok, timeout, failed, oom) with the tail of
its stderr. `run_job` gives a worker one job document and reads back the one document it writes."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.core.plan import SuitePlan
from bench.core.spec import Job, job_document
from bench.core.typedjson import parse_json
from bench.machine import contention
from bench.machine.memory import OOM_MARKERS
from bench.machine.process import kill_session, last_lines

STDERR_TAIL_LINES = 12


def worker_env(plan: SuitePlan) -> dict[str, str]:
    """Identical thread settings for every worker, in place before the interpreter starts."""
    environ = dict(os.environ)
    threads = str(plan.threads)
    environ.update(
        OMP_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        OPENBLAS_NUM_THREADS=threads,
        TF_NUM_INTRAOP_THREADS=threads,
        TF_NUM_INTEROP_THREADS=str(plan.interop_threads),
        PYTHONHASHSEED=str(plan.seed),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
        FWBENCH_LAUNCHER_PID=str(os.getpid()),  # the worker dies with the launcher (bench.worker.die_with_launcher)
    )
    environ[contention.WORKER_CPUS_ENV] = ",".join(map(str, plan.worker_cpus))  # pinned by the worker, if any
    return environ


def classify_failure(returncode: int, stderr: str) -> tuple[str, str]:
    """Status and reason of a worker that did not produce a result."""
    tail = last_lines(stderr, STDERR_TAIL_LINES)
    if any(m in stderr for m in OOM_MARKERS) or returncode == -signal.SIGKILL:
        return "oom", tail or "killed by SIGKILL (the kernel's OOM killer?)"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return "failed", f"worker died with {name}\n{tail}".strip()
    return "failed", f"worker exit code {returncode}\n{tail}".strip()


@dataclass(frozen=True)
class Spawned:
    """How a worker process ended: `status` "ok" (exit 0), "timeout" (killed at the limit), or a failure
    status from classify_failure ("failed", "oom"), with the reason and the tail of its stderr."""

    status: str
    reason: str
    pid: int
    returncode: int | None
    stderr: str
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def one_line_reason(self) -> str:
        """Why it ended, shortly: the time limit's line, or the last lines of its stderr."""
        return self.reason.splitlines()[0] if self.status == "timeout" else last_lines(self.stderr, 4)


def kill_and_reap(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and whatever it started (its own session), then reap it."""
    kill_session(proc.pid)
    proc.wait()


def spawn(worker_args: Sequence[str], plan: SuitePlan, time_limit_s: float | None = None) -> Spawned:
    """Run `python -m bench.worker ARGS...` in its own session with the plan's environment: the one place
    that starts workers (run, export-init, peak, overhead). Past the time limit the worker and whatever it
    started are killed and the status is "timeout"; Ctrl-C kills them too and is re-raised."""
    limit = plan.time_limit_s if time_limit_s is None else time_limit_s
    started = datetime.now(UTC)
    with tempfile.TemporaryFile(mode="w+", prefix="fwbench-stderr-") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", *worker_args],
            env=worker_env(plan),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_and_reap(proc)
            timed_out = True
        except BaseException:  # Ctrl-C: take the worker down with us, lose nothing already saved
            kill_and_reap(proc)
            raise
        err.seek(0)
        stderr = err.read()
    wall_s = (datetime.now(UTC) - started).total_seconds()
    if timed_out:
        reason = f"exceeded the time limit of {limit:g} s\n{last_lines(stderr, 4)}".strip()
        return Spawned("timeout", reason, proc.pid, None, stderr, wall_s)
    if proc.returncode == 0:
        return Spawned("ok", "", proc.pid, 0, stderr, wall_s)
    status, reason = classify_failure(proc.returncode, stderr)
    return Spawned(status, reason, proc.pid, proc.returncode, stderr, wall_s)


def run_job(job: Job, plan: SuitePlan, time_limit_s: float | None = None) -> tuple[Any, Spawned]:
    """Give one worker one job document (bench.core.spec.job_document) and read back the one document it
    writes: (that document, or None, and how the worker ended). A worker that exits 0 without a
    readable document ends "failed", with why."""
    with tempfile.TemporaryDirectory(prefix="fwbench-") as tmp:
        job_path, out_path = Path(tmp, f"{job.kind}-job.json"), Path(tmp, f"{job.kind}-out.json")
        job_path.write_text(json.dumps(job_document(job)))
        done = spawn([str(job_path), str(out_path)], plan, time_limit_s)
        if not done.ok:
            return None, done
        if not out_path.exists():
            why = f"the worker exited 0 without writing its result\n{last_lines(done.stderr, STDERR_TAIL_LINES)}"
            return None, dataclasses.replace(done, status="failed", reason=why.strip())
        try:
            return parse_json(out_path.read_text()), done
        except ValueError as e:
            why = f"the worker wrote a document this fwbench cannot read: {e}"
            return None, dataclasses.replace(done, status="failed", reason=why)
