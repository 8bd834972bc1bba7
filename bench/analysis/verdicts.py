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
from bench.core import sequential, stats
from bench.core.backends import BACKENDS

ALPHA = 0.05  # significance level of the accuracy test
EQUIVALENCE_CONFIDENCE = stats.EQUIVALENCE_CONFIDENCE


# The answer to "which side is faster" between two sides a and b (a ratio a / b of times):
FASTER_A = sequential.FASTER_A  # the 95% Welch interval lies below 1 (a's time is lower)
FASTER_B = sequential.FASTER_B  # ... above 1
SAME = sequential.SAME  # neither, and the 90% interval lies inside [1/(1+margin), 1+margin] (two one-sided tests)
UNKNOWN = sequential.UNKNOWN  # neither: not yet known
NO_VERDICT = "no verdict"  # the rule cannot judge (too few runs a side, contention, within-run evidence only)
SIDES = (FASTER_A, FASTER_B)


@dataclass(frozen=True)
class Ratio:
    """A step-time ratio a/b with its 95% CI, the verdict rule's answer (FASTER_A, FASTER_B, SAME, UNKNOWN or
    NO_VERDICT, and why not), and what the answer rests on: the 90% interval, the margin, and on run-level
    evidence the log ratio's standard error and Welch degrees of freedom (the headline combines them)."""

    value: float
    low: float
    high: float
    run_level: bool  # the CI is over per-run medians (run-to-run noise inside it)
    significant: bool  # CI excludes 1 and the evidence allows a verdict (answer is a side)
    why_not: str = ""  # why no verdict is allowed ("" when it is)
    # not yet known on run-level evidence: about how many runs a side would answer "the same" 80% of the time
    # if the true ratio were 1, at the measured spread (bench.core.stats.runs_to_resolve); None otherwise
    runs_to_resolve: int | None = None
    answer: str = NO_VERDICT
    margin: float = stats.DEFAULT_MARGIN
    low90: float | None = None  # the 90% interval (Welch) of the equivalence test; None without one
    high90: float | None = None
    log_se: float | None = None  # standard error of log(value) (Welch); None without one
    df: float | None = None  # its Welch-Satterthwaite degrees of freedom


def answer_of(r: tuple[float, float, float], i90: tuple[float, float] | None, margin: float) -> str:
    """The verdict rule's answer where the evidence allows one: a side where the 95% interval excludes 1,
    else SAME where the 90% interval lies within the margin, else UNKNOWN."""
    if stats.significant(r):
        return FASTER_A if r[0] < 1 else FASTER_B
    return SAME if i90 is not None and stats.within_margin(*i90, margin) else UNKNOWN


def judged(
    sa: Sequence[float], sb: Sequence[float], welch: bool, decidable: bool, why: str, margin: float, cap: int = 0
) -> Ratio | None:
    """a / b with the verdict rule applied: Welch on the logs of the samples (`welch`: per-run medians or
    per-run times), else the within-run bootstrap ratio of medians (never a verdict); `decidable`: the
    evidence allows an answer (run-level, nothing in `why`). `cap`: the run added runs up to this many a side
    (`--max-runs`): both intervals at the sequential rule's level (bench.core.sequential.confidences), never at
    the fixed-sample 95% and 90%, so that a comparison that grew by looking is not re-tested at the naive level."""
    lr = stats.welch_log_ratio(sa, sb) if welch else None
    if lr is not None:
        side, same = sequential.confidences(cap)
        r: tuple[float, float, float] | None = (math.exp(lr.log_ratio), *lr.interval(side))
        i90: tuple[float, float] | None = lr.interval(same)
    else:
        r, i90 = (None, None) if welch else (stats.ratio_of_medians(sa, sb), None)
    if r is None:
        return None
    answer = answer_of(r, i90, margin) if decidable and not why else NO_VERDICT
    needed = stats.runs_to_resolve(sa, sb, margin) if answer == UNKNOWN else None
    return Ratio(
        *r,
        run_level=welch and decidable,
        significant=answer in SIDES,
        why_not=why,
        runs_to_resolve=needed,
        answer=answer,
        margin=margin,
        low90=i90[0] if i90 else None,
        high90=i90[1] if i90 else None,
        log_se=lr.se if lr else None,
        df=lr.df if lr else None,
    )


