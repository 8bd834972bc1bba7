"""The report's Per workload section: per workload (device model, scenario) a table with a row per backend,
the answer's columns (metric, time to target, step time, the ratio, runs) first and the rest in a Details
table, a line saying what was trained, and the legend. Also `training_cells`: the cells of the training
scenarios, which this section, the summary, the side comparisons and the plots show.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis import cells
from bench.analysis.cells import (
    BASELINE_BACKEND,
    MIN_RUNS_FOR_RUN_LEVEL_CI,
    Cell,
    baseline_of,
    by_workload,
    names_scenarios,
    provenance,
    steady,
)
from bench.analysis.verdicts import ratio_vs_baseline
from bench.core.backends import BACKENDS, FRAMEWORK_OF
from bench.core.formatting import blank_missing, fmt, fmt_ratio, markdown, one_line, spread, workload_label
from bench.records.results import Suite
from bench.report import deployment, input_pipeline, time_breakdown

MEMORY_SHORT = {"peak_rss": "RSS", "allocator_peak": "allocator"}


def framework_label(backend: str) -> str:
    info = BACKENDS.get(backend)
    return FRAMEWORK_OF.get(info.framework, "?") if info else "?"


def metric_text(c: Cell) -> str:
    """The final metric: median over seeds, with the range over seeds where there are several."""
    return spread(list(c.metric_by_seed().values()))


def time_to_target(c: Cell) -> str:
    budget = cells.step_budget(c.runs[0])
    if budget:
        return f"speed only (--steps {budget})"
    if c.runs[0].target is None:
        return "-"
    if cells.speed_only(c):
        return f"speed only ({c.runs[0].profile} profile)"
    tta = [r.time_to_target_s for r in c.runs]
    reached = [t for t in tta if t is not None]
    if not reached:
        return "not reached"
    text = spread(reached)
    return text if len(reached) == len(tta) else f"{text}; {len(tta) - len(reached)} of {len(tta)} not reached"


def runs_text(c: Cell) -> str:
    """'3', '3 (1 contended)', or '2 of 3 (1 timeout)' where runs failed: figures come from the ok runs only."""
    contended = f" ({len(c.contended)} contended)" if c.contended else ""
    seeds = c.seeds()
    per_seed = f", {len(seeds)} seeds" if len(seeds) > 1 else ""
    if not c.failed:
        return f"{len(c.runs)}{per_seed}{contended}"
    counts = collections.Counter(r.status for r in c.failed)
    failed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{len(c.runs)} of {len(c.runs) + len(c.failed)} ({failed}){per_seed}{contended}"


def gflops(c: Cell) -> str:
    g = c.median_of("achieved_gflops")
    if g is None:
        return "-"
    frac = c.median_of("peak_fraction")
    return fmt(g) + (f" ({frac:.0%})" if frac is not None else "")


def step_text(c: Cell) -> str:
    """Median [95% CI]; the mean over every step after the first beside it where it lies outside the CI."""
    med, ci = c.step_time()
    text = f"{fmt(med)} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else fmt(med)
    mean = c.mean_step_ms()
    if ci and mean is not None and not ci[0] <= mean <= ci[1]:
        text += f"; mean {fmt(mean)}"
    return text


def steady_text(c: Cell) -> str:
    """'212 of 220 (warm-up 3% of time)', plus how many runs never settled."""
    st = steady(c)
    if st.steps == 0:
        return "-"
    share = f" (warm-up {st.excluded_time_share:.0%} of time)" if st.excluded_time_share is not None else ""
    unsettled = f"; {st.unsettled_runs} run(s) never settled" if st.unsettled_runs else ""
    return f"{st.steps - st.excluded} of {st.steps}{share}{unsettled}"


def memory_text(c: Cell) -> str:
    """'training / process peak MiB (kind)': what training added, beside the whole process's peak."""
    mem, kind = c.memory()
    if mem is None:
        return "-"
    train = c.training_memory()
    if kind == "allocator_peak" or train is None:
        return f"{fmt(mem)} ({MEMORY_SHORT.get(kind, kind)})"
    return f"{fmt(train)} / {fmt(mem)} ({MEMORY_SHORT.get(kind, kind)})"


