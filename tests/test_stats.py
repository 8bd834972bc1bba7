"""Statistics on synthetic samples with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from bench import stats


def test_summary_of_a_known_sample() -> None:
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median_step_ms"] == 3.0
    assert s["iqr_step_ms"] == 2.0  # 4 - 2
    lo, hi = s["ci95_step_ms"]
    assert lo <= 3.0 <= hi


def test_summary_of_nothing_is_none() -> None:
    assert stats.summarize([])["median_step_ms"] is None


def test_a_shifted_distribution_is_significant() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(10.0, 1.0, 300)
    slower = rng.normal(11.0, 1.0, 300)
    r = stats.ratio_of_medians(slower, base)
    assert r is not None and r[1] > 1.0 and stats.significant(r)
    assert r[0] == pytest.approx(1.1, abs=0.05)


def test_an_identical_distribution_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(10.0, 1.0, 300), rng.normal(10.0, 1.0, 300)
    r = stats.ratio_of_medians(a, b)
    assert r is not None and r[1] < 1.0 < r[2]
    assert not stats.significant(r)


def test_ci_contains_the_true_median_most_of_the_time() -> None:
    """Coverage of the bootstrap CI of the median on lognormal samples (true median 1.0)."""
    rng = np.random.default_rng(2)
    hits = sum(
        lo <= 1.0 <= hi
        for lo, hi in (stats.summarize(rng.lognormal(0.0, 0.3, 60), seed=i)["ci95_step_ms"] for i in range(60))
    )
    assert hits >= 50  # nominal 95% of 60 = 57; allow the percentile method's small-sample undercoverage


def test_cv() -> None:
    assert stats.cv([1.0]) is None
    assert stats.cv([2.0, 2.0, 2.0]) == 0.0
    assert stats.cv([1.0, 3.0]) == pytest.approx(np.std([1.0, 3.0], ddof=1) / 2.0)
