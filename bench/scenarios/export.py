"""The "export" scenario (docs/METHODOLOGY.md, "Inference and deployment").

A worker trains the workload (its profile's budget, as a train run does; bench.measure.prediction.train_first),
then, for each export path of the framework (`Backend.export_paths`, impls/<framework>/export.py, each a
bench.interfaces.export_spec.ExportPath): exports the trained model into the run's private temporary folder,
loads it in its runtime, checks its outputs against the framework's own predict over the inference set,
grades them, and times latency at batch 1 and throughput at batch 64. A path that cannot export or load is
recorded `unsupported` (NotImplementedError: the toolchain says it cannot) or `failed` (anything else), and
the next one goes on.

Every call of every runtime takes a numpy batch and returns numpy float32 (the request a server gets and
the answer it sends), so that the same clock (bench.measure.harness.time_calls) measures the same work in each.
This module imports neither torch nor tensorflow; the adapters do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import backends, workloads
from bench.core.spec import EXPORT_RUNTIMES, RunConfig
from bench.interfaces.export_spec import ExportPath, exception_line
from bench.measure import harness, tasks
from bench.measure.prediction import (
    LATENCY_CALLS,
    Reference,
    grade,
    latency,
    memory_record,
    predict_all,
    reference,
    throughput,
    train_first,
)
from bench.records import results

EXPORT_THROUGHPUT_BATCH = 64


def folder_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def truncate(path: Path) -> None:
    """Fault "truncate-artifact": cut the artifact (its largest file, for a folder) to half its bytes, as a
    disk-full write or an interrupted copy leaves it."""
    target = max((f for f in path.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size) if path.is_dir() else path
    size = target.stat().st_size
    with target.open("r+b") as f:
        f.truncate(size // 2)


def export_one(
    path: ExportPath, folder: Path, ref: Reference, task: tasks.Task, calls: int, framework: str, cfg: RunConfig
) -> results.Deployment:
    """Export, measure the artifact, load, check, grade and time one path; a failure at any stage is the
    runtime's status with the stage named, never an exception out of here."""
    base = {
        "runtime": path.name,
        "description": path.description,
        "framework": framework,
        "engine": path.engine,
        "quantized": path.quantized,
        "native_metric": ref.metric,
    }
    folder.mkdir()
    stage, done = "export", dict[str, Any]()
    try:
        t0 = harness.clock_ns()
        artifact = path.export(folder, ref.inputs[: min(len(ref.inputs), 8)])
        done.update(export_s=(harness.clock_ns() - t0) / 1e9, size_mib=folder_mib(folder))
        if cfg.fault == "truncate-artifact":
            truncate(artifact)
        stage = "load"
        t0 = harness.clock_ns()
        predict = path.load(artifact)
        done["load_s"] = (harness.clock_ns() - t0) / 1e9
        stage = "run"
        out = predict_all(predict, ref.inputs)
        if out.shape != ref.outputs.shape:
            raise ValueError(f"outputs of shape {out.shape}, the framework's predict gives {ref.outputs.shape}")
        done.update(
            max_abs_diff=float(np.max(np.abs(out - ref.outputs))),
            metric=grade(task, predict, ref.metric_name),
            latency=latency(predict, ref.inputs, calls, cfg.seed),
            throughput_samples_s={
                str(EXPORT_THROUGHPUT_BATCH): throughput(predict, ref.inputs, EXPORT_THROUGHPUT_BATCH)
            },
        )
    except NotImplementedError as e:
        status, reason = "unsupported", f"{stage}: {exception_line(e)}"
    except Exception as e:  # recorded; the next runtime goes on
        status, reason = "failed", f"{stage}: {exception_line(e)}"
    else:
        status, reason = "ok", ""
    # the path's settings grow as it runs (exporter warnings, the session's options): read them last
    return results.Deployment(**base, **done, status=status, reason=reason, settings=dict(path.settings))


def measure(cfg: RunConfig) -> results.Result:
    """Scenario "export": each export path of the framework, in the run's private temporary folder."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    info = backends.get(cfg.backend)
    if not info.exports:
        return results.new_result(
            cfg, info.framework, "unsupported", no_export_path(cfg.backend), started_at, os.getpid()
        )
    t = train_first(cfg, started_at)
    if isinstance(t, results.Result):
        return t
    wl = workloads.get(cfg.workload)
    ref = reference(t, wl.metric)
    wanted = set(cfg.runtimes or EXPORT_RUNTIMES[t.info.framework])
    paths = [p for p in t.backend.export_paths() if p.name in wanted]
    folder = Path(tempfile.mkdtemp(prefix="fwbench-export-"))  # mode 0700: this user's alone
    try:
        with harness.cpu_window(cfg.threads) as cpu:  # every export path's timed calls: the verdicts' contention
            deps = [
                export_one(p, folder / p.name, ref, t.task, LATENCY_CALLS[cfg.profile], t.info.framework, cfg)
                for p in paths
            ]
        if cfg.keep_artifacts:
            kept = Path(cfg.keep_artifacts) / cfg.run_id / f"{cfg.workload}-{cfg.backend}-seed{cfg.seed}-r{cfg.repeat}"
            shutil.copytree(folder, kept, dirs_exist_ok=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    bad = [f"{d.runtime} {d.status} ({d.reason})" for d in deps if d.status != "ok"]
    return results.new_result(
        cfg,
        t.info.framework,
        "ok",
        "; ".join(bad),
        started_at,
        os.getpid(),
        settings=t.backend.settings(),
        warnings=t.warnings,
        metric=ref.metric,
        memory=memory_record(),
        deployment=deps,
        cpu=cpu,
        **t.measured,
    )


def no_export_path(backend: str) -> str:
    exporters = [b.name for b in backends.BACKENDS.values() if b.exports]
    return f"backend {backend} has no export path: the export scenario runs from {', '.join(exporters)}"
