"""Statistics over raw step times: median, IQR, bootstrap confidence intervals (scipy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 2000
# Resamples drawn per batch: the bootstrap's memory is BATCH x len(sample) floats (2.4 MB for 6000 steps)
# instead of N_RESAMPLES x len(sample) (96 MB), whatever process computes it.
BOOTSTRAP_BATCH = 50


def bootstrap_ci(samples: tuple[np.ndarray, ...], statistic: Any, seed: int) -> tuple[float, float]:
    """The 95% bootstrap interval (percentile method, N_RESAMPLES, seeded) of `statistic` over `samples`."""
    result = stats.bootstrap(
        samples,
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=N_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
        vectorized=True,
        batch=BOOTSTRAP_BATCH,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(step_ms: Sequence[float], seed: int = 0) -> dict[str, float | list[float] | None]:
    """Median, IQR and a bootstrap 95% CI of the median (percentile method) of one run's steps."""
    a = np.asarray(step_ms, dtype=np.float64)
    if a.size == 0:
        return {"median_step_ms": None, "iqr_step_ms": None, "ci95_step_ms": None, "mean_step_ms": None}
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    ci: list[float] | None = None
    if a.size >= 3 and np.ptp(a) > 0:
        ci = list(bootstrap_ci((a,), np.median, seed))
    elif a.size >= 1:
        ci = [float(med), float(med)]
    return {
        "median_step_ms": float(med),
        "iqr_step_ms": float(q3 - q1),
        "ci95_step_ms": ci,
        "mean_step_ms": float(a.mean()),
    }


def ratio_of_medians(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[float, float, float] | None:
    """median(a) / median(b) with a bootstrap 95% CI (two independent samples, percentile method).

    Pass per-run medians when there are >= 3 repeats per side (run-to-run noise is then in the
    interval); otherwise the raw step times of the runs (within-run noise only; the report says so).
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0 or np.median(y) <= 0:
        return None
    point = float(np.median(x) / np.median(y))
    if x.size < 2 or y.size < 2:
        return point, point, point

    def stat(s1: np.ndarray, s2: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(s1, axis=axis) / np.median(s2, axis=axis)

    return (point, *bootstrap_ci((x, y), stat, seed))


def ratio_of_run_medians(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float] | None:
    """The run-level ratio and the verdict rule's interval: the geometric mean of a's per-run medians over
    b's, with the 95% Welch interval of the difference of their logs (Welch's t-test on log per-run
    medians, unequal variances). Its interval excludes 1 exactly when that test gives p < 0.05.

    Why not a bootstrap of the ratio of medians: with 3 runs a side the bootstrap interval excludes 1
    whenever all three runs of one side beat all three of the other, which two identical backends do 1
    time in 10 (2 of the 20 orderings): twice the stated 5%. Welch's t keeps its stated rate at every run
    count (tests/test_verdicts.py simulates it; docs/METHODOLOGY.md "Verdicts" has the rates and the power).
    None when a side is empty or holds a value <= 0; the point alone when a side has one run."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0 or np.any(x <= 0) or np.any(y <= 0):
        return None
    lx, ly = np.log(x), np.log(y)
    diff = float(lx.mean() - ly.mean())
    point = math.exp(diff)
    if x.size < 2 or y.size < 2:
        return point, point, point
    vx, vy = lx.var(ddof=1) / x.size, ly.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0:
        return point, point, point
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))  # Welch-Satterthwaite
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    return point, math.exp(diff - half), math.exp(diff + half)


def runs_to_resolve(a: Sequence[float], b: Sequence[float], power: float = 0.8) -> int | None:
    """About how many runs a side the verdict rule needs to find a difference of the size observed between
    per-run medians a and b `power` of the time (two-sided 5%, the normal approximation of Welch's test on
    the logs: n = 2 (z_0.975 + z_power)^2 s^2 / d^2, s^2 the pooled variance of the logs, d the difference of
    their means). None without two runs a side, positive values and an observed difference."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 2 or y.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        return None
    lx, ly = np.log(x), np.log(y)
    d = abs(float(lx.mean() - ly.mean()))
    var = ((x.size - 1) * lx.var(ddof=1) + (y.size - 1) * ly.var(ddof=1)) / (x.size + y.size - 2)
    if d == 0 or var == 0:
        return None
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2) + stats.norm.ppf(power))
    return max(3, math.ceil(2 * z * z * var / (d * d)))


def step_ratio(a: Sequence[float], b: Sequence[float], run_level: bool) -> tuple[float, float, float] | None:
    """a / b of step times (or latencies) with a 95% interval: over per-run medians (`run_level`: the
    verdict rule, `ratio_of_run_medians`), else over one run's raw steps (`ratio_of_medians`: within-run
    noise only, never a verdict)."""
    return ratio_of_run_medians(a, b) if run_level else ratio_of_medians(a, b)


def paired_ratio(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[float, float, float] | None:
    """median of a[i] / b[i] over pairs measured side by side, with a bootstrap 95% CI over the pairs
    (percentile method). Pairing cancels what the two members share (drift, the process they ran in)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    if x.size == 0 or np.any(y <= 0):
        return None
    q = x / y
    point = float(np.median(q))
    if q.size < 3 or np.ptp(q) == 0:
        return point, point, point
    return (point, *bootstrap_ci((q,), np.median, seed))


def significant(ci: tuple[float, float, float] | None) -> bool:
    """A ratio differs from 1 only when its whole confidence interval lies on one side of 1."""
    return ci is not None and (ci[1] > 1.0 or ci[2] < 1.0)


def percentiles(samples_ms: Sequence[float], seed: int = 0) -> dict[str, Any]:
    """p50, p90, p99 and mean of per-call latencies, with a bootstrap 95% CI of the p50 (the infer
    and export scenarios' latency records). Percentiles interpolate linearly between order statistics (numpy's
    default), so that p99 of 200 calls lies between the two slowest rather than being the slowest."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None, "ci95_p50_ms": None}
    p50, p90, p99 = (float(v) for v in np.percentile(a, [50, 90, 99]))
    ci = summarize(a, seed)["ci95_step_ms"]
    return {"p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "mean_ms": float(a.mean()), "ci95_p50_ms": ci}
