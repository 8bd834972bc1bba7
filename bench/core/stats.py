"""Statistics over raw step times: median, IQR, bootstrap confidence intervals (scipy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class LogRatio:
    """Welch's comparison of two sides' log per-run medians: the difference of their means (the log of the
    ratio of geometric means), its standard error and its Welch-Satterthwaite degrees of freedom (None where
    a side has one run or no spread: no interval)."""

    log_ratio: float
    se: float | None
    df: float | None

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The ratio's two-sided t-interval at `confidence` (the point twice without a standard error)."""
        if self.se is None or self.df is None:
            return math.exp(self.log_ratio), math.exp(self.log_ratio)
        half = float(stats.t.ppf(0.5 + confidence / 2, self.df)) * self.se
        return math.exp(self.log_ratio - half), math.exp(self.log_ratio + half)


def welch_log_ratio(a: Sequence[float], b: Sequence[float]) -> LogRatio | None:
    """Welch's t on the logs of a's and b's per-run medians; None when a side is empty or holds a value <= 0."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0 or np.any(x <= 0) or np.any(y <= 0):
        return None
    lx, ly = np.log(x), np.log(y)
    diff = float(lx.mean() - ly.mean())
    if x.size < 2 or y.size < 2:
        return LogRatio(diff, None, None)
    vx, vy = lx.var(ddof=1) / x.size, ly.var(ddof=1) / y.size
    if vx + vy == 0:
        return LogRatio(diff, None, None)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))  # Welch-Satterthwaite
    return LogRatio(diff, math.sqrt(vx + vy), float(df))


def ratio_of_run_medians(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float] | None:
    """The run-level ratio and the verdict rule's interval: the geometric mean of a's per-run medians over
    b's, with the 95% Welch interval of the difference of their logs (Welch's t-test on log per-run
    medians, unequal variances). Its interval excludes 1 exactly when that test gives p < 0.05.

    Why not a bootstrap of the ratio of medians: with 3 runs a side the bootstrap interval excludes 1
    whenever all three runs of one side beat all three of the other, which two identical backends do 1
    time in 10 (2 of the 20 orderings): twice the stated 5%. Welch's t keeps its stated rate at every run
    count (tests/test_verdicts.py simulates it; docs/METHODOLOGY.md "Verdicts" has the rates and the power).
    None when a side is empty or holds a value <= 0; the point alone when a side has one run."""
    lr = welch_log_ratio(a, b)
    return None if lr is None else (math.exp(lr.log_ratio), *lr.interval())


EQUIVALENCE_CONFIDENCE = 0.90  # two one-sided tests at 5% each: the 90% interval inside the margin
DEFAULT_MARGIN = 0.10  # "the same" for time: within 10% either way ([1/1.1, 1.1]); --margin changes it
MAX_ADVISED_RUNS = 1000  # advice past this many runs a side reads "more than" it


def within_margin(low: float, high: float, margin: float) -> bool:
    """Whether a ratio's interval lies inside [1/(1+margin), 1+margin] (equivalence within the margin)."""
    return 1 / (1 + margin) <= low and high <= 1 + margin


def runs_to_resolve(a: Sequence[float], b: Sequence[float], margin: float, power: float = 0.8) -> int | None:
    """About how many runs a side the equivalence test (two one-sided tests at 5%, the 90% Welch interval
    inside [1/(1+margin), 1+margin]) needs to answer "the same" `power` of the time when the true ratio is 1,
    at the spread measured here (the pooled variance of the log per-run medians a and b): the smallest n
    with 2 Phi(delta / se_n - t_0.95(2n - 2)) - 1 >= power, se_n = s sqrt(2 / n), delta = log(1 + margin),
    from 3 (the fewest runs a side the verdict rule judges). The observed difference plays no part (plugging it
    in as the truth gave advice that was itself noise). None without two runs a side or positive values;
    MAX_ADVISED_RUNS + 1 past MAX_ADVISED_RUNS."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 2 or y.size < 2 or np.any(x <= 0) or np.any(y <= 0) or margin <= 0:
        return None
    lx, ly = np.log(x), np.log(y)
    var = ((x.size - 1) * lx.var(ddof=1) + (y.size - 1) * ly.var(ddof=1)) / (x.size + y.size - 2)
    if var == 0:
        return 3
    n = np.arange(3, MAX_ADVISED_RUNS + 1)
    se = np.sqrt(2 * var / n)
    t = stats.t.ppf(0.5 + EQUIVALENCE_CONFIDENCE / 2, 2 * n - 2)  # each one-sided test at 5%
    reached = 2 * stats.norm.cdf(math.log1p(margin) / se - t) - 1
    hits = np.flatnonzero(reached >= power)
    return int(n[hits[0]]) if hits.size else MAX_ADVISED_RUNS + 1


def step_ratio(a: Sequence[float], b: Sequence[float], run_level: bool) -> tuple[float, float, float] | None:
    """a / b of step times (or latencies) with a 95% interval: over per-run medians (`run_level`: the
    verdict rule, `ratio_of_run_medians`), else over one run's raw steps (`ratio_of_medians`: within-run
    noise only, never a verdict)."""
    return ratio_of_run_medians(a, b) if run_level else ratio_of_medians(a, b)


def log_t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The t-interval at `confidence` of the centre of positive values on the log scale (their geometric
    mean): exp(mean log ± t(n - 1) sd / sqrt(n)). None with fewer than two values or one <= 0."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or np.any(x <= 0):
        return None
    lx = np.log(x)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1)) * float(lx.std(ddof=1)) / math.sqrt(x.size)
    return math.exp(lx.mean() - half), math.exp(lx.mean() + half)


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
