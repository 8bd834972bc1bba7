"""The verdict rule and the headline summary, on bench/analysis/cells.py's cells: step-time ratios with their
CIs and whether a difference may be called significant, the accuracy and memory tests, per workload the
fastest PyTorch backend against the fastest TensorFlow one, and the geometric mean across workloads.
Rendered by bench/report/summary.py (and the other report sections that state a verdict) and used by
bench/analysis/compare.py.

Rules (docs/METHODOLOGY.md, "Verdicts"):

- A step-time sample is the per-run medians where both sides have MIN_RUNS_FOR_RUN_LEVEL_CI runs or
  more (run-to-run noise inside the CI), else the raw steady-state steps pooled (within-run noise only).
- A step-time ratio is marked significant only on run-to-run evidence: at least
  MIN_RUNS_FOR_RUN_LEVEL_CI processes on each side, no contended run on either side, and Welch's t-test
  on the log per-run medians at p < 0.05 (bench.core.stats.ratio_of_run_medians: the ratio of geometric
  means and its 95% interval, which then excludes 1). A single run shows its ratio of medians and its
  within-run bootstrap CI, never a star.
- The summary compares, per workload, the fastest PyTorch backend with the fastest TensorFlow one
  (median step time): their step-time ratio, their accuracies (Welch's t-test over per-seed values)
  and their training memory; then the geometric mean of the ratios across workloads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from bench.analysis.cells import (
    MIN_RUNS_FOR_RUN_LEVEL_CI,
    Cell,
    by_workload,
    enough_runs,
    speed_only,
    training_mib,
)
from bench.core import stats
from bench.core.backends import BACKENDS

ALPHA = 0.05  # significance level of the accuracy test
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


@dataclass(frozen=True)
class Ratio:
    """A step-time ratio a/b with its 95% CI, and whether it may be called significant (and why not)."""

    value: float
    low: float
    high: float
    run_level: bool  # the CI is over per-run medians (run-to-run noise inside it)
    significant: bool  # CI excludes 1 and the evidence allows a verdict
    why_not: str = ""  # why no verdict is allowed ("" when it is)
    # a tie on run-level evidence: about how many runs a side would find a difference of this size 80% of
    # the time (bench.core.stats.runs_to_resolve); None otherwise
    runs_to_resolve: int | None = None


def why_no_verdict(a: Cell, b: Cell) -> str:
    """The reason a difference between two cells cannot be called significant, or ""."""
    return no_verdict_reason((len(a.runs), len(b.runs)), len(a.contended) + len(b.contended))


def no_verdict_reason(runs: Sequence[int], contended: int) -> str:
    """The verdict rule's reason for no verdict from each side's count of ok runs and the contended ones
    (shared by the training cells and the deployment runtimes), or "" where a verdict is allowed."""
    few = [n for n in runs if not enough_runs(n)]
    if few:
        n = min(few)
        return f"{n} run{'s' if n != 1 else ''}: a verdict needs {MIN_RUNS_FOR_RUN_LEVEL_CI} processes per side"
    if contended:
        return f"{contended} contended run{'s' if contended != 1 else ''}"
    return ""


def step_samples(a: Cell, b: Cell, summary_fallback: bool = False) -> tuple[list[float], list[float], bool]:
    """The two cells' step-time samples for a ratio, and whether they are run-level (per-run medians)."""
    run_level = a.run_level and b.run_level
    return a.timing_sample(run_level, summary_fallback), b.timing_sample(run_level, summary_fallback), run_level


def ratio(a: Cell, b: Cell) -> Ratio | None:
    """median step time of a / that of b, with its CI and the verdict rule applied (None across scenarios)."""
    if not a.ok or not b.ok or a.scenario != b.scenario:
        return None
    sa, sb, run_level = step_samples(a, b)
    r = stats.step_ratio(sa, sb, run_level)
    if r is None:
        return None
    why = why_no_verdict(a, b)
    significant = not why and stats.significant(r)
    needed = stats.runs_to_resolve(sa, sb) if run_level and not why and not significant else None
    return Ratio(*r, run_level=run_level, significant=significant, why_not=why, runs_to_resolve=needed)


def ratio_vs_baseline(cell: Cell, base: Cell | None) -> Ratio | None:
    return ratio(cell, base) if base is not None else None


