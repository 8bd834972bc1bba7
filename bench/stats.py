"""Statistics over raw step times: median, IQR, bootstrap confidence intervals (scipy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 2000


def summarize(step_ms: Sequence[float], seed: int = 0) -> dict[str, float | list[float] | None]:
    """Median, IQR and a bootstrap 95% CI of the median (percentile method) of one run's steps."""
    a = np.asarray(step_ms, dtype=np.float64)
    if a.size == 0:
        return {"median_step_ms": None, "iqr_step_ms": None, "ci95_step_ms": None, "mean_step_ms": None}
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    ci: list[float] | None = None
    if a.size >= 3 and np.ptp(a) > 0:
        res = stats.bootstrap(
            (a,), np.median, confidence_level=CONFIDENCE, n_resamples=N_RESAMPLES, method="percentile",
            rng=np.random.default_rng(seed), vectorized=True,
        )
        ci = [float(res.confidence_interval.low), float(res.confidence_interval.high)]
    elif a.size >= 1:
        ci = [float(med), float(med)]
    return {"median_step_ms": float(med), "iqr_step_ms": float(q3 - q1), "ci95_step_ms": ci, "mean_step_ms": float(a.mean())}
