"""Regression tracking: `fwbench compare BASELINE CURRENT`.

Each side's results are grouped into bench/analysis/cells.py's cells, matched by (scenario, workload,
backend, device model, settings): the device model is the GPU name on cuda and the CPU model on cpu
(bench.machine.env.device_model), the settings are the plan's profile, init, threads, determinism, seed and
epoch override and the workload's spec. Baselines are per device model: a baseline from one GPU model
is never compared with a run on another (bad input, exit 2). For each match three quantities are judged:

- step time (lower is better): the ratio of median step times, current / baseline, with a 95%
  bootstrap CI (bench.core.stats.ratio_of_medians) over bench/analysis/verdicts.py's step-time samples:
  with >= 3 runs on both sides the per-run medians, so run-to-run noise is inside the interval; with fewer the raw
  steps (within-run noise only), and the minimum change is doubled, since run-to-run drift of one
  run per side is not measured. A contended run (bench.machine.contention: other processes took cores it
  asked for) or a busy host (cells.busy_load: the 1-min load average at a run's start or end above
  BUSY_LOAD_PER_CPU x logical CPUs) makes the step-time verdict "inconclusive", whatever the change
  (a change inside the noise is not "unchanged" either when the times are not trusted);
- peak memory (lower is better) and the workload's metric (higher is better): ratio of medians
  over runs, with a bootstrap CI when both sides have >= 3 runs.

A change is a regression (or an improvement) only when the CI of the ratio excludes 1 *and* the
relative change is at least the threshold (default 5%). A backend that ran before and now fails
is a regression. Exit code: 1 on any regression, 0 otherwise; bad input raises UsageError (2).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis import cells, verdicts
from bench.analysis.cells import DEFAULT_SCENARIO, MIN_RUNS_FOR_RUN_LEVEL_CI, Cell
from bench.core import stats
from bench.core.errors import UsageError
from bench.core.formatting import (
    blank_missing,
    fmt_change,
    fmt_interval,
    fmt_runs,
    markdown,
    one_line,
    workload_label,
)
from bench.records import pbjson
from bench.records.results import Result, Suite

DEFAULT_THRESHOLD = 0.05
SINGLE_RUN_FACTOR = 2.0  # the minimum step-time change is this times the threshold with < 3 runs a side
SETTING_KEYS = ("profile", "init", "threads", "interop_threads", "deterministic", "seed", "seeds", "epochs_override")
REGRESSION, IMPROVEMENT, UNCHANGED, INCONCLUSIVE = "REGRESSION", "improvement", "unchanged", "inconclusive"


@dataclass(frozen=True)
class Key:
    """What makes two results comparable."""

    scenario: str
    workload: str
    backend: str
    device_model: str
    settings: str  # canonical JSON of the plan settings and the workload spec


@dataclass(frozen=True)
class Row:
    """One judged quantity of one matched (workload, backend)."""

    workload: str
    backend: str
    quantity: str
    baseline: str
    current: str
    change: float | None  # relative: current / baseline - 1
    ci: tuple[float, float] | None  # 95% CI of the ratio current / baseline
    verdict: str
    note: str = ""
    scenario: str = DEFAULT_SCENARIO


@dataclass(frozen=True)
class Comparison:
    rows: list[Row]
    baseline_runs: list[str]
    current_runs: list[str]
    device_models: list[str]
    threshold: float
    only_baseline: list[Key]
    only_current: list[Key]

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == REGRESSION]


PLAN_DEFAULTS = {"seeds": 1}  # plan fields newer than some results files, at the value they had then
SPEC_LABELS = ("quick_speed_only",)  # workload spec fields that label a workload without changing the run


def settings_of(s: Suite, r: Result) -> str:
    given = s.plan.to_dict() if s.plan else {}
    plan = {k: given.get(k, PLAN_DEFAULTS.get(k)) for k in SETTING_KEYS}
    spec = {k: v for k, v in r.workload_spec.items() if k not in SPEC_LABELS}
    return json.dumps({"plan": plan, "device": r.device, "workload": spec}, sort_keys=True, default=str)


def per_runtime(r: Result) -> list[Result]:
    """An export run as one record per runtime, named by the runtime (onnx-torch, tflite ...), with the
    runtime's batch-1 latencies as its step times and its own status and metric, so that each runtime is
    judged like a backend. Every other run as it is."""
    if r.scenario != "export" or not r.deployment:
        return [r]
    return [
        dataclasses.replace(
            r,
            backend=d.runtime,
            status=d.status,
            reason=d.reason,
            step_ms=d.latency.samples_ms,
            median_step_ms=d.latency.p50_ms,
            ci95_step_ms=d.latency.ci95_p50_ms,
            metric=d.metric,
            deployment=[d],
        )
        for d in r.deployment
    ]


def group(suites: Sequence[Suite]) -> dict[Key, Cell]:
    """One side's cells by Key, in the order their first run appears (an export run: a cell per runtime)."""
    expanded = [dataclasses.replace(s, results=[x for r in s.results for x in per_runtime(r)]) for s in suites]
    return {
        Key(c.scenario, c.workload, c.backend, c.device_model, c.settings): c
        for c in cells.grouped(expanded, settings_of)
    }