@dataclass(frozen=True)
class AccuracyTest:
    """The frameworks' final metrics compared over seeds (Welch's t-test, two-sided)."""

    metric: str
    torch_values: tuple[float, ...]  # per seed
    tf_values: tuple[float, ...]
    difference: float  # mean TensorFlow - mean PyTorch
    low: float | None  # 95% CI of the difference (Welch); None without a test
    high: float | None
    p_value: float | None
    verdict: str  # "differ" | "no significant difference" | "identical" | "one seed: no test"


def accuracy_test(metric: str, a: Sequence[float], b: Sequence[float]) -> AccuracyTest:
    """a: PyTorch's per-seed values, b: TensorFlow's."""
    diff = float(np.mean(b) - np.mean(a))
    if len(a) < 2 or len(b) < 2:
        return AccuracyTest(metric, tuple(a), tuple(b), diff, None, None, None, "one seed: no test")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        verdict = "identical" if diff == 0 else "differ"  # no spread: every seed agrees
        return AccuracyTest(metric, tuple(a), tuple(b), diff, diff, diff, 0.0 if diff else 1.0, verdict)
    t = sps.ttest_ind(b, a, equal_var=False)
    ci = t.confidence_interval(1 - ALPHA)
    p = float(t.pvalue)
    verdict = "differ" if p < ALPHA else "no significant difference"
    return AccuracyTest(metric, tuple(a), tuple(b), diff, float(ci.low), float(ci.high), p, verdict)


# Leaner: a memory difference is called only where Welch's t on the per-run training MiB finds it (p < ALPHA,
# MIN_RUNS_FOR_RUN_LEVEL_CI+ runs a side) and it is at least this large: allocator and RSS figures move by a
# fraction of a MiB between runs of one backend, which a t-test on 3 runs can find "significant" (the real A/A
# file, docs/measurements/aa-torch-eager-cpu-2026-12-03.json: 6% of 3-vs-3 splits on cnn-digits without the
# floor, none with it; docs/METHODOLOGY.md).
LEANER_MIN_MIB = 2.0
LEANER_MIN_FRACTION = 0.05


def memory_test(a: Sequence[float], b: Sequence[float]) -> AccuracyTest:
    """Training MiB per run, a: PyTorch's, b: TensorFlow's; verdict "differ" only past the floor above."""
    t = accuracy_test("training MiB", a, b)
    if not enough_runs(len(a), len(b)):
        return dataclasses.replace(t, verdict="no verdict")
    floor = max(LEANER_MIN_MIB, LEANER_MIN_FRACTION * min(np.mean(a), np.mean(b)))
    if t.verdict == "differ" and abs(t.difference) < floor:
        return dataclasses.replace(t, verdict="no significant difference")
    return t


@dataclass(frozen=True)
class WorkloadVerdict:
    """One workload's PyTorch-vs-TensorFlow answer: the fastest backend of each framework."""

    workload: str
    device_model: str
    torch: Cell
    tf: Cell
    speed: Ratio | None  # step time TensorFlow / PyTorch (above 1: PyTorch faster)
    accuracy: AccuracyTest | None  # None where the profile is speed only or a metric is missing
    train_mib_torch: float | None
    train_mib_tf: float | None
    speed_only: bool  # the profile's budget does not reach the target: accuracy not compared
    # Sooner: time to target TensorFlow / PyTorch (compile and first step included), under the verdict rule;
    # None where a side has a run that did not reach the target, or the profile is speed only.
    sooner: Ratio | None = None
    peak_mib_torch: float | None = None  # the whole process's peak (CPU) or the allocator's (GPU), median
    peak_mib_tf: float | None = None
    leaner: AccuracyTest | None = None  # training MiB per run, TF - PT (memory_test); None without figures

    @property
    def winner(self) -> str:
        """'PyTorch', 'TensorFlow' or 'tie' on step time (ties include no-verdict cases)."""
        if self.speed is None or not self.speed.significant:
            return "tie"
        return "PyTorch" if self.speed.value > 1 else "TensorFlow"


def in_headline(c: Cell) -> bool:
    """Whether the cell answers the PyTorch-vs-TensorFlow question (BackendInfo.headline): native PyTorch or
    Keras on TensorFlow. An unregistered backend counts by its recorded framework alone."""
    info = BACKENDS.get(c.backend)
    return info.headline if info else True


