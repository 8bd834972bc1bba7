"""One fresh subprocess per (workload, backend, repeat), interleaved, each result saved at once.

Order: for each repeat, for each workload, every backend in turn (A B C A B C ...), so that drift
of a shared machine hits all backends alike. A worker that crashes, hangs past its time limit,
runs out of memory or diverges becomes a Result with that status and the reason; the suite
goes on. The suite document is rewritten atomically after every run, so nothing completed is
ever lost, and `resume` runs only the missing triples of an earlier suite.
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from bench import REPO
from bench.core import backends
from bench.core.errors import UsageError
from bench.core.plan import SuitePlan
from bench.core.spec import BackendOptions, ExportInitJob, Job, PeakJob, RunConfig, RunKey, job_document
from bench.core.typedjson import parse_json
from bench.machine import contention, env
from bench.machine.memory import OOM_MARKERS
from bench.planning.shard import Shard, file_name
from bench.records import results

STDERR_TAIL_LINES = 12


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
        PYTHONUNBUFFERED="1",
        FWBENCH_LAUNCHER_PID=str(os.getpid()),  # the worker dies with the launcher (bench.worker.die_with_launcher)
    )
    return e


INIT_CACHE_KIND = "init"


def init_key(workload: str, seed: int) -> dict[str, Any] | None:
    """What a torch twin's initial weights depend on: the workload's spec, the seed, the torch version and
    the code that builds and exports them (impls/torch/ and bench/worker.py). None for a workload that is
    not registered (the worker says why it cannot export it)."""
    from bench.core import cache, workloads

    if workload not in workloads.WORKLOADS:
        return None
    root = REPO
    return {
        "workload": repr(workloads.get(workload)),
        "seed": seed,
        "torch": cache.version("torch"),
        "source_sha256": cache.sources_sha256([*(root / "impls" / "torch").glob("*.py"), root / "bench" / "worker.py"]),
    }


def export_inits(
    plan: SuitePlan, names: Sequence[str], out_dir: Path, run_id: str, seeds: Sequence[int] | None = None
) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int], str]]:
    """The torch twins' initial weights for `--init shared`: one .npz per (workload, seed), made once per
    suite, all in one worker process (one torch import, not one per workload), or copied from the user
    cache (bench/core/cache.py) where an equal key (init_key) was exported before; what came from the cache is
    listed in the folder's CACHED.json. Returns (paths, errors), both by (workload, seed): a workload whose
    export failed gets its runs recorded as failed with that reason. `seeds` defaults to the plan's."""
    import numpy as np  # here only: the rest of the launcher reads no arrays

    from bench.core import cache

    seeds = list(seeds) if seeds is not None else plan.seed_values()
    if not backends.get("torch-eager").installed():
        raise UsageError(
            "--init shared takes the initial weights from the torch twin: install torch, or use --init native"
        )
    folder = out_dir / "init" / run_id
    keys = [(w, seed) for seed in seeds for w in names]
    path = {(w, seed): folder / f"{w}-seed{seed}.npz" for w, seed in keys}
    missing = [k for k in keys if not path[k].exists()]
    from_cache: dict[str, str] = {}  # file name -> the cache entry it was copied from
    keyed = {k: key for k in keys if (key := init_key(*k)) is not None}
    for k in [k for k in missing if k in keyed]:
        hit = cache.read_npz(INIT_CACHE_KIND, keyed[k])
        if hit is not None:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path[k].with_suffix(".tmp.npz")
            np.savez(tmp, **hit[0])
            os.replace(tmp, path[k])
            from_cache[path[k].name] = str(hit[1])
            missing.remove(k)
    if from_cache:
        sources = folder / "CACHED.json"
        earlier = json.loads(sources.read_text()) if sources.exists() else {}
        sources.write_text(json.dumps({**earlier, **from_cache}, indent=1))
    failed: dict[str, str] = {}  # "workload/seed" -> why, from the worker's document
    why = ""  # how the worker ended, when it wrote no document
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        job = ExportInitJob(
            seeds=tuple(dict.fromkeys(seed for _, seed in missing)),
            workloads=tuple(dict.fromkeys(w for w, _ in missing)),
            folder=str(folder),
        )
        doc, done = run_job(job, plan)
        failed, why = (doc["errors"], "") if doc is not None else ({}, done.reason)
        for k in [k for k in missing if k in keyed]:
            made = cache.read_arrays(path[k])  # None: not written (its error is below) or unreadable
            if made is not None:
                cache.write_npz(INIT_CACHE_KIND, keyed[k], made)
    paths, errors = {}, {}
    for k in keys:
        w, seed = k
        if path[k].exists():
            paths[k] = str(path[k])
        else:
            reason = failed.get(f"{w}/{seed}") or why or "the worker wrote no weights and no reason"
            errors[k] = f"exporting initial weights of {w} (seed {seed}) failed: {reason}"
    return paths, errors


