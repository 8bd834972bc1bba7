"""`fwbench run --max-runs N`: after the planned runs, runs added where the answer is still open.

The comparisons are the Summary's step-time questions (bench.analysis.verdicts.workload_verdicts), recomputed here
from the suite's records (the launcher sits below analysis): per workload of the train scenario (and precision),
the fastest PyTorch backend against the fastest TensorFlow one (headline backends, the median of their per-run
medians). Each round judges every comparison at the sequential rule's level (bench.core.sequential.decide, the
level of a cap of N); one that is decided, at the cap (N runs made a side), or that the rule cannot judge (a
contended run, a run of unknown contention, no spread) stops; the open ones, most undecided first (the widest
interval for the margin), get one more run a side while the budget's estimate allows, in a seeded order. Every
comparison's runs and why it stopped go into the suite's `adaptive` records (stop_records), which the report shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core import backends, sequential
from bench.core.plan import SuitePlan
from bench.core.spec import RunKey
from bench.planning.estimate import DEFAULT_RUN_S, FIXED_S
from bench.records.results import Result, Suite

DECIDED, CAP, BUDGET, NO_VERDICT = "decided", "cap", "budget", "no verdict"  # why a comparison stopped


@dataclass(frozen=True)
class Comparison:
    """One workload's step-time question: the fastest backend of each framework and their records so far."""

    workload: str
    scenario: str
    precision: str
    torch: str
    tf: str
    torch_runs: tuple[Result, ...]  # every record of the backend in this group, ok or not (the cap counts tries)
    tf_runs: tuple[Result, ...]

    def medians(self, side: Sequence[Result]) -> list[float]:
        return [r.median_step_ms for r in side if r.ok and r.median_step_ms is not None]

    @property
    def runs(self) -> tuple[int, int]:
        return len(self.torch_runs), len(self.tf_runs)

    def judge(self, margin: float, cap: int) -> tuple[str | None, tuple[float, float, float] | None, str]:
        """(answer, ratio TF / PT with its interval, why it cannot be judged or "")."""
        if any(r.cpu.get("contended") is not False for r in (*self.torch_runs, *self.tf_runs) if r.ok):
            return None, None, "a contended run, or one of unknown contention"
        decided = sequential.decide(self.medians(self.tf_runs), self.medians(self.torch_runs), margin, cap)
        if decided is None:
            return None, None, "too few ok runs or no spread"
        return decided[0], decided[1], ""

    def cost_s(self) -> float:
        """The estimate of one more run a side: the mean worker wall time of each side's runs so far."""
        return sum(
            float(np.mean([r.wall_s for r in s if r.wall_s] or [DEFAULT_RUN_S]))
            for s in (self.torch_runs, self.tf_runs)
        )


def comparisons(suite: Suite) -> list[Comparison]:
    """The suite's comparisons in the order of its plan's workloads."""
    groups: dict[tuple[str, str, str], dict[str, list[Result]]] = {}
    for r in suite.results:
        info = backends.BACKENDS.get(r.backend)
        if r.scenario != "train" or r.workers != 1 or r.nodes != 1 or info is None or not info.headline:
            continue
        groups.setdefault((r.workload, r.scenario, r.precision), {}).setdefault(r.backend, []).append(r)
    out = []
    for (workload, scenario, precision), cells in groups.items():
        best: dict[str, str] = {}
        for framework in ("torch", "tensorflow"):
            timed = {
                b: float(np.median(m))
                for b, rs in cells.items()
                if backends.get(b).framework == framework
                and (m := [r.median_step_ms for r in rs if r.ok and r.median_step_ms])
            }
            if timed:
                best[framework] = min(timed, key=lambda b: timed[b])
        if len(best) == 2:
            pt, tf = best["torch"], best["tensorflow"]
            out.append(Comparison(workload, scenario, precision, pt, tf, tuple(cells[pt]), tuple(cells[tf])))
    return out


def stop_records(
    suite: Suite, margin: float, cap: int, budget_left: bool
) -> tuple[list[dict[str, Any]], list[Comparison]]:
    """Each comparison's record (runs a side, answer, why it stopped, or "open") and the open ones, most
    undecided first. `budget_left`: False marks the open ones stopped by the budget."""
    records, open_ = [], []
    for c in comparisons(suite):
        answer, r, why = c.judge(margin, cap)
        if why:
            stopped = NO_VERDICT
        elif answer != sequential.UNKNOWN:
            stopped = DECIDED
        elif min(c.runs) >= cap:
            stopped = CAP
        else:
            stopped = "open" if budget_left else BUDGET
            open_.append((sequential.openness(r, margin) if r else 0.0, c))
        records.append(
            {
                "workload": c.workload,
                "scenario": c.scenario,
                "precision": c.precision,
                "torch": c.torch,
                "tensorflow": c.tf,
                "runs": list(c.runs),
                "answer": answer,
                "ratio": list(r) if r else None,
                "stopped": stopped,
                "why": why,
                "max_runs": cap,
                "margin": margin,
            }
        )
    open_.sort(key=lambda oc: -oc[0])
    return records, [c for _, c in open_]


def spent_s(suite: Suite) -> float:
    """The suite's time so far by its records (every worker's wall time, and the suite's own work): what counts
    against --budget, across --resume."""
    return FIXED_S + sum(r.wall_s or 0.0 for r in (*suite.results, *suite.redone))


def next_round(plan: SuitePlan, suite: Suite, open_: Sequence[Comparison], round_number: int) -> list[RunKey]:
    """One more run a side of each comparison in `open_` that the budget's estimate still allows (all of them
    without a budget), most undecided first; the runs in a seeded order. Each run is a new key: the plan's seeds
    in turn, the next free repeat index of that seed."""
    left = None if plan.budget_s is None else plan.budget_s - spent_s(suite)
    chosen: list[Comparison] = []
    for c in open_:
        if left is not None:
            if c.cost_s() > left:
                continue
            left -= c.cost_s()
        chosen.append(c)
    keys = []
    for c in chosen:
        for backend, tried in ((c.torch, c.torch_runs), (c.tf, c.tf_runs)):
            seed = plan.seed_values()[len(tried) % plan.seeds]
            same = (c.workload, backend, seed, c.scenario, c.precision)
            used = [r.repeat for r in suite.results if (r.workload, r.backend, r.seed, r.scenario, r.precision) == same]
            keys.append(RunKey(c.workload, backend, seed, max(used, default=-1) + 1, c.scenario, c.precision))
    block = f"{plan.seed}|adaptive|{round_number}"
    return sorted(keys, key=lambda k: hashlib.sha256(f"{block}|{k.workload}|{k.backend}".encode()).hexdigest())