def fastest_ok(cs: Iterable[Cell]) -> Cell | None:
    ok = [c for c in cs if c.ok and c.step_time()[0] is not None]
    return min(ok, key=lambda c: c.step_time()[0] or math.inf) if ok else None


def fastest(cs: Sequence[Cell], framework: str) -> Cell | None:
    """The fastest ok headline cell of one framework ("torch" or "tensorflow")."""
    return fastest_ok(c for c in cs if c.framework == framework and in_headline(c))


def workload_verdicts(cs: Sequence[Cell]) -> list[WorkloadVerdict]:
    out = []
    for (model, _, workload), group in by_workload(cs).items():
        pt, tf = fastest(group, "torch"), fastest(group, "tensorflow")
        if pt is None or tf is None:
            continue
        only_speed = speed_only(pt) or speed_only(tf)
        acc = None
        metric = pt.runs[0].metric_name
        a, b = list(pt.metric_by_seed().values()), list(tf.metric_by_seed().values())
        if not only_speed and a and b:
            acc = accuracy_test(metric, a, b)
        out.append(
            WorkloadVerdict(
                workload,
                model,
                pt,
                tf,
                ratio(tf, pt),
                acc,
                pt.training_memory(),
                tf.training_memory(),
                only_speed,
                None if only_speed else time_to_target_ratio(tf, pt),
                pt.memory()[0],
                tf.memory()[0],
                leaner_of(pt, tf),
            )
        )
    return out


def leaner_of(pt: Cell, tf: Cell) -> AccuracyTest | None:
    a, b = ([m for r in c.runs if (m := training_mib(r)) is not None] for c in (pt, tf))
    return memory_test(a, b) if a and b else None


def time_to_target_ratio(a: Cell, b: Cell) -> Ratio | None:
    """Time to target of a / b (training-step time until the metric first reached the target: the first
    step's compilation included), over the runs, under the same rule as step time. None where a run of
    either side did not reach the target."""
    ta, tb = ([r.time_to_target_s for r in c.runs] for c in (a, b))
    if not ta or not tb or any(t is None for t in (*ta, *tb)):
        return None
    run_level = enough_runs(len(ta), len(tb))
    r = stats.ratio_of_run_medians(ta, tb)  # with one run a side: the ratio alone, no interval
    if r is None:
        return None
    why = why_no_verdict(a, b)
    return Ratio(*r, run_level=run_level, significant=not why and stats.significant(r), why_not=why)


@dataclass(frozen=True)
class Overall:
    """Across workloads: the geometric mean of the TensorFlow/PyTorch step-time ratios, with a 95% CI."""

    workloads: int
    geomean: float
    low: float
    high: float
    pytorch_wins: int
    tensorflow_wins: int
    ties: int
    verdict_allowed: int  # workloads whose evidence allows a verdict


def overall(verdicts: Sequence[WorkloadVerdict]) -> Overall | None:
    """Geometric mean of the per-workload ratios. Its CI combines the per-workload CIs on the log scale
    (each CI's half-width / 1.96 as that log-ratio's standard error; independent workloads): it holds
    the measurement noise of this set of workloads, not the choice of workloads."""
    rs = [v.speed for v in verdicts if v.speed is not None]
    if not rs:
        return None
    logs = np.log([r.value for r in rs])
    se = [(math.log(r.high) - math.log(r.low)) / (2 * Z95) if r.low > 0 else math.inf for r in rs]
    mean = float(logs.mean())
    half = Z95 * math.sqrt(sum(s * s for s in se)) / len(rs)
    wins = [v.winner for v in verdicts if v.speed is not None]
    # One workload: its own ratio and interval, so that the headline and its row say the same numbers (a
    # within-run bootstrap interval is not symmetric on the log scale; rebuilding one would move it).
    value, low, high = (rs[0].value, rs[0].low, rs[0].high) if len(rs) == 1 else (
        math.exp(mean), math.exp(mean - half), math.exp(mean + half)
    )  # fmt: skip
    return Overall(
        len(rs),
        value,
        low,
        high,
        wins.count("PyTorch"),
        wins.count("TensorFlow"),
        wins.count("tie"),
        sum(1 for r in rs if not r.why_not),
    )
