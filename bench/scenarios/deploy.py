"""The infer and export scenarios (docs/METHODOLOGY.md, "Inference and deployment").

A worker trains the workload (its profile's budget, as a train run does), then:
- "infer": times the backend's own inference path (`Backend.infer_fn`: eval mode, torch.inference_mode or a
  compiled tf.function / jax.jit predict): latency at batch 1 and throughput at batch 1, 8, 64 and the
  largest batch within the memory budget;
- "export": for each export path of the framework (`Backend.export_paths`, impls/<framework>/export.py):
  exports the trained model into the run's private temporary folder, loads it in its runtime, checks its
  outputs against the framework's own predict over the inference set, grades them, and times latency at
  batch 1 and throughput at batch 64. A path that cannot export or load is recorded `unsupported`
  (NotImplementedError: the toolchain says it cannot) or `failed` (anything else), and the next one goes on.

Every call of every runtime takes a numpy batch and returns numpy float32 (the request a server gets and
the answer it sends), so that the same clock (bench.measure.harness.time_calls) measures the same work in each.
This module imports neither torch nor tensorflow; the adapters do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import backends, workloads
from bench.core.spec import EXPORT_RUNTIMES, PROFILES, RunConfig
from bench.core.stats import percentiles
from bench.machine.memory import OOM_MARKERS, peak_rss_mib
from bench.measure import harness, tasks
from bench.records import results
from bench.worker import inject, load_weights

Predict = Callable[[np.ndarray], np.ndarray]  # numpy batch -> float32 numpy outputs, work done on return


@dataclass(frozen=True)
class ExportPath:
    """One export path of a framework: how its artifact is written and how its runtime loads it.

    `export(folder, sample)` writes the artifact into `folder` (empty, private to the run) from the
    trained model, tracing with `sample` (a batch of inference inputs, more than one row) where it must,
    and returns the artifact's main file; every file in `folder` counts in its size. `load(path)` returns
    a Predict that accepts any batch size. Either raises NotImplementedError(reason) when the toolchain
    cannot do it here (recorded `unsupported`); any other exception is recorded `failed`.
    """

    name: str  # one of bench.core.spec.EXPORT_RUNTIMES[framework]
    description: str  # "torch.jit.trace + torch.jit.save, loaded with torch.jit.load"
    engine: str  # what executes the artifact, with its version: "onnxruntime 1.32.0"
    export: Callable[[Path, np.ndarray], Path]
    load: Callable[[Path], Predict]
    quantized: bool = False  # post-training dynamic-range int8: graded on accuracy, not on max diff
    settings: dict[str, Any] = field(default_factory=dict)  # opset, session options, converter flags ...


LATENCY_CALLS = {"quick": 200, "standard": 1000}  # timed batch-1 calls per runtime, by profile
WARMUP_CALLS = 20  # untimed calls first: tracing, compilation, allocator and cache warm-up
THROUGHPUT_BATCHES = (1, 8, 64)
THROUGHPUT_MIN_S = 0.3  # each throughput figure: calls until this much time has passed ...
THROUGHPUT_MIN_CALLS = 5  # ... and at least this many calls; the median call time counts
EXPORT_THROUGHPUT_BATCH = 64
MAX_BATCH_CAP = {"cpu": 1024, "cuda": 65536}  # the largest batch the infer scenario tries, by device
MEMORY_BUDGET_MIB = 2048.0  # what the largest batch may add to the process's peak memory
GRADE_CHUNK = 256  # rows per call when a runtime predicts the whole inference set


@dataclass(frozen=True)
class PredictOnly:
    """A runtime's predict where a task wants a backend: tasks grade through `backend.predict` only."""

    predict: Predict


def rows(inputs: np.ndarray, n: int) -> np.ndarray:
    """A batch of n rows from the inference inputs, wrapping around (large batches of a small test set)."""
    return np.ascontiguousarray(inputs[np.arange(n) % len(inputs)])


def predict_all(predict: Predict, inputs: np.ndarray) -> np.ndarray:
    return np.concatenate([predict(inputs[i : i + GRADE_CHUNK]) for i in range(0, len(inputs), GRADE_CHUNK)])