def one_line_reason(done: Spawned) -> str:
    return done.reason.splitlines()[0] if done.status == "timeout" else tail(done.stderr, 4)


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


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and whatever it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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


def spawn(args: Sequence[str], plan: SuitePlan, time_limit_s: float | None = None) -> Spawned:
    """Run `python -m bench.worker ARGS...` in its own session with the plan's environment: the one place
    that starts workers (run, export-init, peak, overhead). Past the time limit the worker and whatever it
    started are killed and the status is "timeout"; Ctrl-C kills them too and is re-raised."""
    limit = plan.time_limit_s if time_limit_s is None else time_limit_s
    started = datetime.now(UTC)
    with tempfile.TemporaryFile(mode="w+", prefix="fwbench-stderr-") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", *args],
            env=worker_env(plan),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            timed_out = True
        except BaseException:  # Ctrl-C: take the worker down with us, lose nothing already saved
            kill_group(proc)
            raise
        err.seek(0)
        stderr = err.read()
    wall_s = (datetime.now(UTC) - started).total_seconds()
    if timed_out:
        reason = f"exceeded the time limit of {limit:g} s\n{tail(stderr, 4)}".strip()
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
            why = f"the worker exited 0 without writing its result\n{tail(done.stderr)}".strip()
            return None, dataclasses.replace(done, status="failed", reason=why)
        try:
            return parse_json(out_path.read_text()), done
        except ValueError as e:
            why = f"the worker wrote a document this fwbench cannot read: {e}"
            return None, dataclasses.replace(done, status="failed", reason=why)


def run_config(plan: SuitePlan, run_id: str, key: RunKey, init_path: str | None) -> RunConfig:
    return RunConfig(
        run_id=run_id,
        workload=key.workload,
        backend=key.backend,
        device=plan.device,
        profile=plan.profile,
        repeat=key.repeat,
        seed=key.seed,
        data_seed=plan.seed,
        init=plan.init,
        init_path=init_path,
        threads=plan.threads,
        interop_threads=plan.interop_threads,
        deterministic=plan.deterministic,
        data_dir=plan.data_dir,
        epochs_override=plan.epochs_override,
        fault=plan.fault_for(key.workload, key.backend, key.repeat),
        scenario=key.scenario,
        precision=key.precision,
        steps=plan.steps,
        runtimes=plan.runtimes,
        keep_artifacts=plan.keep_artifacts,
        workers=key.workers,
        nodes=key.nodes,
        scaling=plan.scaling,
        time_limit_s=plan.time_limit_s,
        image_format=plan.image_format,
        image_dir=plan.image_dir,
    )


def run_one(plan: SuitePlan, run_id: str, key: RunKey, init_path: str | None) -> results.Result:
    cfg = run_config(plan, run_id, key, init_path)
    started = datetime.now(UTC)
    doc, done = run_job(cfg, plan)
    status, reason = done.status, done.reason
    if doc is not None:
        try:
            return results.Result.from_dict({**doc, "wall_s": done.wall_s})
        except (ValueError, TypeError) as e:  # a worker out of step with this launcher's schema
            status, reason = "failed", f"the worker wrote a result this fwbench cannot read: {e}"
    return failed_result(cfg, status, reason, done.pid, done.wall_s, started)


def failed_result(
    cfg: RunConfig, status: str, reason: str, pid: int | None, wall_s: float, started: datetime | None = None
) -> results.Result:
    """The record of a run that produced no measurement: its status and why."""
    return results.new_result(
        cfg,
        backends.get(cfg.backend).framework,
        status,
        reason,
        (started or datetime.now(UTC)).isoformat(timespec="seconds"),
        pid,
        wall_s=wall_s,
    )


