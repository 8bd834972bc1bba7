"""`fwbench overhead`: does the harness distort what it measures?

For each (workload, backend), a bare training loop written as a user would (impls/<fw>/bare.py:
a plain torch loop, a plain tf.function step; one clock read around a block of steps) and the
harness (per-step clock, adapter, batches made and moved ahead of the steps, evaluation between
epochs) train on the same batches in the same worker process, in alternating blocks (harness,
bare, bare, harness, ...; bench.worker.overhead_blocks), after one warm-up block each. Pairing
inside one process removes process-to-process noise (memory layout, thread placement), which
on a 2-core machine is larger than the effect being measured. `repeats` such processes per
(workload, backend) add the process-to-process spread back into the interval.

The figure is the median over block pairs of harness / bare (block means, ms per step), with a
bootstrap 95% CI over the pairs of all processes (bench.stats.paired_ratio). Goal: <= 1.02.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import stats
from bench.launch import SuitePlan, tail, worker_env

GOAL = 1.02


@dataclass(frozen=True)
class OverheadRow:
    workload: str
    backend: str
    bare_ms: list[float]  # per block, all processes: mean ms per step
    harness_ms: list[float]  # harness_ms[i] and bare_ms[i] ran side by side in one process (a pair)
    processes: int
    steps_per_block: int

    def ratio(self) -> tuple[float, float, float] | None:
        return stats.paired_ratio(self.harness_ms, self.bare_ms)


def blocks_in_process(plan: SuitePlan, workload: str, backend: str, blocks: int, bare_first: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fwbench-overhead-") as tmp:
        out = Path(tmp, "out.json")
        order = "bare-first" if bare_first else "harness-first"
        args = ["overhead", backend, workload, plan.device, str(plan.threads), str(blocks), order, str(out)]
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", *args], env=worker_env(plan), capture_output=True, text=True,
            timeout=plan.time_limit_s, check=False,
        )  # fmt: skip
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"overhead {workload}/{backend} failed: {tail(proc.stderr, 6)}")
        return dict(json.loads(out.read_text()))


def run(plan: SuitePlan, blocks: int, progress: Any = None) -> list[OverheadRow]:
    """`plan.repeats` worker processes per (workload, backend), interleaved across backends; odd
    processes build the bare loop's model first and start with a bare block."""
    got: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in range(plan.repeats):
        for w in plan.workloads:
            for b in plan.backends:
                if progress:
                    progress(f"{w} / {b} / process {r + 1} of {plan.repeats}")
                got.setdefault((w, b), []).append(blocks_in_process(plan, w, b, blocks, bare_first=r % 2 == 1))
    return [
        OverheadRow(
            w, b, [x for d in ds for x in d["bare_ms"]], [x for d in ds for x in d["harness_ms"]], len(ds),
            ds[0]["steps_per_block"],
        )
        for (w, b), ds in got.items()
    ]  # fmt: skip


def table(rows: list[OverheadRow]) -> pd.DataFrame:
    out = []
    for row in rows:
        ratio = row.ratio()
        out.append(
            {
                "workload": row.workload,
                "backend": row.backend,
                "bare ms/step": f"{np.median(row.bare_ms):.4g}",
                "harness ms/step": f"{np.median(row.harness_ms):.4g}",
                "harness/bare [95% CI]": "-" if ratio is None else f"{ratio[0]:.3f} [{ratio[1]:.3f}, {ratio[2]:.3f}]",
                f"<= {GOAL}": "-" if ratio is None else ("yes" if ratio[0] <= GOAL else "NO"),
                "blocks x steps": f"{len(row.bare_ms)} x {row.steps_per_block}",
                "processes": str(row.processes),
            }
        )
    return pd.DataFrame(out)


def to_json(rows: list[OverheadRow], plan: SuitePlan) -> dict[str, Any]:
    return {
        "plan": plan.to_dict(),
        "goal": GOAL,
        "rows": [
            {"workload": r.workload, "backend": r.backend, "bare_ms": r.bare_ms, "harness_ms": r.harness_ms,
             "processes": r.processes, "steps_per_block": r.steps_per_block, "ratio": r.ratio()}
            for r in rows
        ],
    }  # fmt: skip
