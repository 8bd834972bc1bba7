"""The "distributed" scenario: data-parallel training of one cell on each framework's own engine.

The coordinator (`measure`), run by an fwbench worker: it checks that the cell can run, launches
`cfg.nodes` x `cfg.workers` ranks (torch: a `torchrun` per node starting `impls.torch.distributed`, DDP;
Keras on TensorFlow: one `impls.keras.distributed` process per rank with its own TF_CONFIG,
MultiWorkerMirroredStrategy; bench/scenarios/distributed_launch.py), watches every rank, kills the whole
group when one fails or the deadline passes, and combines the ranks' JSON files into one `Result`. The
rank side (bench.measure.rank_training: the same data sharding, update-equality check, fault injection and
timing loop in both frameworks) is imported by the rank programs, which bring their framework's engine
(bench.interfaces.ranks.RankEngine). Framework-neutral: no torch, no tensorflow here.

Nodes: `workers` is the processes per node, and the world is `nodes * workers` ranks; node i holds the
global ranks i*workers .. (i+1)*workers - 1. Every node runs on this host, over loopback (127.0.0.1, a
port each): torch starts one torchrun per node, `--nnodes N --node-rank i --nproc-per-node W` with the
static rendezvous on node 0's 127.0.0.1 port (torchrun honours --node-rank only there: its c10d rendezvous
orders the nodes by host name and pid, which would not fix which ranks a node holds); Keras starts each
node's W processes from that node's turn of the launch loop, every one with the TF_CONFIG listing all N*W
workers, node by node. The launcher string of the record says which. On real hosts the same commands run
one per host, as `launch_torch` and `launch_keras` build them for node i: torch, on host i,
`python -m torch.distributed.run --nnodes N --node-rank i --nproc-per-node W --master-addr HOST0
--master-port PORT -m impls.torch.distributed RANK_JOB.json`; Keras, on host i, W processes
`python -m impls.keras.distributed RANK_JOB.json` each with TF_CONFIG listing every host's workers
(HOST:PORT) and its global index; RANK_JOB.json's `out_dir` a folder every host shares (the ranks write
rank<r>.json there for `combine`). fwbench itself starts every node here: the loopback path is the one
it runs and tests. Sharding and the update check: bench/measure/rank_training.py.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import backends, flops, workloads
from bench.core.spec import PROFILES, RunConfig
from bench.core.typedjson import atomic_write_json, parse_json
from bench.interfaces.ranks import FAULTS, UPDATE_RULE, UPDATE_TOL, RankJob, deadline_s, world_size
from bench.measure import harness
from bench.measure.timing import timing_fields
from bench.records import results
from bench.scenarios.distributed_launch import LAUNCH, LOOPBACK, RANK_PROGRAMS, kill_group, rank_env, tail, watch

# The engine each backend with a distributed path trains on (as distributed_launch.RANK_PROGRAMS).
ENGINES: Mapping[str, str] = {
    "torch-eager": "torch DistributedDataParallel",
    "keras": "tf.distribute.MultiWorkerMirroredStrategy",
}


def launcher(cfg: RunConfig) -> str:
    """What starts the cell's ranks, in words (the record's `launcher`)."""
    n, w = cfg.nodes, cfg.workers
    if cfg.backend == "torch-eager":
        if n == 1:
            return f"torchrun (torch.distributed.run, static rendezvous on {LOOPBACK})"
        return (
            f"{n} torchrun launchers, one per node (torch.distributed.run --nnodes {n} --node-rank i "
            f"--nproc-per-node {w}, static rendezvous on node 0's {LOOPBACK} port)"
        )
    if cfg.backend == "keras":
        if n == 1:
            return f"one process per rank, each with its own TF_CONFIG ({LOOPBACK} ports)"
        return (
            f"one process per rank, {n} nodes of {w} started node by node, each with its own TF_CONFIG "
            f"listing all {n * w} workers ({LOOPBACK} ports)"
        )
    return ""


def threads_per_worker(cfg: RunConfig) -> int:
    """The cell's thread budget split between its ranks (at least one each)."""
    return max(1, cfg.threads // world_size(cfg))


def visible_gpus() -> int:
    """GPUs this process may use, without importing a framework: CUDA_VISIBLE_DEVICES, else NVML."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip()]
        return 0 if ids and ids[0].strip() == "-1" else len(ids)
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:  # no library, no driver: no GPU to use
        return 0


def unsupported_reason(cfg: RunConfig) -> str | None:
    """Why this cell cannot run distributed here (one line), or None."""
    wl = workloads.get(cfg.workload)
    if cfg.backend not in RANK_PROGRAMS:
        return (
            f"backend {cfg.backend!r} has no distributed path; the backends with one are "
            f"{', '.join(RANK_PROGRAMS)} (torch DDP, Keras on TensorFlow under MultiWorkerMirroredStrategy)"
        )
    if wl.task != "classify":
        return f"the distributed scenario trains classification workloads only; {wl.name} is a {wl.task!r} task"
    if cfg.precision != "fp32":
        return f"the distributed scenario runs in fp32 only, not {cfg.precision}"
    if cfg.fault is not None and cfg.fault not in FAULTS:
        return f"fault {cfg.fault!r} is not one of the distributed scenario's: {', '.join(FAULTS)}"
    world = world_size(cfg)
    ranks = (
        f"{cfg.workers} workers"
        if cfg.nodes == 1
        else f"{cfg.nodes} nodes x {cfg.workers} worker{'s' * (cfg.workers > 1)}"
    )
    if cfg.scaling == "strong" and wl.batch_size % world:
        return (
            f"strong scaling splits the global batch of {wl.batch_size} ({wl.name}) over the workers: "
            f"{ranks} do not divide it"
        )
    if cfg.device == "cuda":
        gpus = visible_gpus()
        if world > gpus:
            return f"{ranks} need one GPU each; {gpus} visible"
    elif world > (os.cpu_count() or 1):
        here = "" if cfg.nodes == 1 else " (every node runs on it)"
        return f"{ranks} are more processes than this host's {os.cpu_count()} CPUs{here}"
    return None


def measure(cfg: RunConfig) -> results.Result:
    """Scenario "distributed": `cfg.nodes` x `cfg.workers` ranks of the backend's engine train the workload;
    one Result."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    load_start = os.getloadavg()[0]
    framework = backends.get(cfg.backend).framework
    threads, interop = threads_per_worker(cfg), max(1, cfg.interop_threads // world_size(cfg))
    base = distributed_record(cfg, threads)
    reason = unsupported_reason(cfg)
    if reason:
        return results.new_result(cfg, framework, "unsupported", reason, started_at, os.getpid(), distributed=base)
    out = Path(tempfile.mkdtemp(prefix=f"fwbench-dist-{cfg.run_id}-"))
    try:
        job_path = out / "rank-job.json"
        atomic_write_json(job_path, RankJob(cfg, threads, interop, str(out)).to_dict())
        group = LAUNCH[cfg.backend](cfg, job_path, out, rank_env(threads, interop))
        try:
            ended = watch(group, cfg, out, t0, deadline_s(cfg))
        finally:  # a failure, the deadline, or Ctrl-C: nothing of the group outlives the cell
            kill_group(group, out)
        base = dataclasses.replace(
            base,
            settings={**base.settings, "ports": list(group.ports), "cell_dir_prefix": f"fwbench-dist-{cfg.run_id}"},
        )
        if ended.status != "ok":
            rec = dataclasses.replace(base, failed_rank=ended.failed_rank)
            return results.new_result(
                cfg, framework, ended.status, ended.reason, started_at, os.getpid(), distributed=rec
            )
        missing = [r for r in range(world_size(cfg)) if not (out / f"rank{r}.json").exists()]
        if missing:
            why = f"rank {missing[0]} exited 0 without writing its result\n{tail(out / f'rank{missing[0]}.stderr')}"
            rec = dataclasses.replace(base, failed_rank=missing[0])
            return results.new_result(cfg, framework, "failed", why.strip(), started_at, os.getpid(), distributed=rec)
        docs = [parse_json((out / f"rank{r}.json").read_text()) for r in range(world_size(cfg))]
        return combine(cfg, framework, started_at, docs, base, load_start)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def distributed_record(cfg: RunConfig, threads: int) -> results.Distributed:
    return results.Distributed(
        workers=cfg.workers,
        nodes=cfg.nodes,
        scaling=cfg.scaling,
        engine=ENGINES.get(cfg.backend, ""),
        launcher=launcher(cfg),
        threads_per_worker=threads,
    )


def slowest_steps(docs: Sequence[Mapping[str, Any]]) -> list[float]:
    """Each step's time as the slowest rank's (a data-parallel step ends when its last rank does)."""
    n = min(len(d["step_ms"]) for d in docs)
    if n == 0:
        return []
    return [float(v) for v in np.max(np.array([d["step_ms"][:n] for d in docs], dtype=np.float64), axis=0)]


def combined_record(
    cfg: RunConfig, docs: Sequence[Mapping[str, Any]], base: results.Distributed, settings: dict[str, Any]
) -> results.Distributed:
    """The run's distributed record from the ranks' files: per-rank figures, the update check, the rules the
    combined figures follow. Takes the engine's own figures out of `settings` (rank 0's)."""
    r0 = docs[0]
    peaks = [float(d["peak_rss_mib"]) for d in docs]
    engine_note = settings.pop("allreduce_share_note", "")
    allreduce_share = settings.pop("allreduce_share", None)
    check = {k: r0.get(k) for k in ("update_max_abs_diff", "update_tol", "update_ok")}
    return dataclasses.replace(
        base,
        per_worker_batch=int(r0["per_worker_batch"]),
        global_batch=int(r0["global_batch"]),
        engine=settings.pop("engine", base.engine),
        rank_median_step_ms=[float(np.median(d["step_ms"][1:] or d["step_ms"] or [math.nan])) for d in docs],
        rank_peak_rss_mib=peaks,
        allreduce_share=allreduce_share,
        settings={
            **base.settings,
            **check,
            "update_rule": UPDATE_RULE,
            "allreduce_share_note": engine_note,
            "global_batch_capped": bool(r0["global_batch_capped"]),
            "step_rule": "each step's time is the slowest rank's at that step (elementwise max over ranks)",
            "memory_rule": "memory.peak_mib: the largest rank's peak RSS; total_peak_rss_mib: their sum",
            "total_peak_rss_mib": sum(peaks),
            "fault": cfg.fault,
        },
    )


def combined_status(cfg: RunConfig, docs: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """ "failed" when the update-equality check failed, "diverged" when a rank's loss did, else "ok"; with why."""
    r0 = docs[0]
    if not r0.get("update_ok"):
        return "failed", (
            f"update-equality check failed: {world_size(cfg)} ranks vs one process on the same global batch differ by "
            f"{r0.get('update_max_abs_diff'):.3g} > tolerance {UPDATE_TOL:g} (max abs weight difference after one step)"
        )
    if any(d.get("diverged_at_step") is not None for d in docs):
        return "diverged", f"loss {r0['final_loss']} at step {r0.get('diverged_at_step')}"
    return "ok", ""


def combine(
    cfg: RunConfig,
    framework: str,
    started_at: str,
    docs: Sequence[Mapping[str, Any]],
    base: results.Distributed,
    load_start: float,
) -> results.Result:
    """The ranks' files as one Result: the elementwise-max step times split into first, warm-up and steady
    state by the harness's rule, rank 0's evaluation, every rank's median and peak RSS."""
    r0 = docs[0]
    wl = workloads.get(cfg.workload)
    steps = slowest_steps(docs)
    first, rest = (steps[0], steps[1:]) if steps else (None, [])
    k, settled = harness.settle_index(rest, PROFILES[cfg.profile].warmup_steps)
    global_batch = int(r0["global_batch"])
    settings = dict(r0["settings"])
    rec = combined_record(cfg, docs, base, settings)
    status, reason = combined_status(cfg, docs)
    peak = max(rec.rank_peak_rss_mib)
    memory = results.Memory(
        kind="peak_rss",
        peak_mib=peak,
        peak_rss_mib=peak,
        rss_after_imports_mib=float(r0["rss_after_imports_mib"]),
        rss_after_data_mib=float(r0["rss_after_data_mib"]),
        model_share_rss_mib=peak - float(r0["rss_after_data_mib"]),
        device=dict(r0.get("device_memory") or {}),
    )
    step_flops = flops.train_step_flops(wl, global_batch)  # the whole global batch: all ranks' work per step
    return results.new_result(
        cfg,
        framework,
        status,
        reason,
        started_at,
        os.getpid(),
        dataset=r0.get("dataset", {}),
        settings={**settings, "threads_per_worker": base.threads_per_worker},
        metric=(r0.get("metrics") or {}).get(wl.metric),
        metrics=r0.get("metrics") or {},
        final_loss=r0.get("final_loss"),
        epoch_loss=r0.get("epoch_loss") or [],
        eval_history=r0.get("eval_history") or [],
        num_params=r0.get("num_params"),
        samples_per_step=global_batch,
        steps=int(r0["steps"]),
        first_step_ms=first,
        warmup_step_ms=rest[:k],
        **timing_fields(rest[k:], global_batch, step_flops, cfg.seed),
        train_time_s=float(r0["train_time_s"]),
        time_to_target_s=r0.get("time_to_target_s"),
        epochs_to_target=r0.get("epochs_to_target"),
        memory=memory,
        load_avg_1m=[load_start, os.getloadavg()[0]],
        settled=settled,
        distributed=rec,
    )
