"""The "infer" scenario (docs/METHODOLOGY.md, "Inference and deployment").

A worker trains the workload (its profile's budget, as a train run does; bench.measure.prediction.train_first),
then times the backend's own inference path (`Backend.infer_fn`: eval mode, torch.inference_mode or a
compiled tf.function / jax.jit predict): latency at batch 1 and throughput at batch 1, 8, 64 and the largest
batch within the memory budget.

A decoder workload (a twin module with `generator`) is also measured generating, as users run it: each
library's own greedy generate with its KV cache at batch 1 and 8 (bench/measure/generation.py: time to first
token, time per output token, tokens/s, the cache's size, the generated ids and their margins); its timed
calls (step_ms, the verdict rule's) are then batch 1's whole generate calls, and samples_per_step the new ids.

Every call takes a numpy batch and returns numpy float32 (the request a server gets and the answer it sends),
as every exported runtime's does (bench/scenarios/export.py), so that the same clock measures the same work in
each. This module imports neither torch nor tensorflow; the adapters do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.core import workloads
from bench.core.spec import RunConfig
from bench.interfaces.export_spec import Predict, exception_line
from bench.machine.memory import OOM_MARKERS, peak_rss_mib
from bench.measure import generation, harness
from bench.measure.prediction import (
    LATENCY_CALLS,
    Trained,
    grade,
    latency,
    memory_record,
    predict_all,
    reference,
    throughput,
    train_first,
)
from bench.records import results

THROUGHPUT_BATCHES = (1, 8, 64)
MAX_BATCH_CAP = {"cpu": 1024, "cuda": 65536}  # the largest batch the infer scenario tries, by device
MEMORY_BUDGET_MIB = 2048.0  # what the largest batch may add to the process's peak memory


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
            return (*best, f"batch {b}: {exception_line(e)}")
        if memory_mib() - base > MEMORY_BUDGET_MIB:
            return (*best, f"batch {b} went past the memory budget of {MEMORY_BUDGET_MIB:g} MiB")
        best = (b, rate)
        b *= 2
    return (*best, f"reached the cap of {cap} for {'a GPU' if cap > 4096 else 'a CPU'}")


def decoder_generation(t: Trained, cfg: RunConfig, model_kwargs: Any) -> list[results.Generation]:
    """A decoder's greedy generation at each batch size (bench/measure/generation.py), through its twin module's
    `generator`; [] for a workload whose twin has none."""
    make = getattr(getattr(t.backend, "mod", None), "generator", None)
    if make is None:
        return []
    # A backend that trains a copy of the variables (Keras on JAX: stateless steps) writes it back first, so
    # that the library's own generate reads the trained weights (a stale copy shows as forward_agrees < 1)
    write_back = getattr(t.backend, "write_state", None)
    if write_back is not None:
        write_back()
    generate, implementation = make(t.backend.parts, cfg.backend)
    return generation.measure(generate, t.backend.predict, t.task.inference_inputs(), model_kwargs, implementation)


def measure(cfg: RunConfig) -> results.Result:
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
    with harness.cpu_window(cfg.threads) as cpu:  # the timed calls' contention: the verdict's evidence
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
    timed = {
        "samples_per_step": 1,
        "steps": lat.calls,
        "step_ms": lat.samples_ms,
        "median_step_ms": lat.p50_ms,
        "mean_step_ms": lat.mean_ms,
        "ci95_step_ms": lat.ci95_p50_ms,
        "throughput_samples_s": rates["1"],
    }
    with harness.cpu_window(cfg.threads) as gen_cpu:
        gen = decoder_generation(t, cfg, wl.model_kwargs)
    if gen:  # a decoder: the timed calls are batch 1's whole generate (new_tokens ids a call), and their CPU
        cpu = gen_cpu
        first = gen[0]
        timed = {
            "samples_per_step": first.new_tokens,
            "steps": len(first.total_ms),
            "step_ms": first.total_ms,
            "median_step_ms": first.total_p50_ms,
            "mean_step_ms": float(np.mean(first.total_ms)),
            "ci95_step_ms": None,
            "throughput_samples_s": first.tokens_s,
        }
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
        **timed,
        generation=gen,
        memory=memory_record(),
        deployment=[dep],
        cpu=cpu,
        **t.measured,
    )
