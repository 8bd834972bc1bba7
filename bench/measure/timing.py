"""A run's step times as its result's timing fields: the one place they are computed, for every scenario that
trains (train, distributed, pipeline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.core import stats


def timing_fields(
    step_ms: Sequence[float], samples_per_step: int, flops_per_step: float | None, seed: int
) -> dict[str, Any]:
    """The steady-state steps and their statistics (median, mean, IQR, bootstrap 95% CI of the median, seeded
    by `seed`), the throughput (samples per step over the median step) and the achieved GFLOP/s (the
    analytic FLOPs per step over the median step), as keyword fields of bench.records.results.new_result.
    No steps: the statistics None."""
    summary = stats.summarize(step_ms, seed=seed)
    median = summary["median_step_ms"]
    return {
        "step_ms": step_ms,
        "median_step_ms": median,
        "mean_step_ms": summary["mean_step_ms"],
        "iqr_step_ms": summary["iqr_step_ms"],
        "ci95_step_ms": summary["ci95_step_ms"],
        "throughput_samples_s": samples_per_step / (median / 1e3) if median else None,
        "flops_per_step": flops_per_step,
        "achieved_gflops": flops_per_step / (median / 1e3) / 1e9 if flops_per_step and median else None,
    }
