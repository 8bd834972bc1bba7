"""From results to verdicts: cells, ratios with CIs, the rules for calling a difference significant,
and the headline summary. Computed here once, rendered by bench/report/document.py and used by bench/analysis/compare.py
(which matches cells of two sets of results and judges them); the text is bench/core/formatting.py's.

Rules (docs/METHODOLOGY.md, "Verdicts"):

- A cell is one (scenario, workload, backend, device, device model) over its runs (repeats and seeds).
  Scenarios (train, inference ...) never mix: a baseline or a ratio is always within one scenario. A run
  in a precision other than fp32 is its own scenario for this purpose, "train bf16" (`context`): the
  precision table compares it with its fp32 cell, and nothing else mixes precisions.
- A step-time sample is the per-run medians where both sides have MIN_RUNS_FOR_RUN_LEVEL_CI runs or
  more (run-to-run noise inside the CI), else the raw steady-state steps pooled (within-run noise only).
- A host is busy when a run's 1-min load average exceeds BUSY_LOAD_PER_CPU x its logical CPUs; a run is
  contended when other processes took cores it asked for (bench.machine.contention). Neither is trusted for time.
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
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from bench.core import stats
from bench.core.backends import BACKENDS
from bench.core.spec import layout
from bench.core.workloads import WORKLOADS
from bench.machine import env
from bench.records.results import Memory, Result, Suite

BASELINE_BACKEND = "torch-eager"
MIN_RUNS_FOR_RUN_LEVEL_CI = 3
BUSY_LOAD_PER_CPU = 1.5  # a 1-min load average above this x logical CPUs: an oversubscribed host
ALPHA = 0.05  # significance level of the accuracy test
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval
FAILED_STATUSES = ("failed", "diverged", "timeout", "oom")  # a run that broke ("unsupported" is not one)
DEFAULT_SCENARIO = "train"
DEFAULT_PRECISION = "fp32"
LAYOUT = re.compile(r"(\d*)x(\d+)")  # a distributed cell's shape in its scenario: "x2", "2x1" (spec.layout)


def context(r: Result) -> str:
    """The cell's scenario as the tables name it: the run's scenario, its precision unless fp32, and for
    the distributed scenario its shape: "distributed x2" (one node of 2 workers), "distributed 2x1" (2 nodes
    of 1 worker each), so that the two are separate cells."""
    parts = [r.scenario]
    if r.precision != DEFAULT_PRECISION:
        parts.append(r.precision)
    if r.scenario == "distributed":
        parts.append(layout(r.nodes, r.workers))
    return " ".join(parts)


def step_budget(r: Result) -> int | None:
    """The run's --steps, if given (a speed-only run: no evaluation)."""
    return r.config.steps if r.config else None


def enough_runs(*counts: int) -> bool:
    """Whether every side has enough processes for run-to-run noise to be in a confidence interval."""
    return all(n >= MIN_RUNS_FOR_RUN_LEVEL_CI for n in counts)


def memory_of(r: Result) -> Memory:
    """The one place that reads Result.memory."""
    return r.memory


def epochs_override(r: Result) -> int | None:
    """The run's --epochs, if given: the one place that reads Result.config."""
    return r.config.epochs_override if r.config else None