def why_no_verdict(a: Cell, b: Cell) -> str:
    """The reason a difference between two cells cannot be called significant, or ""."""
    unknown = len(a.contention_unknown) + len(b.contention_unknown)
    return no_verdict_reason((len(a.runs), len(b.runs)), len(a.contended) + len(b.contended), unknown)


def no_verdict_reason(runs: Sequence[int], contended: int, unknown: int = 0) -> str:
    """The verdict rule's reason for no verdict from each side's count of ok runs, the contended ones and
    those whose contention is unknown (never counted as quiet), shared by the training cells and the
    deployment runtimes; "" where a verdict is allowed."""
    few = [n for n in runs if not enough_runs(n)]
    if few:
        n = min(few)
        return f"{n} run{'s' if n != 1 else ''}: a verdict needs {MIN_RUNS_FOR_RUN_LEVEL_CI} processes per side"
    if contended:
        return f"{contended} contended run{'s' if contended != 1 else ''}"
    if unknown:
        return f"{unknown} run{'s' if unknown != 1 else ''} of unknown contention"
    return ""


def step_samples(a: Cell, b: Cell, summary_fallback: bool = False) -> tuple[list[float], list[float], bool]:
    """The two cells' step-time samples for a ratio, and whether they are run-level (per-run medians)."""
    run_level = a.run_level and b.run_level
    return a.timing_sample(run_level, summary_fallback), b.timing_sample(run_level, summary_fallback), run_level


def ratio(a: Cell, b: Cell, margin: float = stats.DEFAULT_MARGIN, cap: int = 0) -> Ratio | None:
    """median step time of a / that of b, with its CI and the verdict rule applied (None across scenarios);
    `cap`: judged at the sequential level of a run with --max-runs `cap` (judged)."""
    if not a.ok or not b.ok or a.scenario != b.scenario:
        return None
    sa, sb, run_level = step_samples(a, b)
    return judged(sa, sb, run_level, run_level, why_no_verdict(a, b), margin, cap)


def ratio_vs_baseline(cell: Cell, base: Cell | None, margin: float = stats.DEFAULT_MARGIN) -> Ratio | None:
    return ratio(cell, base, margin) if base is not None else None


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
    """Training MiB per run, a: PyTorch's, b: TensorFlow's; verdict "differ" only past the floor above, "the
    same" where the 90% Welch interval of the difference lies within ±floor (two one-sided tests: the floor is
    the memory margin), else "not yet known"."""
    t = accuracy_test("training MiB", a, b)
    if not enough_runs(len(a), len(b)):
        return dataclasses.replace(t, verdict="no verdict")
    floor = max(LEANER_MIN_MIB, LEANER_MIN_FRACTION * min(np.mean(a), np.mean(b)))
    if t.verdict == "differ" and abs(t.difference) >= floor:
        return t
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        low90, high90 = t.difference, t.difference
    else:
        ci = sps.ttest_ind(b, a, equal_var=False).confidence_interval(EQUIVALENCE_CONFIDENCE)
        low90, high90 = float(ci.low), float(ci.high)
    same = -floor <= low90 and high90 <= floor
    return dataclasses.replace(t, verdict="the same" if same else "not yet known")


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
        """The step-time answer: 'PyTorch', 'TensorFlow', SAME, UNKNOWN or NO_VERDICT (also without a ratio)."""
        return framework_answer(self.speed)


def framework_answer(r: Ratio | None) -> str:
    """A TF / PT ratio's answer with the side named: 'PyTorch' (TF slower), 'TensorFlow', SAME, UNKNOWN or
    NO_VERDICT."""
    if r is None:
        return NO_VERDICT
    return {FASTER_A: "TensorFlow", FASTER_B: "PyTorch"}.get(r.answer, r.answer)


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


def workload_verdicts(cs: Sequence[Cell], margin: float = stats.DEFAULT_MARGIN, cap: int = 0) -> list[WorkloadVerdict]:
    """Per workload the fastest PyTorch cell against the fastest TensorFlow one; `cap`: the suite added runs up to
    `cap` a side (--max-runs), so faster and sooner are judged at the sequential level (judged)."""
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
                ratio(tf, pt, margin, cap),
                acc,
                pt.training_memory(),
                tf.training_memory(),
                only_speed,
                None if only_speed else time_to_target_ratio(tf, pt, margin, cap),
                pt.memory()[0],
                tf.memory()[0],
                leaner_of(pt, tf),
            )
        )
    return out


