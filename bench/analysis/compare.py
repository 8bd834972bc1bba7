"""Regression tracking: `fwbench compare BASELINE CURRENT [--history PATH ...]`.

Each side's results are grouped into bench/analysis/cells.py's cells, matched by (scenario, workload,
backend, device model, settings): the device model is the GPU name on cuda and the CPU model on cpu
(bench.machine.env.device_model), the settings are the plan's profile, init, threads, determinism, seed and
epoch override and the workload's spec. Baselines are per device model: a baseline from one GPU model
is never compared with a run on another (bad input, exit 2). For each match three quantities are judged:

- step time (lower is better): the ratio current / baseline of the geometric means of the per-run
  medians, with a 95% interval of the difference of their logs (`step_decision`, calibrated at every
  run count by an A/A test, tests/test_compare.py; docs/METHODOLOGY.md has the rates):
  - >= 2 runs on both sides: Welch's t on the log per-run medians, the verdict rule's
    (bench.core.stats.ratio_of_run_medians): the between-run spread is in the data;
  - a side with 1 run: the between-run spread is not in the data, so it is taken from elsewhere:
    the pooled SD of log per-run medians of this cell (same scenario, workload, backend, device model)
    over every group of >= 2 runs of it in the inputs (a side's own repeats) and in `history` (earlier
    results files on the same machine, `--history`; each file's runs a group, so that a code change
    between files is never taken for noise). The interval is then t on the log difference with that
    SD, se = SD x sqrt(1/n_current + 1/n_baseline), df = the SD's degrees of freedom (sum of n - 1), which
    must be at least MIN_SPREAD_DF (4: e.g. 5 runs, or two files of 3): the SD of only 3 runs of a cell
    whose runs fall in two clusters (torch-eager mlp-iris) is often small by chance, and 5.3% of simulated
    A/A pairs were then called a regression (1.8% at df 4);
  - no such spread (or df < MIN_SPREAD_DF): the verdict is "not known" (never a regression), with the runs a side that would
    decide it (2 a side, and about how many find a threshold-sized change at a typical spread).
  The raw steps of one run are never compared with another's: within-run noise is several times smaller
  than between-run noise, and that rule called 37% of pairs of runs of the same code a regression.
  A contended run (bench.machine.contention: other processes took cores it asked for) or a busy host
  (cells.busy_load: the 1-min load average at a run's start or end above BUSY_LOAD_PER_CPU x logical CPUs)
  makes the step-time verdict "inconclusive", whatever the change;
- peak memory (lower is better) and the workload's metric (higher is better): ratio of medians
  over runs, with Welch's interval on logs (a bootstrap where a value is <= 0) when both sides have >= 3
  runs, else the threshold alone.

A change is a regression (or an improvement) only when the interval of the ratio excludes 1 *and* the
relative change is at least the threshold (default 5%). A backend that ran before and now fails
is a regression. Exit code: 1 on any regression, 0 otherwise; bad input raises UsageError (2).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from bench.analysis import cells
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
TYPICAL_LOG_SD = 0.13  # median log SD of a cell's per-run medians in results/example (issue 33): for advice only
MIN_SPREAD_DF = 4  # a spread from fewer degrees of freedom is not used: 3 runs of a two-cluster cell (mlp-iris) mislead
POWER = 0.8  # the advice's "runs a side that find a threshold-sized change": this often
SETTING_KEYS = ("profile", "init", "threads", "interop_threads", "deterministic", "seed", "seeds", "epochs_override")
REGRESSION, IMPROVEMENT, UNCHANGED, INCONCLUSIVE = "REGRESSION", "improvement", "unchanged", "inconclusive"
NOT_KNOWN = "not known"  # one run a side and no measured between-run spread: the data cannot tell


@dataclass(frozen=True)
class Key:
    """What makes two results comparable."""

    scenario: str
    workload: str
    backend: str
    device_model: str
    settings: str  # canonical JSON of the plan settings and the workload spec


@dataclass(frozen=True)
class Spread:
    """A cell's between-run spread: the pooled SD of the logs of its per-run medians, and its degrees of
    freedom (sum of n - 1 over the groups of runs it came from)."""

    log_sd: float
    df: int


SpreadKey = tuple[str, str, str, str]  # (scenario, workload, backend, device model): a cell whatever its settings


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


@dataclass(frozen=True)
class StepDecision:
    """step_decision's answers, arrays of one shape: the ratio current / baseline, its 95% interval (nan where
    not known) and the verdict (REGRESSION, IMPROVEMENT, UNCHANGED or NOT_KNOWN)."""

    ratio: np.ndarray
    low: np.ndarray
    high: np.ndarray
    verdict: np.ndarray


def step_decision(
    log_current: np.ndarray,
    log_baseline: np.ndarray,
    threshold: float,
    spread_sd: np.ndarray | float | None = None,
    spread_df: int = 0,
) -> StepDecision:
    """The step-time rule (module docstring) on log per-run medians, vectorised over leading axes:
    log_current (..., n_current), log_baseline (..., n_baseline); the A/A tests run thousands of simulated
    comparisons through it. spread_sd (a scalar or shape (...)) with spread_df: the cell's between-run log
    SD measured elsewhere, used only where a side has a single run."""
    lc, lb = np.asarray(log_current, dtype=np.float64), np.asarray(log_baseline, dtype=np.float64)
    nc, nb = lc.shape[-1], lb.shape[-1]
    diff = lc.mean(axis=-1) - lb.mean(axis=-1)
    q = 0.5 + stats.CONFIDENCE / 2
    if nc >= 2 and nb >= 2:  # Welch's t on the logs (Welch-Satterthwaite df), as stats.ratio_of_run_medians
        vc, vb = lc.var(axis=-1, ddof=1) / nc, lb.var(axis=-1, ddof=1) / nb
        se = np.sqrt(vc + vb)
        safe = se > 0
        df = np.where(safe, (vc + vb) ** 2 / np.where(safe, vc**2 / (nc - 1) + vb**2 / (nb - 1), 1.0), 1.0)
        half = np.where(safe, scipy_stats.t.ppf(q, df) * se, 0.0)
    elif spread_sd is not None and spread_df >= MIN_SPREAD_DF:  # t with the spread measured elsewhere
        half = scipy_stats.t.ppf(q, spread_df) * np.asarray(spread_sd, dtype=np.float64) * math.sqrt(1 / nc + 1 / nb)
    else:
        half = np.full(diff.shape, np.nan)
    half = np.broadcast_to(half, diff.shape)
    known = ~np.isnan(half)
    ratio, low, high = np.exp(diff), np.exp(diff - half), np.exp(diff + half)
    worse = known & (low > 1.0) & (ratio - 1.0 >= threshold)
    better = known & (high < 1.0) & (ratio - 1.0 <= -threshold)
    verdict = np.where(~known, NOT_KNOWN, np.where(worse, REGRESSION, np.where(better, IMPROVEMENT, UNCHANGED)))
    return StepDecision(ratio, low, high, verdict)


def runs_to_tell(threshold: float, log_sd: float = TYPICAL_LOG_SD, power: float = POWER) -> int:
    """About how many runs a side find a change of `threshold` `power` of the time at a between-run log SD
    `log_sd` (two-sided 5%, normal approximation: n = 2 (z_0.975 + z_power)^2 sd^2 / log(1 + threshold)^2)."""
    z = scipy_stats.norm.ppf(0.5 + stats.CONFIDENCE / 2) + scipy_stats.norm.ppf(power)
    return max(2, math.ceil(2 * z**2 * log_sd**2 / math.log1p(threshold) ** 2))


def spread_key(key: Key) -> SpreadKey:
    return (key.scenario, key.workload, key.backend, key.device_model)


def spreads(sources: Sequence[dict[Key, Cell]]) -> dict[SpreadKey, Spread]:
    """Each cell's between-run spread: the SD of the logs of per-run medians pooled over every group of >= 2
    runs (a cell of one source: one side, or one history file) of that (scenario, workload, backend, device
    model)."""
    squares: dict[SpreadKey, float] = {}
    dfs: dict[SpreadKey, int] = {}
    for source in sources:
        for key, cell in source.items():
            logs = np.log([m for m in cell.per_run_medians() if m > 0])
            if logs.size >= 2:
                k = spread_key(key)
                squares[k] = squares.get(k, 0.0) + float(((logs - logs.mean()) ** 2).sum())
                dfs[k] = dfs.get(k, 0) + int(logs.size) - 1
    return {k: Spread(math.sqrt(squares[k] / dfs[k]), dfs[k]) for k in squares}


def history_sources(history: Sequence[Suite], inputs: Sequence[Suite]) -> list[dict[Key, Cell]]:
    """One grouping per history file, without the runs that are also inputs (a file is not read twice)."""

    def ident(r: Result) -> tuple[Any, ...]:
        return (r.run_id, r.scenario, r.workload, r.backend, r.device, r.seed, r.repeat)

    seen = {ident(r) for s in inputs for r in s.results}
    return [group([dataclasses.replace(h, results=[r for r in h.results if ident(r) not in seen])]) for h in history]


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


def step_note(nb: int, nc: int, spread: Spread | None, threshold: float) -> str:
    """What the step-time interval rests on where a side has a single run."""
    if min(nb, nc) >= 2:
        return ""
    if spread is None or spread.df < MIN_SPREAD_DF:
        measured = f" (df {spread.df} < {MIN_SPREAD_DF})" if spread else ""
        return (
            f"one run a side and no measured between-run spread of this cell{measured} (--history, or repeats): "
            f">= 2 runs a side would tell; about {runs_to_tell(threshold)} a side find a {threshold:.0%} change "
            f"{POWER:.0%} of the time at a typical log SD {TYPICAL_LOG_SD}"
        )
    return f"between-run log SD {spread.log_sd:.3f} measured on this cell elsewhere (df {spread.df})"


def step_time_row(key: Key, b: Cell, c: Cell, threshold: float, spread: Spread | None) -> Row:
    bs = [m for m in b.per_run_medians() if m > 0]
    cs = [m for m in c.per_run_medians() if m > 0]
    change, ci, verdict, note = None, None, NOT_KNOWN, "no step times"
    if bs and cs:
        d = step_decision(
            np.log(cs), np.log(bs), threshold, spread.log_sd if spread else None, spread.df if spread else 0
        )
        change, verdict = float(d.ratio) - 1.0, str(d.verdict)
        ci = (float(d.low), float(d.high)) if verdict != NOT_KNOWN else None
        note = step_note(len(bs), len(cs), spread, threshold)
    if doubts(b, c):  # untrusted times say nothing either way: neither a change nor "unchanged" (docs/METHODOLOGY.md)
        verdict, note = INCONCLUSIVE, doubts(b, c)
    return Row(
        key.workload,
        key.backend,
        "batch-1 latency p50" if key.scenario.split()[0] in ("infer", "export") else "median step time",
        fmt_runs(float(np.median(bs)) if bs else None, len(b.runs), " ms"),
        fmt_runs(float(np.median(cs)) if cs else None, len(c.runs), " ms"),
        change,
        ci,
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


def compare(
    baseline: Sequence[Suite],
    current: Sequence[Suite],
    threshold: float = DEFAULT_THRESHOLD,
    history: Sequence[Suite] = (),
) -> Comparison:
    """Judge current against baseline; `history`: earlier results on the same machine, read only for each
    cell's between-run spread (where a side has one run)."""
    if not 0 < threshold < 1:
        raise UsageError(f"--threshold must be between 0 and 1 (a fraction such as 0.05), got {threshold}")
    base, cur = group(baseline), group(current)
    common = [k for k in cur if k in base]
    if not common:
        raise UsageError(why_nothing_matches(base, cur))
    spread = spreads([base, cur, *history_sources(history, [*baseline, *current])])
    rows: list[Row] = []
    for key in common:
        b, c = base[key], cur[key]
        st = status_row(key, b, c)
        if st:
            rows.append(st)
        if not (b.ok and c.ok):
            continue
        metric_name = c.runs[0].metric_name or "metric"
        rows.append(step_time_row(key, b, c, threshold, spread.get(spread_key(key))))
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
        f"95% CI of the ratio current/baseline excludes 1 and the change is at least {c.threshold:.0%}. Step time: "
        "the CI holds the between-run spread (from the runs with 2 or more a side, else measured on the cell in "
        "the inputs or --history; without it the answer is not known). Step time and memory: higher is worse; "
        f"the metric: lower is worse; memory and the metric get a CI with {MIN_RUNS_FOR_RUN_LEVEL_CI} runs a side.",
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
    verdicts_shown = (REGRESSION, IMPROVEMENT, INCONCLUSIVE, NOT_KNOWN, UNCHANGED)
    counts = {v: sum(r.verdict == v for r in c.rows) for v in verdicts_shown}
    lines.append(
        f"{counts[REGRESSION]} regression(s), {counts[IMPROVEMENT]} improvement(s), "
        f"{counts[INCONCLUSIVE]} inconclusive (busy host or contended runs), "
        f"{counts[NOT_KNOWN]} not known (one run a side, spread unknown), {counts[UNCHANGED]} unchanged"
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


def run(
    baseline: str,
    current: str,
    threshold: float,
    show_all: bool,
    markdown_path: str | None,
    history: Sequence[str] = (),
) -> int:
    base = pbjson.load_all_any(files_in(baseline))
    cur = pbjson.load_all_any(files_in(current))
    past = pbjson.load_all_any([f for h in history for f in files_in(h)]) if history else []
    result = compare(base, cur, threshold, past)
    text = render(result, show_all)
    print(text, end="")
    if markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(text)
    return 1 if result.regressions else 0