@dataclass(frozen=True)
class Cell:
    """The aggregate of one (scenario, workload, backend, device, device model) over its runs."""

    scenario: str
    workload: str
    backend: str
    device: str
    device_model: str
    status: str
    reason: str
    runs: list[Result]  # the ok runs
    failed: list[Result] = field(default_factory=list)  # runs that did not finish (status not ok)
    cpus: int | None = None  # logical CPUs of the host (the first suite's that records it)
    settings: str = ""  # what split the cell further (cells(settings=...)); "" when nothing did

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def precision(self) -> str:
        """The precision part of the cell's scenario (`context`): "train bf16" -> "bf16"."""
        return next((t for t in self.scenario.split()[1:] if not LAYOUT.fullmatch(t)), DEFAULT_PRECISION)

    @property
    def shape(self) -> tuple[int, int]:
        """(nodes, workers per node) of a distributed cell (`context`): "distributed x2" -> (1, 2),
        "distributed 2x1" -> (2, 1); (1, 1) elsewhere."""
        found = next((m for t in self.scenario.split()[1:] if (m := LAYOUT.fullmatch(t))), None)
        return (int(found.group(1) or 1), int(found.group(2))) if found else (1, 1)

    @property
    def workers(self) -> int:
        """Workers per node of a distributed cell: "distributed x2" -> 2; 1 elsewhere."""
        return self.shape[1]

    @property
    def nodes(self) -> int:
        return self.shape[0]

    @property
    def world(self) -> int:
        """Ranks in all: nodes x workers."""
        return self.nodes * self.workers

    @property
    def base_scenario(self) -> str:
        return self.scenario.partition(" ")[0]

    @property
    def run_level(self) -> bool:
        """Enough processes for run-to-run noise to be in the confidence interval."""
        return enough_runs(len(self.runs))

    @property
    def contended(self) -> list[Result]:
        return [r for r in self.runs if r.contended]

    @property
    def failures(self) -> list[Result]:
        """The runs that broke (FAILED_STATUSES), in order."""
        return [r for r in self.failed if r.status in FAILED_STATUSES]

    @property
    def framework(self) -> str:
        info = BACKENDS.get(self.backend)
        return info.framework if info else (self.runs[0].framework if self.runs else "?")

    def seeds(self) -> list[int | None]:
        return sorted({r.seed for r in self.runs}, key=lambda s: -1 if s is None else s)

    def per_run_medians(self) -> list[float]:
        return [r.median_step_ms for r in self.runs if r.median_step_ms is not None]

    def timing_sample(self, run_level: bool, summary_fallback: bool = False) -> list[float]:
        """Per-run medians (run_level) or all steady-state step times pooled; with summary_fallback the
        per-run medians also where the source kept no steps (pytest-benchmark JSON without its data)."""
        if run_level:
            return self.per_run_medians()
        raw = [t for r in self.runs for t in r.step_ms]
        return raw or (self.per_run_medians() if summary_fallback else [])

    def step_time(self) -> tuple[float | None, list[float] | None]:
        """Median step time and its 95% CI (over per-run medians with >= 3 runs, else over raw steps)."""
        sample = self.timing_sample(self.run_level)
        if not sample:  # e.g. a source that kept only summary statistics
            return self.median_of("median_step_ms"), None
        s = stats.summarize(sample)
        return s["median_step_ms"], s["ci95_step_ms"]  # type: ignore[return-value]

    def mean_step_ms(self) -> float | None:
        """The mean over every step after the first (warm-up included): what throughput over the run saw."""
        steps = [t for r in self.runs for t in (*r.warmup_step_ms, *r.step_ms)]
        return float(np.mean(steps)) if steps else None

    def median_of(self, attr: str) -> float | None:
        vals = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return float(np.median(vals)) if vals else None

    def memory(self) -> tuple[float | None, str]:
        """The process's (or allocator's) peak, median over runs, and its kind."""
        vals = [m.peak_mib for m in map(memory_of, self.runs) if m.peak_mib is not None]
        kind = memory_of(self.runs[0]).kind if self.runs else ""
        return (float(np.median(vals)) if vals else None), kind

    def training_memory(self) -> float | None:
        """What training added: the allocator peak on GPU, peak RSS minus RSS after data on CPU."""
        vals = [training_mib(r) for r in self.runs]
        kept = [v for v in vals if v is not None]
        return float(np.median(kept)) if kept else None

    def metric_by_seed(self) -> dict[int | None, float]:
        """The final metric per seed (median over that seed's repeats)."""
        by: dict[int | None, list[float]] = {}
        for r in self.runs:
            if r.metric is not None and math.isfinite(r.metric):
                by.setdefault(r.seed, []).append(r.metric)
        return {s: float(np.median(v)) for s, v in by.items()}


def training_mib(r: Result) -> float | None:
    m = memory_of(r)
    return m.peak_mib if m.kind == "allocator_peak" else m.model_share_rss_mib


@dataclass(frozen=True)
class Steady:
    """How much of a cell's runs the steady-state rule kept."""

    steps: int  # timed steps after the first, every run
    excluded: int  # of those, classed as warm-up
    excluded_time_share: float | None  # warm-up steps' share of all timed step time (first step included)
    unsettled_runs: int  # runs whose times never settled (bench.measure.harness.SETTLE_RULE)


def steady(c: Cell) -> Steady:
    kept = sum(len(r.step_ms) for r in c.runs)
    excluded = sum(len(r.warmup_step_ms) for r in c.runs)
    total_ms = sum(r.train_time_s or 0.0 for r in c.runs) * 1e3
    warm_ms = sum(sum(r.warmup_step_ms) for r in c.runs)
    share = warm_ms / total_ms if total_ms > 0 else None
    return Steady(kept + excluded, excluded, share, sum(1 for r in c.runs if r.settled is False))


def suite_device(s: Suite) -> str:
    """The suite's device: its plan's, or for a converted file (no plan) its records'."""
    if s.plan is not None:
        return s.plan.device
    return s.results[0].device if s.results else "cpu"


def suite_device_model(s: Suite) -> str:
    return env.device_model(s.environment, suite_device(s))


