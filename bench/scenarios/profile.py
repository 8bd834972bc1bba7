"""The "profile" scenario (docs/METHODOLOGY.md, "Where the time goes"): a window of steady training steps under the
framework's own profiler, its ops sorted into one taxonomy of work (bench/measure/worktypes.py).

In its own worker process, as a train run: the same backend, initial weights (the suite's shared file), data and
batch order. The harness (bench.measure.harness.profile_windows) runs the first step, the profile's warm-up
steps, a window of steps without the profiler (the profiler's cost is the profiled window's median step against
this window's), then the same number of steps under the profiler that the backend's `profiler(folder)` returns
(impls/<framework>/profiling.py: torch.profiler; TensorFlow's and JAX's profilers read with XProf), writing its
files into a private temporary folder. The window is `--steps` steps, or PROFILE_WINDOW by profile. The run is
never a timed run: its result has scenario "profile", its `step_ms` are the unprofiled window's, and its
`step_profile` the kinds, the ops and both windows. This module imports no framework; the adapters do.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from datetime import UTC, datetime

from bench.core import backends, flops, workloads
from bench.core.spec import PROFILES, RunConfig
from bench.machine import contention
from bench.measure import harness, tasks, worktypes
from bench.measure.run_support import collected_after, inject, load_weights, warning_lines
from bench.measure.timing import timing_fields
from bench.records import results

PROFILE_WINDOW = {"quick": 20, "standard": 50}  # steps in each window (unprofiled, profiled) without --steps


def measure(cfg: RunConfig) -> results.Result:
    """Scenario "profile": the module docstring."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    info = backends.get(cfg.backend)
    wl = workloads.get(cfg.workload)
    window = cfg.steps or PROFILE_WINDOW[cfg.profile]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        with collected_after():
            backend = info.make(cfg.backend_options())
            task = tasks.make(wl, cfg.seed, cfg.data_dir, cfg.data_seed)
            init = load_weights(cfg.init_path) if cfg.init == "shared" and cfg.init_path else None
            reason = None
            try:
                backend.build(wl, init)
            except NotImplementedError as e:
                reason = str(e)
            make_profiler = getattr(backend, "profiler", None)
            if reason is None and make_profiler is None:
                reason = f"backend {cfg.backend!r} has no profiler (its adapter lacks `profiler(folder)`)"
            if reason is not None:
                return results.new_result(
                    cfg, info.framework, "unsupported", reason, started_at, os.getpid(),
                    dataset=task.describe(), settings=backend.settings(),
                )  # fmt: skip
        inject(cfg.fault)
        with tempfile.TemporaryDirectory(prefix="fwbench-profile-") as folder:
            profiler = make_profiler(folder)
            m = harness.profile_windows(backend, task, PROFILES[cfg.profile].warmup_steps, window, profiler)
    cpu = contention.usage(m.cpu_start, m.cpu_end, m.window_s, cfg.threads) if m.cpu_start and m.cpu_end else None
    profile = worktypes.breakdown(m.ops, profiler.rules, m.profiled_step_ms, m.unprofiled_step_ms, profiler.description)
    return results.new_result(
        cfg,
        info.framework,
        "ok",
        "",
        started_at,
        os.getpid(),
        dataset=task.describe(),
        settings=backend.settings(),
        warnings=warning_lines(caught),
        final_loss=m.final_loss,
        num_params=backend.num_params(),
        samples_per_step=task.samples_per_step,
        steps=1 + len(m.warmup_step_ms) + len(m.unprofiled_step_ms) + len(m.profiled_step_ms),
        first_step_ms=m.first_step_ms,
        warmup_step_ms=m.warmup_step_ms,
        **timing_fields(
            m.unprofiled_step_ms, task.samples_per_step, flops.train_step_flops(wl, task.samples_per_step), cfg.seed
        ),
        step_profile=profile,
        cpu=cpu.to_dict() if cpu else {},
    )
