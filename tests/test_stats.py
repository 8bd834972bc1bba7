"""Statistics on synthetic samples with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core import stats


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


def test_pairing_finds_a_small_shift_that_shared_drift_hides_from_unpaired_medians() -> None:
    """Pairs share a large drift (process effect, machine load); one member is 3% slower."""
    rng = np.random.default_rng(3)
    drift = rng.lognormal(0.0, 0.2, 40)  # +-20% from pair to pair, shared by both members
    bare = 10.0 * drift * rng.lognormal(0.0, 0.01, 40)
    harness = 10.3 * drift * rng.lognormal(0.0, 0.01, 40)
    paired = stats.paired_ratio(harness, bare)
    assert paired is not None and stats.significant(paired)
    assert paired[0] == pytest.approx(1.03, abs=0.01)
    assert paired[2] - paired[1] < 0.02
    unpaired = stats.ratio_of_medians(harness, bare)
    assert unpaired is not None and not stats.significant(unpaired)


def test_paired_ratio_of_equal_members_is_not_significant_and_rejects_unequal_lengths() -> None:
    rng = np.random.default_rng(4)
    drift = rng.lognormal(0.0, 0.2, 40)
    a, b = drift * rng.lognormal(0.0, 0.01, 40), drift * rng.lognormal(0.0, 0.01, 40)
    r = stats.paired_ratio(a, b)
    assert r is not None and r[1] < 1.0 < r[2]
    with pytest.raises(ValueError, match="40 vs 39"):
        stats.paired_ratio(a, b[:-1])


def test_a_cells_step_time_interval_covers_its_centre_95_percent_of_the_time() -> None:
    """The run-level CI of a cell's step time (stats.log_t_interval over its per-run medians): with 3 runs
    it covers the true centre about 95% of the time, where the [min, max] of 3 runs covers 75%."""
    rng = np.random.default_rng(3)
    runs = np.exp(rng.normal(0.0, 0.13, (4000, 3)))
    ci = np.array([stats.log_t_interval(r) for r in runs])
    covered = np.mean((ci[:, 0] <= 1.0) & (1.0 <= ci[:, 1]))
    assert 0.94 <= covered <= 0.96, covered
    assert 0.73 <= np.mean((runs.min(axis=1) <= 1.0) & (1.0 <= runs.max(axis=1))) <= 0.77  # the old "CI"
    assert stats.log_t_interval([1.0]) is None


def test_the_defaults_copied_where_scipy_is_not_imported_agree() -> None:
    """bench/cli.py and bench/core/formatting.py keep copies of these (scipy's import is slow)."""
    from bench import cli
    from bench.core import formatting

    assert cli.DEFAULT_MARGIN == stats.DEFAULT_MARGIN
    assert formatting.runs_text(stats.MAX_ADVISED_RUNS + 1) == f"more than {stats.MAX_ADVISED_RUNS} runs"
    assert formatting.runs_text(stats.MAX_ADVISED_RUNS) == f"about {stats.MAX_ADVISED_RUNS} runs"


def test_equivalence_is_the_interval_inside_the_margin_either_way() -> None:
    assert stats.within_margin(0.95, 1.05, 0.10) and stats.within_margin(1 / 1.1, 1.1, 0.10)
    assert not stats.within_margin(0.90, 1.05, 0.10) and not stats.within_margin(0.95, 1.11, 0.10)
