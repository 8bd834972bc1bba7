"""`fwbench overhead`: does the harness distort what it measures?

For each (workload, backend), a bare training loop written as a user would (impls/<fw>/bare.py:
a plain torch loop, a plain tf.function step) and the harness (per-step clock, adapter, batches
made and moved ahead of the steps, evaluation between epochs) train on the same batches in the
same worker process, in alternating blocks (harness, bare, bare, harness, ...;
bench.worker.overhead_blocks), after one warm-up block each. Every step of both is timed by the
same clock (bench.measure.harness), so both sides give what the harness reports: a median step time.
Pairing inside one process removes process-to-process noise (memory layout, thread placement),
which on a 2-core machine is larger than the effect being measured. `repeats` such processes per
(workload, backend) add the process-to-process spread back into the interval.

Two figures per cell, each the median over block pairs of harness / bare with a bootstrap 95% CI
over the pairs of all processes (bench.core.stats.paired_ratio):
- median step: the block medians' ratio. What the harness adds to the step time it reports; the
  goal (<= GOAL) is judged on it.
- mean step: the block means' ratio. Also counts the slow steps just after an evaluation or a
  burst of batch-making, which the median leaves out: what the harness costs in throughput.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.core import stats
from bench.core.plan import SuitePlan
from bench.core.spec import BackendOptions, OverheadJob
from bench.launching.spawn import Spawned, run_job

GOAL = 1.02


@dataclass(frozen=True)
class OverheadRow:
    workload: str
    backend: str
    bare_step_ms: list[list[float]]  # per block (all processes), every step's time
    harness_step_ms: list[list[float]]  # block i of each side ran next to the other's block i in one process
    processes: int
    steps_per_block: int

    def ratio(self, block_stat: Callable[[list[float]], float] = np.median) -> tuple[float, float, float] | None:
        """harness / bare of `block_stat` (np.median: the goal's figure; np.mean: throughput)."""
        h = [float(block_stat(b)) for b in self.harness_step_ms]
        return stats.paired_ratio(h, [float(block_stat(b)) for b in self.bare_step_ms])


def pooled_median_ms(blocks: list[list[float]]) -> float:
    """Median step time over every step of every block (ms)."""
    return float(np.median(np.concatenate(blocks)))


@dataclass(frozen=True)
class Failure:
    """A worker process of the check that did not finish: its cell, status ("timeout", "failed", "oom") and why."""

    workload: str
    backend: str
    process: int
    status: str
    reason: str

    def line(self) -> str:
        return f"{self.workload}/{self.backend} process {self.process}: {self.status}: {self.reason.splitlines()[0]}"


def blocks_in_process(
    plan: SuitePlan, workload: str, backend: str, blocks: int, bare_first: bool
) -> dict[str, Any] | Spawned:
    """One worker's blocks, or how the worker ended when it produced none (bench.launching.spawn.run_job)."""
    options = BackendOptions(plan.device, plan.threads, plan.interop_threads, plan.seed)
    doc, done = run_job(OverheadJob(backend, workload, options, blocks, bare_first), plan)
    return dict(doc) if doc is not None else done


def run(plan: SuitePlan, blocks: int, progress: Any = None) -> tuple[list[OverheadRow], list[Failure]]:
    """`plan.repeats` worker processes per (workload, backend), interleaved across backends; odd
    processes build the bare loop's model first and start with a bare block. A process that fails or
    runs past the plan's time limit is a Failure; the others still make their cell's row."""
    got: dict[tuple[str, str], list[dict[str, Any]]] = {}
    failures: list[Failure] = []
    for process in range(plan.repeats):
        for workload in plan.workloads:
            for backend in plan.backends:
                if progress:
                    progress(f"{workload} / {backend} / process {process + 1} of {plan.repeats}")
                outcome = blocks_in_process(plan, workload, backend, blocks, bare_first=process % 2 == 1)
                if isinstance(outcome, Spawned):
                    failures.append(
                        Failure(workload, backend, process + 1, outcome.status, outcome.reason or "no output")
                    )
                    if progress:
                        progress(failures[-1].line())
                else:
                    got.setdefault((workload, backend), []).append(outcome)
    rows = [
        OverheadRow(
            workload, backend, [ms for doc in docs for ms in doc["bare_step_ms"]],
            [ms for doc in docs for ms in doc["harness_step_ms"]], len(docs), docs[0]["steps_per_block"],
        )
        for (workload, backend), docs in got.items()
    ]  # fmt: skip
    return rows, failures


def ci_text(ratio: tuple[float, float, float] | None) -> str:
    return "-" if ratio is None else f"{ratio[0]:.3f} [{ratio[1]:.3f}, {ratio[2]:.3f}]"


def table(rows: list[OverheadRow]) -> pd.DataFrame:
    out = []
    for row in rows:
        median, mean = row.ratio(np.median), row.ratio(np.mean)
        out.append(
            {
                "workload": row.workload,
                "backend": row.backend,
                "bare median ms/step": f"{pooled_median_ms(row.bare_step_ms):.4g}",
                "harness median ms/step": f"{pooled_median_ms(row.harness_step_ms):.4g}",
                "harness/bare, median step [95% CI]": ci_text(median),
                f"<= {GOAL}": "-" if median is None else ("yes" if median[0] <= GOAL else "NO"),
                "harness/bare, mean step [95% CI]": ci_text(mean),
                "blocks x steps": f"{len(row.bare_step_ms)} x {row.steps_per_block}",
                "processes": str(row.processes),
            }
        )
    return pd.DataFrame(out)


def to_json(rows: list[OverheadRow], plan: SuitePlan, failures: list[Failure] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "plan": plan.to_dict(),
        "goal": GOAL,
        "failures": [vars(f) for f in failures],
        "rows": [
            {"workload": r.workload, "backend": r.backend, "bare_step_ms": r.bare_step_ms,
             "harness_step_ms": r.harness_step_ms, "processes": r.processes, "steps_per_block": r.steps_per_block,
             "ratio_median_step": r.ratio(np.median), "ratio_mean_step": r.ratio(np.mean)}
            for r in rows
        ],
    }  # fmt: skip
