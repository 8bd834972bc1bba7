"""The report's "The seed's comparison, measured" section: the measured counterparts of the seed overview's
qualitative PyTorch-vs-TensorFlow rows: execution mode (median and first-step times per backend), model
building (each twin's code lines, bench/report/codesize.py) and deployment (bench/report/deployment.py's row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bench.analysis import cells
from bench.analysis.cells import Cell, baseline_of, by_workload, names_scenarios
from bench.analysis.verdicts import ratio_vs_baseline
from bench.core.backends import BACKENDS
from bench.core.formatting import blank_missing, fmt, fmt_ratio, markdown, workload_label
from bench.records.results import Suite
from bench.report import codesize, deployment


def execution_mode_table(cs: Sequence[Cell]) -> pd.DataFrame:
    rows = []
    groups = by_workload(cs)
    several = len({m for m, _, _ in groups}) > 1
    named = names_scenarios(cs)
    for (model, scenario, workload), group in groups.items():
        label = workload_label(workload, scenario, named)
        row: dict[str, Any] = {"workload": f"{label} on {model}" if several else label}
        ok = [c for c in group if c.ok and c.step_time()[0] is not None]
        ran = {c.backend for c in cs}
        for b, label in ((info.name, info.label) for info in BACKENDS.values() if info.name in ran):
            c = next((x for x in group if x.backend == b), None)
            if c is None:
                row[label] = ""
            elif not c.ok:
                row[label] = c.status
            else:
                row[label] = f"{fmt(c.step_time()[0])} / {fmt(c.median_of('first_step_ms'))}"
        if ok:
            best = min(ok, key=lambda c: c.step_time()[0] or float("inf"))
            ratio = ratio_vs_baseline(best, baseline_of(group, best))
            row["fastest (vs torch-eager)"] = f"{best.backend} ({fmt_ratio(ratio)})"
        rows.append(row)
    return blank_missing(pd.DataFrame(rows))


def model_building_table(cs: Sequence[Cell]) -> pd.DataFrame:
    models: dict[str, list[str]] = {}
    for c in cs:
        if c.ok:
            m = c.runs[0].workload_spec.get("model")
            if m and c.workload not in models.setdefault(m, []):
                models[m].append(c.workload)
    rows = []
    for m, wls in models.items():
        sizes = codesize.twins(m)
        row: dict[str, Any] = {"model": m, "workloads": ", ".join(wls)}
        for fw, label in codesize.FRAMEWORK_DIRS.items():
            s = sizes.get(fw)
            row[f"{label} model definition"] = str(s.model_lines) if s else "-"
        for fw, label in codesize.FRAMEWORK_DIRS.items():
            s = sizes.get(fw)
            row[f"{label} twin module"] = str(s.twin_lines) if s else "-"
        rows.append(row)
    return blank_missing(pd.DataFrame(rows))


def seed_section(cs: Sequence[Cell], suites: Sequence[Suite] = ()) -> list[str]:
    """The seed table's measurable rows: execution mode (training cells), model building (every scenario's
    models) and deployment (export runs); a row without measurements is left out, and so is the section."""
    modes = execution_mode_table(cs)
    building = model_building_table(cells.cells(suites) if suites else cs)
    export_row = deployment.seed_row(suites)
    if modes.empty and building.empty and not export_row:
        return []
    lines = [
        "## The seed's comparison, measured",
        "",
        'The project\'s seed overview has a qualitative "PyTorch vs TensorFlow/Keras" table. These are the '
        "measured counterparts of the rows that a benchmark can measure.",
        "",
    ]
    if not modes.empty:
        lines += execution_mode_block(cs, modes)
    if not building.empty:
        lines += model_building_block(building)
    lines += export_row or [
        "**Deployment** (seed: PyTorch TorchScript, ONNX; TensorFlow SavedModel, TF Lite, Serving): not run in "
        "these results; `fwbench run --scenario export` measures it.",
        "",
    ]
    lines += [
        "The seed's rows on research popularity and libraries (TorchVision, TF Hub ...) are not measured by this "
        "benchmark and are left out.",
        "",
    ]
    return lines


def execution_mode_block(cs: Sequence[Cell], table: pd.DataFrame) -> list[str]:
    return [
        "**Execution mode** (seed: PyTorch dynamic/eager; TensorFlow/Keras static graph, optional eager). "
        "Median step ms / first step ms per execution mode; the first step carries the tracing, scripting or "
        "compilation cost. Keras' `fit` path traces a `tf.function` step by default; "
        + (
            "`run_eagerly=True` is TensorFlow's optional eager mode."
            if any(c.backend == "keras-eager" for c in cs)
            else "TensorFlow's optional eager mode (`keras-eager`) was not run here."
        ),
        "",
        markdown(table),
        "",
    ]


def model_building_block(table: pd.DataFrame) -> list[str]:
    return [
        "**Model building** (seed: PyTorch more control, manual; Keras simpler, less boilerplate). Code lines of "
        "each twin, counted from `impls/<framework>/<model>.py` by fwbench itself: a code line holds part of a "
        "statement (blank lines, comments and docstrings do not count). *Model definition*: `build` and the "
        "module-level functions and classes it uses. *Twin module*: every code line except imports and the keras "
        "twin's `layer_map` (the benchmark's weight mapping for the parity test), so training-step, optimizer and "
        "input-layout hooks count. Helpers shared by all twins of a framework (`common.py`) are not counted.",
        "",
        markdown(table),
        "",
    ]
