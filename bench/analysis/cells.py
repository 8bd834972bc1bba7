"""From results to cells: the runs grouped by what they measured, each cell's medians, memory and steady
state, and the baseline a cell is compared with. The verdict rule and the headline summary are
bench/analysis/verdicts.py's, the side comparisons (out of the box vs tuned, Keras 3 backends, precision)
bench/analysis/comparisons.py's; bench/report renders them and bench/analysis/compare.py matches cells of two
sets of results and judges them; the text is bench/core/formatting.py's.

Rules (docs/METHODOLOGY.md, "Verdicts"):

- A cell is one (scenario, workload, backend, device, device model) over its runs (repeats and seeds).
  Scenarios (train, inference ...) never mix: a baseline or a ratio is always within one scenario. A run
  in a precision other than fp32 is its own scenario for this purpose, "train bf16" (`context`): the
  precision table compares it with its fp32 cell, and nothing else mixes precisions.
- A cell's step-time CI is over its per-run medians where it has MIN_RUNS_FOR_RUN_LEVEL_CI runs or more
  (run-to-run noise inside the CI), else over the raw steady-state steps pooled (within-run noise only).
- A host is busy when a run's 1-min load average exceeds BUSY_LOAD_PER_CPU x its logical CPUs; a run is
  contended when other processes took cores it asked for (bench.machine.contention). Neither is trusted for time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.core import stats
from bench.core.backends import BACKENDS
from bench.core.spec import layout
from bench.core.workloads import WORKLOADS
from bench.machine import env
from bench.records.results import Memory, Result, Suite

BASELINE_BACKEND = "torch-eager"
MIN_RUNS_FOR_RUN_LEVEL_CI = 3
BUSY_LOAD_PER_CPU = 1.5  # a 1-min load average above this x logical CPUs: an oversubscribed host
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
    def contention_unknown(self) -> list[Result]:
        """Runs whose contention was not measured (`contended` null or absent: /proc/stat unreadable, or a
        converted file): unknown, never quiet (docs/METHODOLOGY.md), so no verdict rests on them."""
        return [r for r in self.runs if contention_unknown(r)]

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
        """Median step time and its 95% CI: with >= 3 runs the median of the per-run medians and the 95%
        t-interval of their centre on the log scale (stats.log_t_interval: run-to-run noise inside it; the
        [min, max] of 3 runs would cover 75%, not 95%), else the median of the raw steps pooled and its
        bootstrap CI (within-run noise only)."""
        sample = self.timing_sample(self.run_level)
        if not sample:  # e.g. a source that kept only summary statistics
            return self.median_of("median_step_ms"), None
        if self.run_level:
            ci = stats.log_t_interval(sample)
            med = float(np.median(sample))
            return med, list(ci) if ci is not None else [med, med]
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


def contention_unknown(r: Result) -> bool:
    """Whether the run's record does not say if it was contended (Result.contended reads that as False)."""
    return r.cpu.get("contended") is None


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


def is_busy(load: float, cpus: int | None) -> bool:
    return bool(cpus) and load > BUSY_LOAD_PER_CPU * cpus  # type: ignore[operator]


def busy_load(rs: Iterable[Result], cpus: int | None) -> float | None:
    """The highest load average the runs recorded if it says the host was busy, else None."""
    top = max((x for r in rs for x in r.load_avg_1m), default=None)
    return top if top is not None and is_busy(top, cpus) else None


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


def provenance(ds: dict[str, Any]) -> str:
    """'synthetic', 'real' or 'simulated': where a dataset's samples came from (its results record)."""
    source = str(ds.get("source", ""))
    if ds.get("synthetic") or source.startswith("synthetic"):
        return "synthetic"
    if source.startswith("gymnasium"):
        return "simulated"
    return "real" if source else "unknown"
