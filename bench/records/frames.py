"""Results as a pandas DataFrame, for analysis in a notebook: `bench.records.frames.to_frame(suites)`.

Kept out of bench.records.results so that worker processes, which write results, never import pandas.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pandas as pd

from bench.records.results import Suite

SCALAR_COLUMNS = (
    "run_id",
    "workload",
    "backend",
    "framework",
    "device",
    "profile",
    "repeat",
    "status",
    "reason",
    "pid",
    "metric_name",
    "metric",
    "target",
    "final_loss",
    "num_params",
    "samples_per_step",
    "steps",
    "first_step_ms",
    "median_step_ms",
    "mean_step_ms",
    "iqr_step_ms",
    "throughput_samples_s",
    "train_time_s",
    "time_to_target_s",
    "epochs_to_target",
    "flops_per_step",
    "achieved_gflops",
)


def to_frame(suites: Iterable[Suite]) -> pd.DataFrame:
    """One row per result: the scalar fields, CI bounds, memory figures, and the raw step list."""
    rows = []
    for s in suites:
        for r in s.results:
            row: dict[str, Any] = {c: getattr(r, c) for c in SCALAR_COLUMNS}
            row["created_at"] = s.created_at
            row["ci95_low_ms"], row["ci95_high_ms"] = r.ci95_step_ms if r.ci95_step_ms else (None, None)
            mem = dataclasses.asdict(r.memory)
            figures = {**{k: v for k, v in mem.items() if k.endswith("_mib")}, **mem["device"]}
            row.update({f"mem_{k}": v for k, v in figures.items() if v is not None})
            row["memory_kind"] = r.memory.kind or None
            row["step_ms"] = r.step_ms
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else [*SCALAR_COLUMNS, "created_at"])