def batch64_rate(r: Result) -> float | None:
    """Samples/s at batch 64 of an infer or export runtime (None for a training run)."""
    return r.deployment[0].throughput_samples_s.get("64") if r.deployment else None


def describe_settings(key: Key) -> dict[str, Any]:
    d = json.loads(key.settings)
    return {"scenario": key.scenario, **d["plan"], "device": d["device"], "workload spec": d["workload"]}


def why_nothing_matches(base: dict[Key, Cell], cur: dict[Key, Cell]) -> str:
    base_models = sorted({k.device_model for k in base})
    cur_models = sorted({k.device_model for k in cur})
    if not set(base_models) & set(cur_models):
        return (
            f"baseline is from {', '.join(map(repr, base_models))} and current from {', '.join(map(repr, cur_models))}: "
            "baselines are per device model and are never compared across models; use a baseline made on "
            f"{', '.join(map(repr, cur_models))}"
        )
    pairs = [
        (b, c)
        for b in base
        for c in cur
        if (b.workload, b.backend, b.device_model) == (c.workload, c.backend, c.device_model)
    ]
    if not pairs:
        return "no common runs: baseline and current share no (workload, backend) on the same device model"
    b, c = pairs[0]
    db, dc = describe_settings(b), describe_settings(c)
    diff = next(k for k in db if db[k] != dc.get(k))
    shown = (db[diff], dc.get(diff)) if diff != "workload spec" else ("one spec", "another")
    return (
        f"no common runs: {b.workload}/{b.backend} ran with different settings ({diff}: {shown[0]} in the "
        f"baseline, {shown[1]} now); only runs with equal settings are compared"
    )


def judge(
    ratio: tuple[float, float, float] | None, min_change: float, lower_is_better: bool, has_ci: bool
) -> tuple[float | None, str]:
    """Verdict from the ratio current/baseline: its CI must exclude 1 (where there is one) and the
    relative change must be at least min_change, in the same direction."""
    if ratio is None:
        return None, UNCHANGED
    point, lo, hi = ratio
    change = point - 1.0
    up = change >= min_change and (lo > 1.0 or not has_ci)
    down = change <= -min_change and (hi < 1.0 or not has_ci)
    worse, better = (up, down) if lower_is_better else (down, up)
    return change, REGRESSION if worse else IMPROVEMENT if better else UNCHANGED


def doubts(b: Cell, c: Cell) -> str:
    """Why the step times of a side are not trusted: a busy host, contended runs ("" when trusted)."""
    sides = (("baseline", b), ("current", c))
    notes = [
        f"{n} host busy (load {load:.1f} on {side.cpus} CPUs)"
        for n, side in sides
        if (load := cells.busy_load(side.runs, side.cpus)) is not None
    ]
    notes += [f"{n}: {len(side.contended)} of {len(side.runs)} runs contended" for n, side in sides if side.contended]
    return "; ".join(notes)


