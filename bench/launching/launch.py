"""One fresh subprocess per (workload, backend, repeat), interleaved, each result saved at once.

Order: the plan's (SuitePlan.runs): for each repeat, for each workload, every backend in turn, in a seeded
order of its own in each block (A B C, C A B, ...), so that drift of a shared machine hits all backends
alike and a carry-over from one run to the next falls on none in particular. A worker that crashes, hangs past its time limit,
runs out of memory or diverges becomes a Result with that status and the reason; the suite
goes on. The suite document is rewritten atomically after every run, so nothing completed is
ever lost, and `resume` runs only the missing triples of an earlier suite (bench.planning.resume.todo_runs).
Each worker is started by bench.launching.spawn.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import REPO
from bench.core import backends
from bench.core.errors import UsageError
from bench.core.files import atomic_write_npz, atomic_write_text
from bench.core.plan import SuitePlan
from bench.core.spec import PEAK_MATMUL_N, BackendOptions, ExportInitJob, PeakJob, RunConfig, RunKey, init_weights_name
from bench.launching import spawn
from bench.machine import contention, env
from bench.planning.resume import todo_runs
from bench.planning.shard import Shard, file_name
from bench.records import results


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


INIT_CACHE_KIND = "init"


def init_key(workload: str, seed: int) -> dict[str, Any] | None:
    """What a torch twin's initial weights depend on: the workload's spec, the seed, the torch version and
    the code that builds and exports them (impls/torch/ and bench/worker.py). None for a workload that is
    not registered (the worker says why it cannot export it)."""
    from bench.core import cache, workloads

    if workload not in workloads.WORKLOADS:
        return None
    return {
        "workload": repr(workloads.get(workload)),
        "seed": seed,
        "torch": cache.version("torch"),
        "source_sha256": cache.sources_sha256([*(REPO / "impls" / "torch").glob("*.py"), REPO / "bench" / "worker.py"]),
    }


def export_inits(
    plan: SuitePlan, names: Sequence[str], out_dir: Path, run_id: str, seeds: Sequence[int] | None = None
) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int], str]]:
    """The torch twins' initial weights for `--init shared`: one .npz per (workload, seed), made once per
    suite, all in one worker process (one torch import, not one per workload), or copied from the user
    cache (bench/core/cache.py) where an equal key (init_key) was exported before; what came from the cache is
    listed in the folder's CACHED.json. Returns (paths, errors), both by (workload, seed): a workload whose
    export failed gets its runs recorded as failed with that reason. `seeds` defaults to the plan's."""
    from bench.core import cache

    seeds = list(seeds) if seeds is not None else plan.seed_values()
    if not backends.get("torch-eager").installed():
        raise UsageError(
            "--init shared takes the initial weights from the torch twin: install torch, or use --init native"
        )
    folder = out_dir / "init" / run_id
    keys = [(w, seed) for seed in seeds for w in names]
    path = {(w, seed): folder / init_weights_name(w, seed) for w, seed in keys}
    missing = [k for k in keys if not path[k].exists()]
    from_cache: dict[str, str] = {}  # file name -> the cache entry it was copied from
    keyed = {k: key for k in keys if (key := init_key(*k)) is not None}
    for k in [k for k in missing if k in keyed]:
        hit = cache.read_npz(INIT_CACHE_KIND, keyed[k])
        if hit is not None:
            atomic_write_npz(path[k], hit[0])
            from_cache[path[k].name] = str(hit[1])
            missing.remove(k)
    if from_cache:
        sources = folder / "CACHED.json"
        earlier = json.loads(sources.read_text()) if sources.exists() else {}
        atomic_write_text(sources, json.dumps({**earlier, **from_cache}, indent=1))
    failed: dict[str, str] = {}  # "workload/seed" -> why, from the worker's document
    why = ""  # how the worker ended, when it wrote no document
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        job = ExportInitJob(
            seeds=tuple(dict.fromkeys(seed for _, seed in missing)),
            workloads=tuple(dict.fromkeys(w for w, _ in missing)),
            folder=str(folder),
        )
        doc, done = spawn.run_job(job, plan)
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


def run_one(plan: SuitePlan, run_id: str, key: RunKey, init_path: str | None) -> results.Result:
    cfg = plan.run_config(run_id, key, init_path)
    started = datetime.now(UTC)
    doc, done = spawn.run_job(cfg, plan)
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
        "n": PEAK_MATMUL_N[plan.device],
    }


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
        doc, done = spawn.run_job(PeakJob(b, BackendOptions(plan.device, plan.threads, plan.interop_threads)), plan)
        # a peak that fails or hangs must not stop the suite (and is not cached)
        if doc is not None and doc.get("gflops_best"):
            cache.write_json(PEAK_CACHE_KIND, key, doc)
            out[framework] = {**doc, "measured": True}
        else:
            out[framework] = doc if doc is not None else {"backend": b, "error": done.one_line_reason()}
    return out