def grouped(suites: Sequence[Suite], settings: Callable[[Suite, Result], str] | None = None) -> list[Cell]:
    """The cells in the order their first run appears; `settings(suite, result)` splits them further
    (fwbench compare keeps runs made with other settings apart)."""
    groups: dict[tuple[str, ...], list[Result]] = {}
    cpus: dict[tuple[str, ...], int | None] = {}
    for s in suites:
        model = suite_device_model(s)
        n = s.environment.get("cpu_count_logical")
        for r in s.results:
            key = (context(r), r.workload, r.backend, r.device, model, settings(s, r) if settings else "")
            groups.setdefault(key, []).append(r)
            cpus[key] = cpus.get(key) or n
    out = []
    for key, rs in groups.items():
        ok = [r for r in rs if r.ok]
        status, reason = ("ok", "") if ok else (rs[0].status, rs[0].reason)
        out.append(Cell(*key[:5], status, reason, ok, [r for r in rs if not r.ok], cpus[key], key[5]))
    return out


def cells(suites: Sequence[Suite]) -> list[Cell]:
    """The cells by device model, then workload (the registry's order, unknown names after it), then
    scenario (train first), then backend (the registry's order)."""
    order = {b: i for i, b in enumerate(BACKENDS)}
    wl_order = {w: i for i, w in enumerate(WORKLOADS)}

    def rank(c: Cell) -> tuple[str, int, str, bool, str, int]:
        return (
            c.device_model,
            wl_order.get(c.workload, len(wl_order)),
            c.workload,
            c.scenario != DEFAULT_SCENARIO,
            c.scenario,
            order.get(c.backend, len(order)),
        )

    return sorted(grouped(suites), key=rank)


def names_scenarios(cs: Iterable[Cell]) -> bool:
    """Whether the cells hold more than one scenario (then the scenario is named wherever a workload is)."""
    return len({c.scenario for c in cs}) > 1


def by_workload(cs: Sequence[Cell]) -> dict[tuple[str, str, str], list[Cell]]:
    """{(device model, scenario, workload): its cells}."""
    out: dict[tuple[str, str, str], list[Cell]] = {}
    for c in cs:
        out.setdefault((c.device_model, c.scenario, c.workload), []).append(c)
    return out


def same_place(a: Cell, b: Cell) -> bool:
    """Two backends' cells that may be compared: one scenario, workload, device and device model."""
    return (a.scenario, a.workload, a.device, a.device_model) == (b.scenario, b.workload, b.device, b.device_model)


def baseline_of(cs: Sequence[Cell], c: Cell) -> Cell | None:
    return next((x for x in cs if x.backend == BASELINE_BACKEND and same_place(x, c)), None)


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


def is_busy(load: float, cpus: int | None) -> bool:
    return bool(cpus) and load > BUSY_LOAD_PER_CPU * cpus  # type: ignore[operator]


def busy_load(rs: Iterable[Result], cpus: int | None) -> float | None:
    """The highest load average the runs recorded if it says the host was busy, else None."""
    top = max((x for r in rs for x in r.load_avg_1m), default=None)
    return top if top is not None and is_busy(top, cpus) else None


# --- the headline summary -----------------------------------------------------------------


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


def tier_of(c: Cell) -> str:
    """The cell's backend tier (bench.core.backends.BackendInfo.tier); an unregistered backend counts as tuned."""
    info = BACKENDS.get(c.backend)
    return info.tier if info else "tuned"


@dataclass(frozen=True)
class TierComparison:
    """One workload out of the box and tuned: per framework the fastest cell of each backend tier."""

    workload: str
    scenario: str
    device_model: str
    fastest: dict[tuple[str, str], Cell]  # (framework, tier) -> the tier's fastest ok cell

    def cell(self, framework: str, tier: str) -> Cell | None:
        return self.fastest.get((framework, tier))

    def ratio(self, tier: str) -> Ratio | None:
        """TensorFlow / PyTorch step time within one tier (above 1: PyTorch faster)."""
        pt, tf = self.cell("torch", tier), self.cell("tensorflow", tier)
        return ratio(tf, pt) if pt is not None and tf is not None else None


def tier_comparisons(cs: Sequence[Cell]) -> list[TierComparison]:
    """Workloads that ran a default-tier and a tuned backend of some framework: what a user gets from
    the documented path against the fastest path one opts into."""
    out = []
    for (model, scenario, workload), group in by_workload(cs).items():
        best = {
            (fw, tier): cell
            for fw in ("torch", "tensorflow")
            for tier in ("default", "tuned")
            if (cell := fastest([c for c in group if tier_of(c) == tier], fw)) is not None
        }
        if any((fw, "default") in best and (fw, "tuned") in best for fw in ("torch", "tensorflow")):
            out.append(TierComparison(workload, scenario, model, best))
    return out


