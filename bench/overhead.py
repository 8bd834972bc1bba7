"""`fwbench overhead`: does the harness distort what it measures?

For each (workload, backend), a bare training loop written as a user would (impls/<fw>/bare.py:
a plain torch loop, a plain tf.function step; one clock read before and after the whole loop)
and the harness (per-step clock, adapter, batches made and moved between steps, evaluation
between epochs) train on the same batches after the same warm-up, each in its own process,
interleaved (bare, harness, harness, bare, ...) over the repeats. The figure is the ratio of
mean ms per step, harness / bare, with a bootstrap CI over repeats. Goal: <= 1.02.
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
    bare_ms: list[float]  # per repeat, mean ms per step
    harness_ms: list[float]

    def ratio(self) -> tuple[float, float, float] | None:
        return stats.ratio_of_medians(self.harness_ms, self.bare_ms)


def side(plan: SuitePlan, mode: str, workload: str, backend: str) -> float:
    with tempfile.TemporaryDirectory(prefix="fwbench-overhead-") as tmp:
        out = Path(tmp, "out.json")
        args = ["overhead", mode, backend, workload, plan.device, str(plan.threads), "5", str(out)]
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", *args], env=worker_env(plan), capture_output=True, text=True,
            timeout=plan.time_limit_s, check=False,
        )  # fmt: skip
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"overhead {mode} {workload}/{backend} failed: {tail(proc.stderr, 6)}")
        return float(json.loads(out.read_text())["ms_per_step"])


def run(plan: SuitePlan, progress: Any = None) -> list[OverheadRow]:
    data: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in range(plan.repeats):
        for w in plan.workloads:
            for b in plan.backends:
                order = ("bare", "harness") if r % 2 == 0 else ("harness", "bare")
                for mode in order:
                    if progress:
                        progress(f"{w} / {b} / {mode} #{r}")
                    data.setdefault((w, b), {"bare": [], "harness": []})[mode].append(side(plan, mode, w, b))
    return [OverheadRow(w, b, d["bare"], d["harness"]) for (w, b), d in data.items()]


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
                "repeats": str(len(row.bare_ms)),
            }
        )
    return pd.DataFrame(out)


def to_json(rows: list[OverheadRow], plan: SuitePlan) -> dict[str, Any]:
    return {
        "plan": plan.to_dict(),
        "goal": GOAL,
        "rows": [
            {"workload": r.workload, "backend": r.backend, "bare_ms": r.bare_ms, "harness_ms": r.harness_ms,
             "ratio": r.ratio()}
            for r in rows
        ],
    }  # fmt: skip