def leaner_of(pt: Cell, tf: Cell) -> AccuracyTest | None:
    a, b = ([m for r in c.runs if (m := training_mib(r)) is not None] for c in (pt, tf))
    return memory_test(a, b) if a and b else None


def time_to_target_ratio(a: Cell, b: Cell, margin: float = stats.DEFAULT_MARGIN, cap: int = 0) -> Ratio | None:
    """Time to target of a / b (training-step time until the metric first reached the target: the first
    step's compilation included), over the runs, under the same rule as step time. None where a run of
    either side did not reach the target."""
    ta, tb = ([r.time_to_target_s for r in c.runs] for c in (a, b))
    if not ta or not tb or any(t is None for t in (*ta, *tb)):
        return None
    # with one run a side: the ratio alone, no interval
    return judged(ta, tb, True, enough_runs(len(ta), len(tb)), why_no_verdict(a, b), margin, cap)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Overall:
    """Across workloads: the geometric mean of the TensorFlow/PyTorch step-time ratios, with its 95% and 90%
    intervals, and how many workloads got each answer."""

    workloads: int
    geomean: float
    low: float
    high: float
    pytorch_wins: int
    tensorflow_wins: int
    same: int  # the same within the margin
    unknown: int  # not yet known
    verdict_allowed: int  # workloads whose evidence allows a verdict
    low90: float = math.nan
    high90: float = math.nan
    margin: float = stats.DEFAULT_MARGIN

    @property
    def answer(self) -> str:
        """The headline's answer: FASTER_A (TensorFlow), FASTER_B (PyTorch), SAME or UNKNOWN, on the intervals."""
        return answer_of((self.geomean, self.low, self.high), (self.low90, self.high90), self.margin)


def combined_log_ratio(rs: Sequence[Ratio]) -> stats.LogRatio:
    """The mean of the ratios' logs, its standard error (the workloads independent: sqrt(sum se_i^2) / k) and
    its Welch-Satterthwaite degrees of freedom (sum se_i^2)^2 / sum(se_i^4 / df_i). A ratio without its own
    standard error (a within-run bootstrap interval) counts its 95% half-width on the log scale / 1.96 with
    infinite degrees of freedom (the normal approximation); one with no spread counts nothing."""
    k = len(rs)
    terms: list[tuple[float, float]] = []
    for r in rs:
        if r.log_se is not None and r.df is not None:
            terms.append((r.log_se**2, r.df))
        elif r.low > 0 and r.high > r.low:
            terms.append((((math.log(r.high) - math.log(r.low)) / (2 * sps.norm.ppf(0.975))) ** 2, math.inf))
    mean = float(np.mean(np.log([r.value for r in rs])))
    var = sum(v for v, _ in terms)
    if var == 0:
        return stats.LogRatio(mean, None, None)
    spread_of_spread = sum(v * v / d for v, d in terms)  # 0 when every term is a normal approximation
    df = var**2 / spread_of_spread if spread_of_spread > 0 else math.inf
    return stats.LogRatio(mean, math.sqrt(var) / k, float(df) if df > 0 else math.inf)


def overall(verdicts: Sequence[WorkloadVerdict]) -> Overall | None:
    """Geometric mean of the per-workload ratios, its intervals from the workloads' own standard errors and
    degrees of freedom (combined_log_ratio): they hold the measurement noise of this set of workloads, not the
    choice of workloads. One workload: its own ratio and intervals, so that the headline and its row agree."""
    rs = [v.speed for v in verdicts if v.speed is not None]
    if not rs:
        return None
    margin = rs[0].margin
    if len(rs) == 1:
        r = rs[0]
        value, low, high = r.value, r.low, r.high
        low90, high90 = (r.low90, r.high90) if r.low90 is not None and r.high90 is not None else (low, high)
    else:
        lr = combined_log_ratio(rs)
        value, (low, high), (low90, high90) = math.exp(lr.log_ratio), lr.interval(), lr.interval(0.90)
    wins = [v.winner for v in verdicts if v.speed is not None]
    return Overall(
        len(rs),
        value,
        low,
        high,
        wins.count("PyTorch"),
        wins.count("TensorFlow"),
        wins.count(SAME),
        wins.count(UNKNOWN),
        sum(1 for r in rs if not r.why_not),
        low90,
        high90,
        margin,
    )