def step_time_row(key: Key, b: Cell, c: Cell, threshold: float) -> Row:
    cs, bs, run_level = verdicts.step_samples(c, b, summary_fallback=True)
    ratio = stats.step_ratio(cs, bs, run_level)
    min_change = threshold if run_level else threshold * SINGLE_RUN_FACTOR
    change, verdict = judge(ratio, min_change, lower_is_better=True, has_ci=True)
    note = doubts(b, c)
    if note:  # untrusted times say nothing either way: neither a change nor "unchanged" (docs/METHODOLOGY.md)
        verdict = INCONCLUSIVE
    return Row(
        key.workload,
        key.backend,
        "batch-1 latency p50" if key.scenario.split()[0] in ("infer", "export") else "median step time",
        fmt_runs(float(np.median(bs)) if bs else None, len(b.runs), " ms"),
        fmt_runs(float(np.median(cs)) if cs else None, len(c.runs), " ms"),
        change,
        (ratio[1], ratio[2]) if ratio else None,
        verdict,
        note,
        key.scenario,
    )


def per_run_row(
    key: Key,
    b: Cell,
    c: Cell,
    threshold: float,
    quantity: str,
    unit: str,
    values: Callable[[Result], float | None],
    lower_is_better: bool,
) -> Row | None:
    bv = [v for v in map(values, b.runs) if v is not None]
    cv = [v for v in map(values, c.runs) if v is not None]
    if not bv or not cv:
        return None
    has_ci = cells.enough_runs(len(bv), len(cv))
    bm, cm = float(np.median(bv)), float(np.median(cv))
    if bm <= 0:  # a ratio means nothing here (e.g. a return that can be negative)
        ratio, note = None, "baseline median <= 0: not judged"
    elif has_ci:  # the verdict rule where every value is positive (logs), else a bootstrap of the medians
        ratio, note = stats.ratio_of_run_medians(cv, bv) or stats.ratio_of_medians(cv, bv), ""
    else:  # no CI from fewer than 3 runs a side: the minimum change alone decides
        ratio, note = (cm / bm,) * 3, ""
    change, verdict = judge(ratio, threshold, lower_is_better=lower_is_better, has_ci=has_ci)
    return Row(
        key.workload,
        key.backend,
        quantity,
        fmt_runs(bm, len(bv), unit),
        fmt_runs(cm, len(cv), unit),
        change,
        (ratio[1], ratio[2]) if ratio and has_ci else None,
        verdict,
        note,
        key.scenario,
    )


def status_row(key: Key, b: Cell, c: Cell) -> Row | None:
    """A backend that ran before and now fails (or the reverse)."""

    def row(before: str, now: str, verdict: str, note: str) -> Row:
        return Row(key.workload, key.backend, "status", before, now, None, None, verdict, note, key.scenario)

    if b.ok and not c.ok and c.failures:
        return row("ok", c.failures[0].status, REGRESSION, one_line(c.failures[0].reason))
    if c.ok and not b.ok and b.failures:
        return row(b.status, "ok", IMPROVEMENT, "")
    return None