def with_peak(result: results.Result, peaks: dict[str, dict[str, Any]]) -> results.Result:
    """Fill in the device's measured matmul peak (the best of the frameworks' rates: one denominator for
    every run, so that shares compare across frameworks) and the run's fraction of it."""
    rates = [p["gflops_best"] for p in peaks.values() if p.get("gflops_best")]
    if not rates:
        return result
    peak = max(rates)
    fraction = result.achieved_gflops / peak if result.achieved_gflops is not None else None
    return dataclasses.replace(result, matmul_peak_gflops=peak, peak_fraction=fraction)


Progress = Callable[[RunKey, results.Result | None], None]
Notify = Callable[[str], None]  # a line for the user (the CLI prints it above the progress bar)
REDO_ROUNDS = 2  # times a contended run is queued again at the end of the suite (`fwbench run --redo-contended`)
QUIET_WAIT_S = 300.0  # how long a redo round waits for the machine to be quiet again before it gives up


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
    margin: float | None = None,
) -> Path:
    """Run every missing run of the plan; return the suite document's path (out_dir/runs/RUN_ID.json).
    `resumed`: a suite read back from out_dir (`--resume`), whose own plan `plan` is. `retry_failed`: a run
    whose every record so far failed, timed out or ran out of memory is missing too (its records stay).
    Then contended runs are redone, up to `redo_rounds` times each (redo_contended). `shard`: run only its
    part of the plan (bench.planning.shard), into out_dir/runs/RUN_ID.shard-K-of-N.json. Last, with
    `plan.max_runs`, runs are added where the answer is open (add_runs; never in a shard: a shard decides nothing),
    "the same" judged within `margin` (None: bench.core.stats.DEFAULT_MARGIN)."""
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
            cfg = plan.run_config(suite.run_id, key, None)
            result = failed_result(cfg, "failed", init_errors[workload, seed], None, 0.0)
        else:
            result = with_peak(run_one(plan, suite.run_id, key, init_paths.get((workload, seed))), peaks)
        suite = suite.with_result(result)
        results.save(path, suite)
        if progress:
            progress(key, result)
    redone = len(suite.redone)
    suite = redo_contended(plan, suite, path, out_dir, redo_rounds, progress, notify)
    made = len(suite.results)
    if plan.max_runs and shard is None:
        suite = add_runs(plan, suite, path, out_dir, margin, progress)
    # resuming a finished run with nothing to redo or add leaves its file as it is
    if todo or len(suite.redone) > redone or len(suite.results) > made or suite.finished_at is None:
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
    for round_number in range(1, rounds + 1):
        contended = [r for r in suite.results if r.ok and r.contended and r.key(plan.seed) not in given_up]
        if not contended:
            break
        say = notify or (lambda line: None)
        say(
            f"redo round {round_number} of {rounds}: {len(contended)} contended run(s); waiting for the machine to be quiet"
        )
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


def add_runs(
    plan: SuitePlan,
    suite: results.Suite,
    path: Path,
    out_dir: Path,
    margin: float | None = None,
    progress: Progress | None = None,
) -> results.Suite:
    """--max-runs: rounds of one more run a side of each open comparison (bench.launching.adaptive), each run a
    fresh worker through run_one and saved at once, until every comparison is decided, at the cap, or out of
    budget; each comparison's runs and why it stopped are saved in the suite's `adaptive` records after every
    round. Resuming continues from the runs on file."""
    from bench.core.stats import DEFAULT_MARGIN
    from bench.launching import adaptive  # scipy: imported where it is used, not by `fwbench list`

    margin = DEFAULT_MARGIN if margin is None else margin
    peaks = suite.environment.get("matmul_peak", {})
    for round_number in range(1, 2 * plan.max_runs + 1):  # a round adds a run a side: the cap ends it sooner
        records, open_ = adaptive.stop_records(suite, margin, plan.max_runs, budget_left=True)
        keys = adaptive.next_round(plan, suite, open_, round_number) if open_ else []
        if not keys:
            break
        inits: dict[tuple[str, int], str] = {}
        if plan.init == "shared":
            inits, _ = export_inits(plan, sorted({k.workload for k in keys}), out_dir, suite.run_id)
        for key in keys:
            if progress:
                progress(key, None)
            result = with_peak(run_one(plan, suite.run_id, key, inits.get((key.workload, key.seed))), peaks)
            suite = suite.with_result(result)
            results.save(path, suite)
            if progress:
                progress(key, result)
    records, _ = adaptive.stop_records(suite, margin, plan.max_runs, budget_left=False)
    suite = dataclasses.replace(suite, adaptive=records)
    results.save(path, suite)
    return suite