PEAK_CACHE_KIND = "peak"


def peak_key(plan: SuitePlan, backend: str) -> dict[str, Any]:
    """What a matmul peak depends on: the machine (CPU model; the GPU on cuda), the backend that measures it
    and its packages' versions, the device and the thread counts."""
    info = backends.get(backend)
    from bench.core import cache

    return {
        "backend": backend,
        "framework": info.framework,
        "versions": {p: cache.version(p) for p in info.packages},
        "cpu_model": env.cpu_model(),
        "device": plan.device,
        "gpus": [g["name"] for g in env.gpus()] if plan.device == "cuda" else [],
        "threads": plan.threads,
        "interop_threads": plan.interop_threads,
        "n": PEAK_N[plan.device],
    }


PEAK_N = {"cpu": 1024, "cuda": 4096}  # the matmul's size, as bench.worker.matmul_peak makes it


def measure_peaks(plan: SuitePlan) -> dict[str, dict[str, Any]]:
    """Each framework's float32 matmul rate, measured in its own process (worker `peak`), or taken from the
    user cache (bench/core/cache.py) where it was measured before with an equal key (peak_key). Each entry says
    where it came from: "measured": true, or "cached_from" (the entry's path) and "measured_at" (when)."""
    from bench.core import cache

    out: dict[str, dict[str, Any]] = {}
    for b in plan.backends:
        framework = backends.get(b).framework
        if framework in out:
            continue
        key = peak_key(plan, b)
        hit = cache.read_json(PEAK_CACHE_KIND, key)
        if hit is not None and hit[0]["value"].get("gflops_best"):
            doc, where = hit
            out[framework] = {**doc["value"], "cached_from": str(where), "measured_at": doc.get("stored_at")}
            continue
        doc, done = run_job(PeakJob(b, BackendOptions(plan.device, plan.threads, plan.interop_threads)), plan)
        # a peak that fails or hangs must not stop the suite (and is not cached)
        if doc is not None and doc.get("gflops_best"):
            cache.write_json(PEAK_CACHE_KIND, key, doc)
            out[framework] = {**doc, "measured": True}
        else:
            out[framework] = doc if doc is not None else {"backend": b, "error": one_line_reason(done)}
    return out


def with_peak(r: results.Result, peaks: dict[str, dict[str, Any]]) -> results.Result:
    """Fill in the device's measured matmul peak (the best of the frameworks' rates: one denominator for
    every run, so that shares compare across frameworks) and the run's fraction of it."""
    rates = [p["gflops_best"] for p in peaks.values() if p.get("gflops_best")]
    if not rates:
        return r
    peak = max(rates)
    fraction = r.achieved_gflops / peak if r.achieved_gflops is not None else None
    return dataclasses.replace(r, matmul_peak_gflops=peak, peak_fraction=fraction)


Progress = Callable[[RunKey, results.Result | None], None]
Notify = Callable[[str], None]  # a line for the user (the CLI prints it above the progress bar)
REDO_ROUNDS = 2  # times a contended run is queued again at the end of the suite (`fwbench run --redo-contended`)
QUIET_WAIT_S = 300.0  # how long a redo round waits for the machine to be quiet again before it gives up
RETRIED = ("failed", "timeout", "oom")  # what --retry-failed redoes (not diverged or unsupported: those are answers)


def todo_runs(
    plan: SuitePlan, suite: results.Suite | None, retry_failed: bool = False, shard: Shard | None = None
) -> list[RunKey]:
    """The plan's runs (a shard's part of them) that the suite has no record of (with `retry_failed`: none
    but failures)."""
    skip = RETRIED if retry_failed else ()
    done = {r.key(plan.seed) for r in suite.results if r.status not in skip} if suite else set()
    return [k for k in (shard.part(plan.runs()) if shard else plan.runs()) if k not in done]