def latency(predict: Predict, inputs: np.ndarray, calls: int, seed: int) -> results.Latency:
    """Batch-1 latency: WARMUP_CALLS untimed calls, then `calls` timed ones, cycling through the inputs'
    rows (each call a fresh request, not one cached array)."""
    singles = [np.ascontiguousarray(inputs[i : i + 1]) for i in range(min(len(inputs), 64))]
    harness.time_each(lambda i: predict(singles[i % len(singles)]), range(WARMUP_CALLS))
    samples = harness.time_each(lambda i: predict(singles[i % len(singles)]), range(calls))
    return latency_record(samples, batch=1, seed=seed)


def latency_record(samples_ms: list[float], batch: int, seed: int) -> results.Latency:
    return results.Latency(batch=batch, calls=len(samples_ms), samples_ms=samples_ms, **percentiles(samples_ms, seed))


def throughput(predict: Predict, inputs: np.ndarray, batch: int) -> float:
    """Samples per second at `batch`: two untimed calls, then calls until THROUGHPUT_MIN_S and
    THROUGHPUT_MIN_CALLS are both reached; batch / the median call time."""
    x = rows(inputs, batch)
    harness.time_calls(lambda: predict(x), 2)
    times: list[float] = []
    while len(times) < THROUGHPUT_MIN_CALLS or sum(times) < THROUGHPUT_MIN_S * 1e3:
        times += harness.time_calls(lambda: predict(x), 1)
    return batch / (float(np.median(times)) / 1e3)


def max_batch(
    predict: Predict, inputs: np.ndarray, cap: int, memory_mib: Callable[[], float], start: int
) -> tuple[int | None, float | None, str]:
    """The largest batch (doubling from 2*start up to `cap`) that runs and keeps the process's peak memory
    within MEMORY_BUDGET_MIB of where it was before the search; its throughput, and why the search stopped."""
    base = memory_mib()
    best: tuple[int | None, float | None] = (None, None)
    b = start * 2
    while b <= cap:
        try:
            rate = throughput(predict, inputs, b)
        except Exception as e:  # the device's out-of-memory error ends the search; anything else is a bug
            if not any(m in f"{type(e).__name__}: {e}" for m in OOM_MARKERS):
                raise
            return (*best, f"batch {b}: {one_line(e)}")
        if memory_mib() - base > MEMORY_BUDGET_MIB:
            return (*best, f"batch {b} went past the memory budget of {MEMORY_BUDGET_MIB:g} MiB")
        best = (b, rate)
        b *= 2
    return (*best, f"reached the cap of {cap} for {'a GPU' if cap > 4096 else 'a CPU'}")


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def grade(task: tasks.Task, predict: Predict, metric: str) -> float | None:
    return task.evaluate(PredictOnly(predict)).get(metric)  # type: ignore[arg-type]


