"""What is already in the results folder, and what is left to run: the earlier suites under OUT/runs (read
once per `fwbench run`: the estimates' history before the run, the trend plot's after it), the suite that
`--resume RUN_ID` finishes, and the plan's runs that a suite has no record of."""

from __future__ import annotations

from pathlib import Path

from bench.core.errors import UsageError
from bench.core.plan import SuitePlan
from bench.core.spec import RunKey
from bench.planning.shard import Shard
from bench.records import results

RETRIED = ("failed", "timeout", "oom")  # what --retry-failed redoes (not diverged or unsupported: those are answers)


def read_runs(out: Path) -> dict[str, results.Suite]:
    """The results folder's suites by file name (OUT/runs/*.json, in name order), each read as `fwbench
    report` reads it (bench.records.pbjson.load_any: fwbench results or pytest-benchmark JSON); one that
    cannot be read is skipped (it only loses its times and its point in the trend plot)."""
    from bench.records import pbjson  # scipy, through the statistics: not for `fwbench list` or bad input

    found = {}
    for path in sorted((out / "runs").glob("*.json")):
        try:
            found[path.name] = pbjson.load_any(path)
        except (UsageError, OSError):
            continue
    return found


def runs_after(earlier: dict[str, results.Suite], path: Path, suite: results.Suite) -> list[results.Suite]:
    """The results folder's suites once this run wrote `suite` to `path`: the earlier ones (read_runs), with
    this run's file as it is now, in file name order."""
    return [s for _, s in sorted({**earlier, path.name: suite}.items())]


def resumed_suite(out: Path, run_id: str) -> tuple[results.Suite, SuitePlan]:
    """--resume RUN_ID: the suite of OUT/runs/RUN_ID.json and its plan, which still names registered workloads
    and backends; UsageError saying what is wrong with the id or the file otherwise."""
    if Path(run_id).name != run_id or run_id.startswith(".") or run_id.endswith(".json"):
        raise UsageError(
            f"--resume {run_id!r}: expected a run id (the name of a file under {out / 'runs'} without .json), "
            "with --out naming the results folder"
        )
    path = results.run_path(out, run_id)
    if not path.exists():
        raise UsageError(f"--resume {run_id!r}: no such run under {out / 'runs'}")
    suite = results.load(path)
    plan = suite.plan
    if plan is None:
        raise UsageError(f"{path}: converted from {suite.source.tool if suite.source else '?'}: nothing to resume")
    try:
        plan.check_registered()
    except UsageError as e:
        raise UsageError(f"{path}: its plan cannot be resumed: {e}") from None
    return suite, plan


def todo_runs(
    plan: SuitePlan, suite: results.Suite | None, retry_failed: bool = False, shard: Shard | None = None
) -> list[RunKey]:
    """The plan's runs (a shard's part of them) that the suite has no record of (with `retry_failed`: none
    but failures)."""
    skip = RETRIED if retry_failed else ()
    done = {r.key(plan.seed) for r in suite.results if r.status not in skip} if suite else set()
    return [k for k in (shard.part(plan.runs()) if shard else plan.runs()) if k not in done]


def describe_runs(plan: SuitePlan, todo: int) -> str:
    """'72 runs (8 workloads x 3 backends x 3 seeds)': what the plan multiplies out to."""
    factors = [
        (len(plan.workloads), "workload"),
        (len(plan.backends), "backend"),
        (plan.seeds, "seed"),
        (plan.repeats, "repeat"),
        (len(plan.scenarios), "scenario"),
        (len(plan.precisions), "precision"),
    ]
    shown = " x ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in factors if n > 1 or what == "workload")
    total = len(plan.runs())
    left = f"{todo} of {total} runs to do" if todo != total else f"{total} run{'s' if total != 1 else ''}"
    return f"{left} ({shown})"
