"""`fwbench run --budget MINUTES`: the plan fitted to the minutes given (bench.planning.estimate.fit_to_budget,
from this machine's earlier runs), what was left out said on stderr and recorded in the plan; and `--max-runs N`,
the adaptive runs that spend what is left of the budget where the answer is open (bench.launching.adaptive)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from bench.core.errors import UsageError
from bench.core.plan import DEFAULT_MAX_RUNS, MAX_RUNS_LIMIT, SuitePlan
from bench.planning import estimate
from bench.planning.shard import Shard

DEFAULT_RUN_BUDGET_MIN = 10.0  # the default run's budget: its adaptive runs stop when it is spent
# `fwbench run` flags that make a run other than the default one (all None by default)
NOT_DEFAULT = ("workloads", "backends", "scale", "precision", "steps", "scenario", "runtimes", "repeats", "seeds",
               "epochs", "budget", "max_runs", "data_dir", "time_limit", "shard", "resume")  # fmt: skip


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


def add_max_runs_argument(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        help="after the planned runs, add runs a side where the step-time answer is not yet known, most undecided "
        f"first, until it is decided, N runs a side, or --budget is spent; answers at the sequential rule's level "
        f"(docs/METHODOLOGY.md). N from --seeds x --repeats to {MAX_RUNS_LIMIT}; 0: off. Default: off, except the "
        f"default run (no selection flags): {DEFAULT_MAX_RUNS} within {DEFAULT_RUN_BUDGET_MIN:g} minutes. Not with --shard",
    )


def with_max_runs(args: argparse.Namespace, plan: SuitePlan, part: Shard | None) -> SuitePlan:
    """The plan with its adaptive cap: --max-runs N as given (refused with a shard: a shard decides nothing), or
    the default run's (DEFAULT_MAX_RUNS within DEFAULT_RUN_BUDGET_MIN, said on stderr); a resumed run keeps its
    own plan's."""
    if args.resume:
        return plan
    if args.max_runs:
        if part is not None:
            raise UsageError(
                f"--max-runs adds runs where the whole plan's answer is open, and shard {part} decides nothing: run "
                "the shards without it (`fwbench merge` joins their planned runs), or run unsharded"
            )
        return dataclasses.replace(plan, max_runs=args.max_runs)
    if args.max_runs is None and part is None and all(getattr(args, k, None) is None for k in NOT_DEFAULT):
        if args.profile == "quick" and args.device == "cpu":
            print(
                f"fwbench: the default run adds runs where the answer is open, up to {DEFAULT_MAX_RUNS} a side within "
                f"{DEFAULT_RUN_BUDGET_MIN:g} minutes (--max-runs 0: off)",
                file=sys.stderr,
            )
            return dataclasses.replace(plan, max_runs=DEFAULT_MAX_RUNS, budget_s=DEFAULT_RUN_BUDGET_MIN * 60)
    return plan