def run_suite(
    plan: SuitePlan,
    out_dir: Path,
    command: Sequence[str],
    progress: Progress | None = None,
    resumed: results.Suite | None = None,
    run_id: str | None = None,
    retry_failed: bool = False,
    redo_rounds: int = REDO_ROUNDS,
    notify: Notify | None = None,
    shard: Shard | None = None,
) -> Path:
    """Run every missing run of the plan; return the suite document's path (out_dir/runs/RUN_ID.json).
    `resumed`: a suite read back from out_dir (`--resume`), whose own plan `plan` is. `retry_failed`: a run
    whose every record so far failed, timed out or ran out of memory is missing too (its records stay).
    Then contended runs are redone, up to `redo_rounds` times each (redo_contended). `shard`: run only its
    part of the plan (bench.planning.shard), into out_dir/runs/RUN_ID.shard-K-of-N.json."""
    plan.check_registered()
    if resumed is not None:
        suite, path = resumed, out_dir / "runs" / file_name(resumed.run_id, shard)
    else:
        run_id = run_id or new_run_id()
        suite = results.Suite(
            run_id=run_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            command=list(command),
            plan=plan,
            environment={**env.collect(), "matmul_peak": measure_peaks(plan)},
            results=[],
            shard=str(shard) if shard else None,
        )
        path = results.create(out_dir, suite, file_name(run_id, shard))
    peaks = suite.environment.get("matmul_peak", {})
    todo = todo_runs(plan, suite, retry_failed, shard)
    init_paths: dict[tuple[str, int], str] = {}
    init_errors: dict[tuple[str, int], str] = {}
    if plan.init == "shared" and todo:
        names = list(dict.fromkeys(k.workload for k in todo))
        init_paths, init_errors = export_inits(plan, names, out_dir, suite.run_id, sorted({k.seed for k in todo}))
    for key in todo:
        workload, seed = key.workload, key.seed
        if progress:
            progress(key, None)
        if (workload, seed) in init_errors:
            cfg = run_config(plan, suite.run_id, key, None)
            result = failed_result(cfg, "failed", init_errors[workload, seed], None, 0.0)
        else:
            result = with_peak(run_one(plan, suite.run_id, key, init_paths.get((workload, seed))), peaks)
        suite = suite.with_result(result)
        results.save(path, suite)
        if progress:
            progress(key, result)
    redone = len(suite.redone)
    suite = redo_contended(plan, suite, path, out_dir, redo_rounds, progress, notify)
    # resuming a finished run with nothing to redo leaves its file as it is
    if todo or len(suite.redone) > redone or suite.finished_at is None:
        results.save(path, dataclasses.replace(suite, finished_at=datetime.now(UTC).isoformat(timespec="seconds")))
    return path


def redo_contended(
    plan: SuitePlan,
    suite: results.Suite,
    path: Path,
    out_dir: Path,
    rounds: int,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> results.Suite:
    """Repair instead of void: run each contended run of the suite again at its end, once the machine is
    quiet (bench.machine.contention.wait_until_quiet), up to `rounds` times. The new record takes the old one's place
    in `results`; the old one is kept in `redone` (a redo that fails is kept there instead, and the contended
    record stays: its accuracy is still an answer). A round whose wait for quiet times out is not run (its
    runs stay contended, said through `notify`). Each redo is saved at once, like every run."""
    peaks = suite.environment.get("matmul_peak", {})
    given_up: set[RunKey] = set()  # a redo that did not end ok: the contended record stays, the redo is kept
    for n in range(1, rounds + 1):
        contended = [r for r in suite.results if r.ok and r.contended and r.key(plan.seed) not in given_up]
        if not contended:
            break
        say = notify or (lambda line: None)
        say(f"redo round {n} of {rounds}: {len(contended)} contended run(s); waiting for the machine to be quiet")
        quiet, waited_s = contention.wait_until_quiet(plan.threads, QUIET_WAIT_S)
        if not quiet:
            say(f"the machine stayed busy for {waited_s:.0f} s: {len(contended)} run(s) left contended")
            break
        inits: dict[tuple[str, int], str] = {}
        if plan.init == "shared":
            inits, _ = export_inits(plan, sorted({r.workload for r in contended}), out_dir, suite.run_id)
        for old in contended:
            key = old.key(plan.seed)
            if progress:
                progress(key, None)
            new = with_peak(run_one(plan, suite.run_id, key, inits.get((key.workload, key.seed))), peaks)
            if new.ok:
                suite = suite.with_redo(old, new)
            else:
                suite = dataclasses.replace(suite, redone=[*suite.redone, new])
                given_up.add(key)
            results.save(path, suite)
            if progress:
                progress(key, new)
    return suite
