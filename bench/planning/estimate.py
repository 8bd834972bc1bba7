"""How long a plan will take, said before any of it is spent, and a plan fitted to a time budget.

A run's estimate is the median wall time (worker process, start to exit: `Result.wall_s`) of the same
run in earlier results files on this machine (same CPU model and device; same workload, backend,
scenario, precision, workers, profile and training budget, at any seed); a run never made here gets
DEFAULT_RUN_S. The suite adds FIXED_S for its work outside the runs. `fwbench run` prints the plan
with this estimate, its progress line counts down the same estimates, and `--budget MINUTES` drops
runs until the estimate fits (fit_to_budget). Only the registries are imported: no framework.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.core import backends
from bench.core.plan import SuitePlan
from bench.core.spec import RunKey
from bench.records.results import Result, Suite

# A run never made on this machine: the mean worker wall time of the default run's 72 runs on the project's
# 2-core machine (2026-12-03, fresh clone, cold cache: 441 s; results/example); an estimate, said to be one.
DEFAULT_RUN_S = 6.0
# The suite's own work outside the runs: the idle-CPU sample, the environment, the matmul peaks (cached after
# the first suite), the initial weights (cached) and the report with its plots.
FIXED_S = 15.0

HistoryKey = tuple[str, str, str, str, int, int, str, str, int | None, int | None]


def history_key(plan: SuitePlan, key: RunKey) -> HistoryKey:
    """What makes two runs take the same time (the seed and repeat do not)."""
    return (
        key.workload,
        key.backend,
        key.scenario,
        key.precision,
        key.workers,
        key.nodes,
        plan.device,
        plan.profile,
        plan.steps,
        plan.epochs_override,
    )


def result_key(suite: Suite, r: Result) -> HistoryKey | None:
    if suite.plan is None:
        return None
    return history_key(suite.plan, r.key(suite.plan.seed))


@dataclass(frozen=True)
class Estimate:
    """Seconds per planned run, and where each came from."""

    per_run_s: dict[RunKey, float]
    measured: int  # runs whose estimate comes from earlier results on this machine
    fixed_s: float = FIXED_S

    @property
    def total_s(self) -> float:
        return self.fixed_s + sum(self.per_run_s.values())

    def describe(self) -> str:
        planned = len(self.per_run_s)
        guessed = planned - self.measured
        source = (
            f"from earlier runs on this machine for {self.measured} of {planned}"
            + (f", {DEFAULT_RUN_S:g} s each for the other {guessed} (never run here)" if guessed else "")
            if self.measured
            else f"{DEFAULT_RUN_S:g} s a run: none was run here before"
        )
        return f"about {minutes(self.total_s)} ({source})"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def history(suites: Iterable[Suite], cpu_model: str) -> dict[HistoryKey, list[float]]:
    """Worker wall times of finished runs in earlier suites measured on this CPU model, by history_key."""
    out: dict[HistoryKey, list[float]] = {}
    for s in suites:
        if s.environment.get("cpu_model") != cpu_model:
            continue
        for r in s.results:
            k = result_key(s, r)
            if k is not None and r.status in ("ok", "unsupported", "diverged") and r.wall_s:
                out.setdefault(k, []).append(r.wall_s)
    return out


def estimate(plan: SuitePlan, runs: Sequence[RunKey], past: dict[HistoryKey, list[float]]) -> Estimate:
    per_run: dict[RunKey, float] = {}
    measured = 0
    for key in runs:
        seen = past.get(history_key(plan, key))
        per_run[key] = statistics.median(seen) if seen else DEFAULT_RUN_S
        measured += bool(seen)
    return Estimate(per_run, measured)


def fit_to_budget(
    plan: SuitePlan, past: dict[HistoryKey, list[float]], budget_s: float
) -> tuple[SuitePlan, list[str], Estimate]:
    """The plan cut until its estimate fits `budget_s`, what was left out (in words), and the new estimate.

    What goes first keeps the headline answer longest: (1) a framework's documented-default backend where the
    plan also has a tuned one of that framework (keras-fit beside keras), then other backends from the last
    named, keeping one per framework; (2) then workloads, the costliest first, keeping one. Seeds and repeats
    are never cut: fewer runs than the verdict rule needs would give no verdict at all."""
    left_out: list[str] = []

    def cost(p: SuitePlan) -> Estimate:
        return estimate(p, p.runs(), past)

    current = plan
    while cost(current).total_s > budget_s:
        drop = droppable_backend(current.backends)
        if drop is None:
            break
        current = dataclasses.replace(current, backends=tuple(b for b in current.backends if b != drop))
        left_out.append(f"backend {drop}")
    while cost(current).total_s > budget_s and len(current.workloads) > 1:
        per_workload = {w: 0.0 for w in current.workloads}
        for key, s in cost(current).per_run_s.items():
            per_workload[key.workload] += s
        drop = max(current.workloads, key=lambda w: per_workload[w])
        current = dataclasses.replace(current, workloads=tuple(w for w in current.workloads if w != drop))
        left_out.append(f"workload {drop} (about {minutes(per_workload[drop])})")
    return current, left_out, cost(current)


def droppable_backend(names: Sequence[str]) -> str | None:
    """The next backend fit_to_budget leaves out, or None when each framework has one left."""
    by_framework: dict[str, list[str]] = {}
    for b in names:
        by_framework.setdefault(backends.get(b).framework, []).append(b)
    for group in by_framework.values():  # a default-tier path beside a tuned one of the same framework
        tiers = {backends.get(b).tier for b in group}
        if len(group) > 1 and tiers == {"default", "tuned"}:
            return next(b for b in reversed(group) if backends.get(b).tier == "default")
    for b in reversed(names):
        if len(by_framework[backends.get(b).framework]) > 1:
            return b
    return None
