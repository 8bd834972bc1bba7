"""`fwbench run --budget MINUTES`: the plan fitted to the minutes given (bench.planning.estimate.fit_to_budget,
from this machine's earlier runs), what was left out said on stderr and recorded in the plan."""

from __future__ import annotations

import dataclasses
import sys

from bench.core.plan import SuitePlan
from bench.planning import estimate


def fit_plan(plan: SuitePlan, past: dict[estimate.HistoryKey, list[float]], budget_min: float) -> SuitePlan:
    """--budget: the plan fitted to the minutes given, said on stderr, and recorded in the plan."""
    fitted, left_out, cost = estimate.fit_to_budget(plan, past, budget_min * 60)
    said = f"fwbench: --budget {budget_min:g} min: " + (f"left out {'; '.join(left_out)}; " if left_out else "")
    if cost.total_s <= budget_min * 60:
        said += f"the plan fits (about {estimate.minutes(cost.total_s)})"
    else:
        said += (
            f"about {estimate.minutes(cost.total_s)}, over the budget: one workload and one backend per "
            "framework at the runs a verdict needs is as small as it goes (--steps N to go smaller)"
        )
    print(said, file=sys.stderr)
    return dataclasses.replace(fitted, budget_s=budget_min * 60, left_out=tuple(left_out))
