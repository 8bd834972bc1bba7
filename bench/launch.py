"""One fresh subprocess per (workload, backend, repeat), interleaved, each result saved at once.

Order: for each repeat, for each workload, every backend in turn (A B C A B C ...), so that drift
of a shared machine hits all backends alike. A worker that crashes, hangs past its time limit,
runs out of memory or diverges becomes a Result with that status and the reason; the suite
goes on. The suite document is rewritten atomically after every run, so nothing completed is
ever lost, and `resume` runs only the missing triples of an earlier suite.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import backends, env, results, workloads
from bench.errors import UsageError
from bench.spec import PROFILES, RunConfig

STDERR_TAIL_LINES = 12
OOM_MARKERS = ("MemoryError", "out of memory", "OutOfMemoryError", "OOM when allocating", "ResourceExhaustedError")


@dataclass(frozen=True)
class SuitePlan:
    workloads: tuple[str, ...]
    backends: tuple[str, ...]
    device: str
    profile: str
    repeats: int
    seed: int
    init: str  # "shared" | "native"
    threads: int
    interop_threads: int
    deterministic: bool
    time_limit_s: float
    data_dir: str | None = None
    epochs_override: int | None = None
    fault: dict[str, str] | None = None  # "workload/backend" -> fault (tests only)

    def __post_init__(self) -> None:
        for w in self.workloads:
            workloads.get(w)
        for b in self.backends:
            backends.get(b)
        if self.profile not in PROFILES:
            raise UsageError(f"unknown profile {self.profile!r}; valid: {', '.join(PROFILES)}")
        if self.device not in ("cpu", "cuda"):
            raise UsageError(f"unknown device {self.device!r}; valid: cpu, cuda")
        if self.init not in ("shared", "native"):
            raise UsageError(f"unknown init {self.init!r}; valid: shared, native")
        for name in ("repeats", "threads", "interop_threads"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.time_limit_s <= 0:
            raise UsageError(f"--time-limit must be > 0 seconds, got {self.time_limit_s}")
        if self.epochs_override is not None and self.epochs_override < 1:
            raise UsageError(f"--epochs must be >= 1, got {self.epochs_override}")

    def triples(self) -> list[tuple[str, str, int]]:
        """The interleaved order: repeat-major, then workload, then backend."""
        return [(w, b, r) for r in range(self.repeats) for w in self.workloads for b in self.backends]

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["workloads"], d["backends"] = list(self.workloads), list(self.backends)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SuitePlan:
        d = dict(d)
        d["workloads"], d["backends"] = tuple(d["workloads"]), tuple(d["backends"])
        return cls(**d)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def worker_env(plan: SuitePlan) -> dict[str, str]:
    """Identical thread settings for every worker, in place before the interpreter starts."""
    e = dict(os.environ)
    n = str(plan.threads)
    e.update(
        OMP_NUM_THREADS=n,
        MKL_NUM_THREADS=n,
        OPENBLAS_NUM_THREADS=n,
        TF_NUM_INTRAOP_THREADS=n,
        TF_NUM_INTEROP_THREADS=str(plan.interop_threads),
        PYTHONHASHSEED=str(plan.seed),
        TF_CPP_MIN_LOG_LEVEL="2",
        KERAS_BACKEND="tensorflow",
        PYTHONUNBUFFERED="1",
    )
    return e


def export_init(plan: SuitePlan, workload: str, out_dir: Path, run_id: str) -> str:
    """The torch twin's initial weights for `--init shared`, made once per workload and suite."""
    if not backends.get("torch-eager").installed():
        raise UsageError(
            "--init shared takes the initial weights from the torch twin: install torch, or use --init native"
        )
    path = out_dir / "init" / run_id / f"{workload}-seed{plan.seed}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", "export-init", workload, str(plan.seed), str(path)],
            env=worker_env(plan),
            capture_output=True,
            text=True,
            timeout=plan.time_limit_s,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"exporting initial weights of {workload} failed: {tail(proc.stderr)}")
    return str(path)


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def classify_failure(returncode: int, stderr: str) -> tuple[str, str]:
    """Status and reason of a worker that did not produce a result."""
    if any(m in stderr for m in OOM_MARKERS) or returncode == -signal.SIGKILL:
        return "oom", tail(stderr) or "killed by SIGKILL (the kernel's OOM killer?)"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return "failed", f"worker died with {name}\n{tail(stderr)}".strip()
    return "failed", f"worker exit code {returncode}\n{tail(stderr)}".strip()