def compare(baseline: Sequence[Suite], current: Sequence[Suite], threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    if not 0 < threshold < 1:
        raise UsageError(f"--threshold must be between 0 and 1 (a fraction such as 0.05), got {threshold}")
    base, cur = group(baseline), group(current)
    common = [k for k in cur if k in base]
    if not common:
        raise UsageError(why_nothing_matches(base, cur))
    rows: list[Row] = []
    for key in common:
        b, c = base[key], cur[key]
        st = status_row(key, b, c)
        if st:
            rows.append(st)
        if not (b.ok and c.ok):
            continue
        metric_name = c.runs[0].metric_name or "metric"
        rows.append(step_time_row(key, b, c, threshold))
        for row in (
            per_run_row(key, b, c, threshold, "peak memory", " MiB", lambda r: cells.memory_of(r).peak_mib, True),
            per_run_row(key, b, c, threshold, metric_name, "", lambda r: r.metric, False),
            per_run_row(key, b, c, threshold, "samples/s at batch 64", "", batch64_rate, False),
        ):
            if row:
                rows.append(row)
    models = sorted({k.device_model for k in common})
    return Comparison(
        rows=rows,
        baseline_runs=[s.run_id for s in baseline],
        current_runs=[s.run_id for s in current],
        device_models=models,
        threshold=threshold,
        only_baseline=[k for k in base if k not in cur and k.device_model in models],
        only_current=[k for k in cur if k not in base],
    )


def render(c: Comparison, show_all: bool = False) -> str:
    shown = [r for r in c.rows if show_all or r.verdict != UNCHANGED]
    named = len({r.scenario for r in c.rows} | {k.scenario for k in (*c.only_baseline, *c.only_current)}) > 1
    lines = [
        "# fwbench compare",
        "",
        f"Baseline {', '.join(f'`{x}`' for x in c.baseline_runs)} vs current "
        f"{', '.join(f'`{x}`' for x in c.current_runs)} on {', '.join(c.device_models)}. A change counts when the "
        f"95% CI of the ratio current/baseline excludes 1 and the change is at least {c.threshold:.0%} "
        f"({c.threshold * SINGLE_RUN_FACTOR:.0%} for step time with fewer than {MIN_RUNS_FOR_RUN_LEVEL_CI} runs a "
        "side). Step time and memory: higher is worse; the metric: lower is worse.",
        "",
    ]
    if shown:
        df = pd.DataFrame(
            [
                {
                    "workload": workload_label(r.workload, r.scenario, named),
                    "backend": r.backend,
                    "quantity": r.quantity,
                    "baseline": r.baseline,
                    "current": r.current,
                    "change": fmt_change(r.change),
                    "95% CI of ratio": fmt_interval(r.ci),
                    "verdict": r.verdict,
                    "note": r.note,
                }
                for r in shown
            ]
        )
        lines += [markdown(blank_missing(df)), ""]
    counts = {v: sum(r.verdict == v for r in c.rows) for v in (REGRESSION, IMPROVEMENT, INCONCLUSIVE, UNCHANGED)}
    lines.append(
        f"{counts[REGRESSION]} regression(s), {counts[IMPROVEMENT]} improvement(s), "
        f"{counts[INCONCLUSIVE]} inconclusive (busy host or contended runs), {counts[UNCHANGED]} unchanged"
        + ("" if show_all or not counts[UNCHANGED] else " (not listed; --all lists them)")
        + f" over {len(c.rows)} comparisons."
    )
    for keys, where in ((c.only_baseline, "the baseline"), (c.only_current, "the current run")):
        if keys:
            names = ", ".join(
                dict.fromkeys(f"{workload_label(k.workload, k.scenario, named)}/{k.backend}" for k in keys)
            )
            lines.append(f"Not compared, only in {where} (or with other settings there): {names}.")
    for r in c.regressions:
        label = workload_label(r.workload, r.scenario, named)
        lines.append(f"REGRESSION: {label}/{r.backend} {r.quantity} {fmt_change(r.change)} {r.note}".rstrip())
    return "\n".join(lines) + "\n"


def files_in(arg: str) -> list[Path]:
    p = Path(arg)
    if p.is_dir():
        found = sorted(p.glob("*.json"))
        if not found:
            raise UsageError(f"{arg!r} is a folder without results files (*.json)")
        return found
    return [p]


def run(baseline: str, current: str, threshold: float, show_all: bool, markdown_path: str | None) -> int:
    base = pbjson.load_all_any(files_in(baseline))
    cur = pbjson.load_all_any(files_in(current))
    result = compare(base, cur, threshold)
    text = render(result, show_all)
    print(text, end="")
    if markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(text)
    return 1 if result.regressions else 0