def headline(cs: Sequence[Cell]) -> pd.DataFrame:
    """One workload's rows (cells of one workload and device model): a row per backend."""
    rows: list[dict[str, Any]] = []
    metric_col = next((c.runs[0].metric_name for c in cs if c.ok), "metric") or "metric"
    for c in cs:
        row: dict[str, Any] = {"backend": c.backend, "framework": framework_label(c.backend)}
        if not c.ok:
            row[metric_col] = f"{c.status}: {one_line(c.reason)}"
            rows.append(row)
            continue
        r0 = c.runs[0]
        med, _ = c.step_time()
        row.update(
            {
                metric_col: metric_text(c),
                "time to target (s)": time_to_target(c),
                "step ms (median [95% CI])": step_text(c),
                f"vs {BASELINE_BACKEND}": fmt_ratio(ratio_vs_baseline(c, baseline_of(cs, c))),
                "samples/s": fmt(r0.samples_per_step / (med / 1e3) if med and r0.samples_per_step else None),
                "train / peak MiB": memory_text(c),
                "first step ms": fmt(c.median_of("first_step_ms")),
                "GFLOP/s": gflops(c),
                "steady steps": steady_text(c),
                "runs": runs_text(c),
            }
        )
        if any(r.energy.joules is not None for r in c.runs):  # GPU runs: NVML's energy counter
            row["J/step (J to target)"] = energy_text(c)
        rows.append(row)
    return blank_missing(pd.DataFrame(rows))


def energy_text(c: Cell) -> str:
    """Median GPU joules per step over the runs, and to the target where it was reached."""
    per_step = [r.energy.per_step_j for r in c.runs if r.energy.per_step_j is not None]
    to_target = [r.energy.to_target_j for r in c.runs if r.energy.to_target_j is not None]
    text = fmt(float(np.median(per_step))) if per_step else "-"
    return text + (f" ({fmt(float(np.median(to_target)))})" if to_target else "")


def dataset_text(ds: dict[str, Any], fallback: str) -> str:
    """'`cifar10` (synthetic: oriented gratings ..., 1500 train / 500 test)': the data's provenance where it is named."""
    kind = provenance(ds)
    detail = ds.get("generator") or (ds.get("source") if kind != "synthetic" else "")
    sizes = f"{ds['train']} train / {ds['test']} test" if "train" in ds and "test" in ds else ""
    inside = ", ".join(x for x in (f"**{kind}**" + (f": {detail}" if detail else ""), sizes) if x)
    return f"`{ds.get('name', fallback)}` ({inside})"


def workload_line(cs: Sequence[Cell]) -> str:
    """What was trained, from the first ok run's record."""
    r = next((c.runs[0] for c in cs if c.ok), None)
    if r is None:
        return "No backend finished a run of this workload."
    spec, ds = r.workload_spec, r.dataset
    opt = spec.get("optimizer", {})
    params = f", {r.num_params:,} parameters" if r.num_params else ""
    override = cells.epochs_override(r)
    budget = cells.step_budget(r)
    epochs = override or {"quick": spec.get("quick_epochs"), "standard": spec.get("epochs")}.get(r.profile)
    profile_text = f"{r.profile} profile" + (f", --epochs {override}" if override else "")
    epochs_text = f", {epochs} epochs ({profile_text})" if epochs else f", {r.steps} timed steps ({r.profile})"
    target = f"; target {r.metric_name} ≥ {fmt(r.target)}" if r.target is not None else ""
    c0 = next(c for c in cs if c.ok)
    if budget:
        epochs_text = f", a budget of {budget} steps (--steps)"
        target = (
            "; **speed and memory only**: a step budget measures the steady state, with no evaluation and no target"
        )
    elif r.target is not None and cells.speed_only(c0):
        target += f" (**speed only in the {r.profile} profile**: its budget is too short to reach the target)"
    return (
        f"Model `{spec.get('model', '?')}` on {dataset_text(ds, spec.get('dataset', '?'))}{params}; "
        f"batch {spec.get('batch_size', '?')}, {opt.get('name', '?')} lr {fmt(opt.get('lr'))}{epochs_text}{target}."
    )