def folder_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def truncate(path: Path) -> None:
    """Fault "truncate-artifact": cut the artifact (its largest file, for a folder) to half its bytes, as a
    disk-full write or an interrupted copy leaves it."""
    target = max((f for f in path.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size) if path.is_dir() else path
    size = target.stat().st_size
    with target.open("r+b") as f:
        f.truncate(size // 2)


@dataclass(frozen=True)
class Reference:
    """What every runtime is checked against: the framework's own predict after training."""

    inputs: np.ndarray
    outputs: np.ndarray
    metric: float | None
    metric_name: str


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
        status, reason = "unsupported", f"{stage}: {one_line(e)}"
    except Exception as e:  # recorded; the next runtime goes on
        status, reason = "failed", f"{stage}: {one_line(e)}"
    else:
        status, reason = "ok", ""
    # the path's settings grow as it runs (exporter warnings, the session's options): read them last
    return results.Deployment(**base, **done, status=status, reason=reason, settings=dict(path.settings))


@dataclass
class Trained:
    """A backend after the workload's training budget, with its task and what training measured."""

    backend: Any
    task: tasks.Task
    info: backends.BackendInfo
    measured: dict[str, Any]
    warnings: list[str]


def train_first(cfg: RunConfig, started_at: str) -> Trained | results.Result:
    """Build and train as a train run does (its budget: --epochs, --steps or the profile's), untimed here;
    or the run's `unsupported` Result when the backend cannot build this workload."""
    info = backends.get(cfg.backend)
    wl = workloads.get(cfg.workload)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        backend = info.make(cfg.backend_options())
        task = tasks.make(wl, cfg.seed, cfg.data_dir, cfg.data_seed)
        init = load_weights(cfg.init_path) if cfg.init == "shared" and cfg.init_path else None
        try:
            backend.build(wl, init)
        except NotImplementedError as e:
            return results.new_result(
                cfg, info.framework, "unsupported", str(e), started_at, os.getpid(), dataset=task.describe()
            )
        inject(cfg.fault)  # the isolation tests' faults; "truncate-artifact" acts in export_one
        epochs = cfg.epochs_override or wl.epochs_for(cfg.profile)
        m = harness.run(backend, task, epochs, PROFILES[cfg.profile].warmup_steps, max_steps=cfg.steps)
    measured = {
        "dataset": task.describe(),
        "final_loss": m.final_loss,
        "epoch_loss": m.epoch_loss,
        "eval_history": m.eval_history,
        "train_time_s": m.train_time_s,
        "num_params": backend.num_params(),
    }
    seen = list(dict.fromkeys(f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}" for w in caught))
    return Trained(backend, task, info, measured, seen[:20])


def reference(t: Trained, metric: str) -> Reference:
    inputs = t.task.inference_inputs()
    return Reference(inputs, predict_all(t.backend.predict, inputs), grade(t.task, t.backend.predict, metric), metric)


def memory_record() -> results.Memory:
    peak = peak_rss_mib()
    return results.Memory(kind="peak_rss", peak_mib=peak, peak_rss_mib=peak)


def infer(cfg: RunConfig) -> results.Result:
    """Scenario "infer": the backend's own inference path after training (module docstring)."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t = train_first(cfg, started_at)
    if isinstance(t, results.Result):
        return t
    wl = workloads.get(cfg.workload)
    ref = reference(t, wl.metric)
    predict = t.backend.infer_fn()
    calls = LATENCY_CALLS[cfg.profile]
    out = predict_all(predict, ref.inputs)
    lat = latency(predict, ref.inputs, calls, cfg.seed)
    rates = {str(b): throughput(predict, ref.inputs, b) for b in THROUGHPUT_BATCHES}
    memory = t.backend.device_memory().get("allocator_peak_allocated_mib") if cfg.device == "cuda" else None
    mb, rate, why = max_batch(
        predict,
        ref.inputs,
        MAX_BATCH_CAP[cfg.device],
        (lambda: t.backend.device_memory().get("allocator_peak_allocated_mib", 0.0))
        if memory is not None
        else peak_rss_mib,
        THROUGHPUT_BATCHES[-1],
    )
    if mb is not None and rate is not None:
        rates[str(mb)] = rate
    dep = results.Deployment(
        runtime=cfg.backend,
        description=f"{t.info.description}: its own inference path (eval mode, no autograd)",
        framework=t.info.framework,
        engine=t.info.framework,
        max_abs_diff=float(np.max(np.abs(out - ref.outputs))),
        metric=grade(t.task, predict, wl.metric),
        native_metric=ref.metric,
        latency=lat,
        throughput_samples_s=rates,
        max_batch=mb,
        settings={"max_batch_search": why, "memory_budget_mib": MEMORY_BUDGET_MIB},
    )
    return results.new_result(
        cfg,
        t.info.framework,
        "ok",
        "",
        started_at,
        os.getpid(),
        settings=t.backend.settings(),
        warnings=t.warnings,
        metric=ref.metric,
        samples_per_step=1,
        steps=lat.calls,
        step_ms=lat.samples_ms,
        median_step_ms=lat.p50_ms,
        mean_step_ms=lat.mean_ms,
        ci95_step_ms=lat.ci95_p50_ms,
        throughput_samples_s=rates["1"],
        memory=memory_record(),
        deployment=[dep],
        **t.measured,
    )


def export(cfg: RunConfig) -> results.Result:
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
        **t.measured,
    )


def no_export_path(backend: str) -> str:
    exporters = [b.name for b in backends.BACKENDS.values() if b.exports]
    return f"backend {backend} has no export path: the export scenario runs from {', '.join(exporters)}"
