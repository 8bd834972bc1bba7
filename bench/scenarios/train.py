"""The "train" scenario: the workload's training budget, timed step by step (bench.measure.harness), then its
evaluation; memory, CPU use and, on a GPU, energy over the training loop."""

from __future__ import annotations

import contextlib
import os
import warnings
from datetime import UTC, datetime
from typing import Any

from bench.core import backends, flops, workloads
from bench.core.spec import PROFILES, RunConfig
from bench.machine import contention
from bench.machine.memory import NvmlSampler, peak_rss_mib, rss_mib
from bench.measure import harness, tasks
from bench.measure.run_support import collected_after, inject, load_weights, warning_lines
from bench.measure.timing import timing_fields
from bench.records import results


def measure(cfg: RunConfig) -> results.Result:
    """Scenario "train": the workload's training budget, timed step by step, then its evaluation."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_start = os.getloadavg()[0]
    info = backends.get(cfg.backend)
    wl = workloads.get(cfg.workload)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        with collected_after():
            backend = info.make(cfg.backend_options())
            rss_imports = rss_mib()
            task = tasks.make(wl, cfg.seed, cfg.data_dir, cfg.data_seed)
            rss_data = rss_mib()
            init = load_weights(cfg.init_path) if cfg.init == "shared" and cfg.init_path else None
            try:
                backend.build(wl, init)
            except NotImplementedError as e:
                return results.new_result(
                    cfg,
                    info.framework,
                    "unsupported",
                    str(e),
                    started_at,
                    os.getpid(),
                    dataset=task.describe(),
                    settings=backend.settings(),
                )
        inject(cfg.fault)
        backend.reset_peak_memory()
        epochs = cfg.epochs_override or wl.epochs_for(cfg.profile)
        with NvmlSampler() if cfg.device == "cuda" else contextlib.nullcontext() as nvml:
            m = harness.run(
                backend,
                task,
                epochs,
                PROFILES[cfg.profile].warmup_steps,
                poison_step=3 if cfg.fault == "diverge" else None,
                max_steps=cfg.steps,
                readings=(lambda: {"energy_j": e} if (e := nvml.energy_since_start_j()) is not None else {})
                if nvml is not None
                else None,
            )
        energy_j = nvml.energy_since_start_j() if nvml is not None else None
    # Memory first: the statistics below (a bootstrap over every step) are the harness's work, not training's.
    memory = memory_record(backend, rss_imports, rss_data, nvml)
    cpu = contention.usage(m.cpu_start, m.cpu_end, m.window_s, cfg.threads) if m.cpu_start and m.cpu_end else None
    status, reason = "ok", ""
    if m.diverged_at_step is not None:
        status, reason = "diverged", f"loss {m.final_loss} at step {m.diverged_at_step}"
    return results.new_result(
        cfg,
        info.framework,
        status,
        reason,
        started_at,
        os.getpid(),
        dataset=task.describe(),
        settings=backend.settings(),
        warnings=warning_lines(caught),
        metric=m.final_metrics.get(wl.metric),
        metrics=m.final_metrics,
        final_loss=m.final_loss,
        epoch_loss=m.epoch_loss,
        eval_history=m.eval_history,
        num_params=backend.num_params(),
        samples_per_step=task.samples_per_step,
        steps=m.steps,
        first_step_ms=m.first_step_ms,
        warmup_step_ms=m.warmup_step_ms,
        **timing_fields(m.step_ms, task.samples_per_step, flops.train_step_flops(wl, task.samples_per_step), cfg.seed),
        train_time_s=m.train_time_s,
        time_to_target_s=m.time_to_target_s,
        epochs_to_target=m.epochs_to_target,
        memory=memory,
        load_avg_1m=[load_start, os.getloadavg()[0]],
        settled=m.settled,
        extension_steps=m.extension_steps,
        cpu=cpu.to_dict() if cpu else {},
        energy=energy_record(energy_j, m, task.samples_per_step, cfg.device),
    )


def memory_record(backend: Any, rss_imports: float, rss_data: float, nvml: NvmlSampler | None) -> results.Memory:
    """The run's memory: the framework allocator's peak where the backend reports one (a GPU), else the peak
    RSS; the RSS after imports and after the data, and the model's share (peak - after data)."""
    peak = peak_rss_mib()
    device_mem = backend.device_memory()
    return results.Memory(
        kind="allocator_peak" if device_mem else "peak_rss",
        peak_mib=device_mem.get("allocator_peak_allocated_mib", peak) if device_mem else peak,
        peak_rss_mib=peak,
        rss_after_imports_mib=rss_imports,
        rss_after_data_mib=rss_data,
        model_share_rss_mib=peak - rss_data,
        device=device_mem,
        nvml_process_peak_mib=nvml.peak_mib if nvml is not None else None,
    )


def energy_record(energy_j: float | None, m: harness.Measurement, samples_per_step: int, device: str) -> results.Energy:
    """The GPU's energy over the training loop (NVML), per step, per sample and to the target; on a CPU, or
    without the counter, absent with the reason."""
    if energy_j is None:
        why = "no GPU energy counter on cpu" if device != "cuda" else "NVML gave no total-energy counter"
        return results.Energy(note=why)
    at_target = next((h.get("energy_j") for h in m.eval_history if h.get("epoch") == m.epochs_to_target), None)
    steps = m.steps + m.extension_steps  # every step of the window the energy was read over
    return results.Energy(
        joules=energy_j,
        per_step_j=energy_j / steps if steps else None,
        per_sample_j=energy_j / (steps * samples_per_step) if steps else None,
        to_target_j=at_target,
        window_s=m.window_s,
        note="the training loop: steps, batch making and evaluations (none with --steps), and the steps timed past "
        "the budget for the shortest steady window",
    )