KERAS_COLUMNS = ("Keras on TensorFlow", "Keras on JAX", "Keras on PyTorch", "PyTorch eager", "PyTorch fastest")


@dataclass(frozen=True)
class KerasComparison:
    """One workload on every Keras 3 backend beside native PyTorch (the Keras team's own comparison):
    per column of KERAS_COLUMNS the fastest ok cell."""

    workload: str
    scenario: str
    device_model: str
    fastest: dict[str, Cell]

    def ratio(self, a: str, b: str) -> Ratio | None:
        """Step time of column a / column b (above 1: b faster)."""
        ca, cb = self.fastest.get(a), self.fastest.get(b)
        return ratio(ca, cb) if ca is not None and cb is not None else None


def keras_column(c: Cell) -> str | None:
    """The cell's column in the Keras 3 backend table: by its Keras backend, or native PyTorch eager."""
    info = BACKENDS.get(c.backend)
    if info is None:
        return None
    if info.keras_backend is not None:
        return {"tensorflow": "Keras on TensorFlow", "jax": "Keras on JAX", "torch": "Keras on PyTorch"}[
            info.keras_backend
        ]
    return "PyTorch eager" if info.tier == "default" else None


def keras_comparisons(cs: Sequence[Cell]) -> list[KerasComparison]:
    """Workloads with an ok cell of Keras on JAX or on PyTorch: the Keras 3 backend table's rows."""
    out = []
    for (model, scenario, workload), group in by_workload(cs).items():
        best = {
            col: cell
            for col in KERAS_COLUMNS[:4]
            if (cell := fastest_ok(c for c in group if keras_column(c) == col)) is not None
        }
        native = fastest(group, "torch")
        if native is not None:
            best["PyTorch fastest"] = native
        if "Keras on JAX" in best or "Keras on PyTorch" in best:
            out.append(KerasComparison(workload, scenario, model, best))
    return out


def speed_only(c: Cell) -> bool:
    """The run's profile is too short to reach the target (Workload.quick_speed_only, as its record states it;
    the registry's value for records written before the field existed), or there is no target."""
    r = c.runs[0]
    if r.target is None or step_budget(r):
        return True
    label = r.workload_spec.get("quick_speed_only")
    if label is None:
        spec = WORKLOADS.get(r.workload)
        label = spec is not None and spec.quick_speed_only
    return bool(r.profile == "quick" and label and not epochs_override(r))


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
class PrecisionComparison:
    """One backend on one workload in a lower precision beside its own fp32 cell."""

    workload: str
    device_model: str
    backend: str
    precision: str
    fp32: Cell | None
    cell: Cell

    def speedup(self) -> Ratio | None:
        """fp32 step time / this precision's (above 1: the lower precision is faster), with the verdict rule."""
        if self.fp32 is None or not self.fp32.ok or not self.cell.ok:
            return None
        sa, sb, run_level = step_samples(self.fp32, self.cell)
        r = stats.step_ratio(sa, sb, run_level)
        if r is None:
            return None
        why = why_no_verdict(self.fp32, self.cell)
        return Ratio(*r, run_level=run_level, significant=not why and stats.significant(r), why_not=why)

    def metric_change(self) -> float | None:
        """Mean final metric in this precision minus in fp32 (None: speed only, or a side without one)."""
        if self.fp32 is None or not self.fp32.ok or not self.cell.ok or speed_only(self.cell):
            return None
        a, b = list(self.fp32.metric_by_seed().values()), list(self.cell.metric_by_seed().values())
        return float(np.mean(b) - np.mean(a)) if a and b else None


def precision_comparisons(cs: Sequence[Cell]) -> list[PrecisionComparison]:
    """Every cell in a precision other than fp32, with the same backend's fp32 cell of its workload (if run)."""
    fp32 = {(c.device_model, c.base_scenario, c.workload, c.backend): c for c in cs if c.precision == "fp32"}
    return [
        PrecisionComparison(
            c.workload,
            c.device_model,
            c.backend,
            c.precision,
            fp32.get((c.device_model, c.base_scenario, c.workload, c.backend)),
            c,
        )
        for c in cs
        if c.precision != DEFAULT_PRECISION
    ]


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


def provenance(ds: dict[str, Any]) -> str:
    """'synthetic', 'real' or 'simulated': where a dataset's samples came from (its results record)."""
    source = str(ds.get("source", ""))
    if ds.get("synthetic") or source.startswith("synthetic"):
        return "synthetic"
    if source.startswith("gymnasium"):
        return "simulated"
    return "real" if source else "unknown"