# The per-workload columns that go to its second table ("Details"), so that the first reads as text: the
# answer's columns (metric, time to target, step time, the ratio, runs) stay in the first.
DETAIL_COLUMNS = ("samples/s", "train / peak MiB", "first step ms", "GFLOP/s", "steady steps", "J/step (J to target)")


def headline_section(cs: Sequence[Cell]) -> list[str]:
    if not cs:
        return []  # no training scenario: the Deployment section has the workloads
    groups = by_workload(cs)
    models = sorted({m for m, _, _ in groups})
    named = names_scenarios(cs)
    lines = ["## Per workload", ""]
    for (model, scenario, workload), group in groups.items():
        if scenario != cells.DEFAULT_SCENARIO and all(c.status == "unsupported" for c in group):
            continue  # a precision nothing could run here: the precision table names it and why
        title = f"### {workload_label(workload, scenario, named)}" + (f" on {model}" if len(models) > 1 else "")
        table = headline(group)
        core = [c for c in table.columns if c not in DETAIL_COLUMNS]
        detail = ["backend", *[c for c in table.columns if c in DETAIL_COLUMNS]]
        lines += [title, "", workload_line(group), "", markdown(table[core]), ""]
        if len(detail) > 1:
            lines += ["Details:", "", markdown(table[detail]), ""]
    any_within = any(c.ok and not c.run_level for c in cs)
    lines += [
        "Metric: median over seeds (range over seeds in brackets where there are several). Step time: median of "
        "the steady-state training steps (first step and warm-up excluded), then the median over runs; its 95% CI "
        f"is Student's t on the log per-run medians where a backend has {MIN_RUNS_FOR_RUN_LEVEL_CI} or more runs "
        "(the interval of their geometric mean), else a bootstrap CI over the raw steps"
        + (" (within-run noise only: `--seeds 3` or `--repeats 3` adds run-to-run noise)" if any_within else "")
        + "; `mean` follows where the mean of every step after the first lies outside that CI (slow steps the "
        f"median hides). `vs {BASELINE_BACKEND}`: ratio of median step times (below 1 is faster; with "
        f"{MIN_RUNS_FOR_RUN_LEVEL_CI}+ runs a side, of the geometric means of the per-run medians); `*` only where "
        f"both sides have {MIN_RUNS_FOR_RUN_LEVEL_CI}+ runs, none contended, and Welch's t-test on the log per-run "
        "medians gives p < 0.05 (its 95% CI excludes 1; docs/METHODOLOGY.md states the rule's false-verdict rate): "
        "a single run is never starred. samples/s: samples per step / median step time. Memory: "
        "training / process peak, MiB: on CPU what training added to the worker's RSS (peak minus RSS after "
        "imports and data) beside the whole peak RSS, which includes the framework's own libraries; on GPU the "
        "framework allocator's peak. First step: where tracing, scripting or compilation happens. GFLOP/s: "
        "analytic FLOPs per step / median step time (in brackets: share of this device's measured float32 "
        "matmul peak, the best of both frameworks). Steady steps: steps counted in the median of all timed steps "
        "after the first, and the warm-up's share of training time. Time to target: training-step time (first "
        "step included, evaluation excluded) until the metric first reached the target, median (range) over "
        "runs. See docs/METHODOLOGY.md and docs/REPORTS.md.",
        "",
    ]
    return lines


def training_cells(suites: Sequence[Suite]) -> list[Cell]:
    """The cells of the training scenarios (train, distributed); the infer and export scenarios have the
    Deployment section (bench/report/deployment.py), the pipeline and profile scenarios their own
    (bench/report/input_pipeline.py, bench/report/time_breakdown.py)."""
    others = (*deployment.SCENARIOS, input_pipeline.SCENARIO, time_breakdown.SCENARIO)
    return [c for c in cells.cells(suites) if c.base_scenario not in others]