def run_one(
    plan: SuitePlan, run_id: str, workload: str, backend: str, repeat: int, init_path: str | None
) -> results.Result:
    cfg = RunConfig(
        run_id=run_id,
        workload=workload,
        backend=backend,
        device=plan.device,
        profile=plan.profile,
        repeat=repeat,
        seed=plan.seed,
        init=plan.init,
        init_path=init_path,
        threads=plan.threads,
        interop_threads=plan.interop_threads,
        deterministic=plan.deterministic,
        data_dir=plan.data_dir,
        epochs_override=plan.epochs_override,
        fault=(plan.fault or {}).get(f"{workload}/{backend}"),
    )
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="fwbench-") as tmp:
        cfg_path, out_path, err_path = Path(tmp, "config.json"), Path(tmp, "result.json"), Path(tmp, "stderr.txt")
        cfg_path.write_text(json.dumps(cfg.to_dict()))
        with open(err_path, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", "run", str(cfg_path), str(out_path)],
                env=worker_env(plan),
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=plan.time_limit_s)
                status = None
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                status = "timeout"
            except BaseException:  # Ctrl-C: take the worker down with us, lose nothing already saved
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        wall_s = (datetime.now(UTC) - started).total_seconds()
        stderr = err_path.read_text(errors="replace")
        if status is None and proc.returncode == 0 and out_path.exists():
            d = json.loads(out_path.read_text())
            d["wall_s"] = wall_s
            return results.Result.from_dict(d)
    if status == "timeout":
        reason = f"exceeded the time limit of {plan.time_limit_s:g} s\n{tail(stderr, 4)}".strip()
    else:
        status, reason = classify_failure(proc.returncode, stderr)
    return failed_result(plan, run_id, workload, backend, repeat, status, reason, proc.pid, wall_s, started)


def failed_result(
    plan: SuitePlan,
    run_id: str,
    workload: str,
    backend: str,
    repeat: int,
    status: str,
    reason: str,
    pid: int | None,
    wall_s: float,
    started: datetime | None = None,
) -> results.Result:
    """The record of a run that produced no measurement: its status and why."""
    wl = workloads.get(workload)
    return results.Result(
        run_id=run_id,
        workload=workload,
        backend=backend,
        framework=backends.get(backend).framework,
        device=plan.device,
        profile=plan.profile,
        repeat=repeat,
        status=status,
        reason=reason,
        pid=pid,
        started_at=(started or datetime.now(UTC)).isoformat(timespec="seconds"),
        wall_s=wall_s,
        config={"plan": plan.to_dict()},
        workload_spec=wl.to_dict(),
        dataset={},
        settings={},
        metric_name=wl.metric,
        target=wl.target,
    )


Progress = Callable[[tuple[str, str, int], results.Result | None], None]


def run_suite(
    plan: SuitePlan,
    out_dir: Path,
    command: Sequence[str],
    progress: Progress | None = None,
    resume_path: Path | None = None,
) -> Path:
    """Run every missing triple of the plan; return the suite document's path."""
    if resume_path is not None:
        suite = results.load(resume_path)
        path = resume_path
        plan = SuitePlan.from_dict(suite.plan)
    else:
        run_id = new_run_id()
        suite = results.Suite(
            run_id=run_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            command=list(command),
            plan=plan.to_dict(),
            environment=env.collect(),
            results=[],
        )
        path = results.create(out_dir, suite)
    done = {r.key() for r in suite.results}
    todo = [t for t in plan.triples() if t not in done]
    init_paths: dict[str, str | None] = {}
    init_errors: dict[str, str] = {}
    for triple in todo:
        workload, backend, repeat = triple
        if progress:
            progress(triple, None)
        if workload not in init_paths and workload not in init_errors:
            try:
                init_paths[workload] = (
                    export_init(plan, workload, out_dir, suite.run_id) if plan.init == "shared" else None
                )
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                init_errors[workload] = str(e)
        if workload in init_errors:
            result = failed_result(
                plan, suite.run_id, workload, backend, repeat, "failed", init_errors[workload], None, 0.0
            )
        else:
            result = run_one(plan, suite.run_id, workload, backend, repeat, init_paths[workload])
        suite = suite.with_result(result)
        results.save(path, suite)
        if progress:
            progress(triple, result)
    from dataclasses import replace

    results.save(path, replace(suite, finished_at=datetime.now(UTC).isoformat(timespec="seconds")))
    return path
