"""A trained model's predict, measured: what the infer and export scenarios share (docs/METHODOLOGY.md,
"Inference and deployment"; bench/scenarios/infer.py, bench/scenarios/export.py).

Both first train the workload as a train run does (`train_first`, untimed), take the framework's own predict
over the inference set as the reference every runtime is checked against (`reference`), and time a Predict
(bench.interfaces.export_spec) the same way: latency at batch 1 (`latency`) and throughput at a batch
(`throughput`), on the same clock (bench.measure.harness.time_calls). This module imports neither torch nor
tensorflow; the adapters do.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core import backends, workloads
from bench.core.spec import PROFILES, RunConfig
from bench.core.stats import percentiles
from bench.interfaces.export_spec import Predict
from bench.machine.memory import peak_rss_mib
from bench.measure import harness, tasks
from bench.measure.run_support import inject, load_weights, warning_lines
from bench.records import results

LATENCY_CALLS = {"quick": 200, "standard": 1000}  # timed batch-1 calls per runtime, by profile
WARMUP_CALLS = 20  # untimed calls first: tracing, compilation, allocator and cache warm-up
THROUGHPUT_MIN_S = 0.3  # each throughput figure: calls until this much time has passed ...
THROUGHPUT_MIN_CALLS = 5  # ... and at least this many calls; the median call time counts
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


def grade(task: tasks.Task, predict: Predict, metric: str) -> float | None:
    return task.evaluate(PredictOnly(predict)).get(metric)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Reference:
    """What every runtime is checked against: the framework's own predict after training."""

    inputs: np.ndarray
    outputs: np.ndarray
    metric: float | None
    metric_name: str


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
        inject(cfg.fault)  # the isolation tests' faults; "truncate-artifact" acts in the export scenario
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
    return Trained(backend, task, info, measured, warning_lines(caught))


def reference(t: Trained, metric: str) -> Reference:
    inputs = t.task.inference_inputs()
    return Reference(inputs, predict_all(t.backend.predict, inputs), grade(t.task, t.backend.predict, metric), metric)


def memory_record() -> results.Memory:
    peak = peak_rss_mib()
    return results.Memory(kind="peak_rss", peak_mib=peak, peak_rss_mib=peak)
