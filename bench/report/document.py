"""The report people read: results/REPORT.md and results/plots/*.png, from results files only.

`write(suites, out_dir, history)` draws the plots and writes REPORT.md; `render(suites, figures)`
returns the markdown. It renders bench/analysis/cells.py's cells (repeats of one scenario, workload, backend
and device model; docs/METHODOLOGY.md) with bench/core/formatting.py's text; `history` adds earlier runs for
the trend plot only. How to read
the report: docs/REPORTS.md. The only number not read from a results file is the code size of
each twin, counted from impls/ by bench/report/codesize.py.
"""

from __future__ import annotations

import collections
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis import cells
from bench.analysis.cells import (
    BASELINE_BACKEND,
    BUSY_LOAD_PER_CPU,
    MIN_RUNS_FOR_RUN_LEVEL_CI,
    Cell,
    baseline_of,
    by_workload,
    is_busy,
    names_scenarios,
    provenance,
    ratio_vs_baseline,
    steady,
    suite_device_model,
)
from bench.core.backends import BACKENDS, FRAMEWORK_OF
from bench.core.errors import UsageError
from bench.core.formatting import (
    blank_missing,
    fmt,
    fmt_ci,
    fmt_ratio,
    markdown,
    one_line,
    slug,
    spread,
    workload_label,
)
from bench.machine import contention, env
from bench.records import pbjson
from bench.records.results import Result, Suite
from bench.report import codesize, deployment, devices, input_pipeline, plots, scaling

PLOTS_DIR = "plots"
MEMORY_KINDS = {"peak_rss": "peak RSS of the worker process", "allocator_peak": "framework allocator peak"}
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
    how = f"{r.profile} profile" + (f", --epochs {override}" if override else "")
    epochs_text = f", {epochs} epochs ({how})" if epochs else f", {r.steps} timed steps ({r.profile})"
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
        "the steady-state training steps (first step and warm-up excluded); its 95% bootstrap CI is over the "
        f"per-run medians where a backend has {MIN_RUNS_FOR_RUN_LEVEL_CI} or more runs, else over the raw steps"
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


SUMMARY_HEADING = "## Summary: PyTorch vs TensorFlow"


def summary_section(cs: Sequence[Cell], suites: Sequence[Suite]) -> list[str]:
    """The headline answer, first in every report: the training scenarios' (per workload the fastest backend
    of each framework, then one cross-workload line), then the inference and export scenarios' (the fastest
    runtime of each framework per workload); [] when neither has a workload with both frameworks."""
    training = training_summary(cs, suites)
    deploy_lines = deployment.summary_lines(suites, alone=not training)
    if not training and not deploy_lines:
        return []
    return [SUMMARY_HEADING, "", *training, *deploy_lines]


def verdict_word(r: cells.Ratio | None, why_not: str = "") -> str:
    """Which side the rule finds faster or sooner (a ratio TF / PT): a framework, "tie" (no significant
    difference), or "no verdict" (the rule cannot judge: too few runs, contended)."""
    if r is None:
        return "-"
    if why_not or not r.run_level:
        return "no verdict"
    if not r.significant:
        return "tie"
    return "PyTorch" if r.value > 1 else "TensorFlow"


def training_summary(cs: Sequence[Cell], suites: Sequence[Suite]) -> list[str]:
    """The overall sentence; per workload one line that answers faster, sooner and leaner with the rule's
    verdicts (text that fits PROSE_WIDTH once wrapped); then a Details table with the ratios' intervals,
    the metric, memory and why a verdict is missing."""
    verdicts = cells.workload_verdicts(cs)
    if not verdicts:
        return []
    answers, details = [], []
    named = names_scenarios(cs)
    for v in verdicts:
        label = workload_label(v.workload, v.torch.scenario, named)
        label = label if len({x.device_model for x in verdicts}) == 1 else f"{label} on {v.device_model}"
        why = v.speed.why_not if v.speed is not None else ""
        sooner_why = v.sooner.why_not if v.sooner is not None and not v.speed_only else ""
        sooner = (
            "speed only"
            if v.speed_only
            else f"**{verdict_word(v.sooner, sooner_why)}** ({fmt_ratio(v.sooner)})"
            if v.sooner is not None
            else "-"
        )
        faster = f"**{verdict_word(v.speed, why)}** ({fmt_ratio(v.speed)})" if v.speed else "-"
        answers.append(
            f"- **{label}**, {v.torch.backend} vs {v.tf.backend}: faster {faster}, sooner {sooner}, "
            f"leaner {leaner_text(v.leaner)}"
        )
        notes = (
            [f"{why} (step time and time to target)"]
            if why and why == sooner_why
            else [f"step time: {why}"] * bool(why) + [f"time to target: {sooner_why}"] * bool(sooner_why)
        )
        if v.speed is not None and v.speed.runs_to_resolve:
            notes.append(f"about {v.speed.runs_to_resolve} runs a side would resolve a step-time difference this size")
        details.append(
            {
                "workload": label,
                "PyTorch": v.torch.backend,
                "TensorFlow": v.tf.backend,
                "step time TF / PT [95% CI]": fmt_ci(v.speed),
                "time to target TF / PT": "speed only" if v.speed_only else fmt_ci(v.sooner),
                "final metric TF − PT (Welch)": accuracy_text(v),
                "training MiB TF − PT (Welch)": memory_detail(v.leaner),
                "process peak MiB TF − PT": difference(v.peak_mib_tf, v.peak_mib_torch),
                "notes": "; ".join(notes),
            }
        )
    return [
        overall_sentence(verdicts, cs, suites),
        "",
        *answers,
        "",
        "Details:",
        "",
        markdown(blank_missing(pd.DataFrame(details))),
        "",
        "- Per workload, the fastest PyTorch backend against the fastest TensorFlow one (lowest median step time); "
        'each answer names the side the rule finds better, "tie" (no significant difference under the rule) or '
        '"no verdict" (the rule cannot judge: the notes say why, and how many runs would).',
        "- Faster: steady-state step time TF / PT, above 1 PyTorch is faster; `*` and a side only with "
        f"{MIN_RUNS_FOR_RUN_LEVEL_CI}+ runs a side, none contended, and Welch's t on the log per-run medians at "
        "p < 0.05 (a 95% CI that excludes 1).",
        "- Sooner: time to target (training-step time until the metric first reached the target, the first "
        "step's compilation included), TF / PT under the same rule; faster and sooner can disagree where one "
        "framework compiles longer.",
        "- Leaner: what training added, TF − PT in MiB (CPU: peak RSS minus RSS after imports and data; GPU: "
        f"allocator peak), with Welch's t on the per-run figures: a side only with {MIN_RUNS_FOR_RUN_LEVEL_CI}+ runs "
        f"a side, p < {cells.ALPHA} and a difference of at least {cells.LEANER_MIN_MIB:g} MiB and "
        f"{cells.LEANER_MIN_FRACTION:.0%} (docs/METHODOLOGY.md); process peak: the whole worker's, the "
        "framework's own libraries included.",
        "- Metric: difference of the mean final metric over seeds, with Welch's two-sided t-test "
        f"(α = {cells.ALPHA}) and its 95% CI; one seed per side gets no test.",
        "",
    ]


def accuracy_text(v: cells.WorkloadVerdict) -> str:
    acc = v.accuracy
    metric = v.torch.runs[0].metric_name
    if v.speed_only:
        return "speed only in this profile"
    if acc is None:
        return "-"
    if acc.p_value is None:
        return f"{metric} {acc.difference:+.3g} ({acc.verdict})"
    if acc.low is not None and acc.high is not None and acc.low != acc.high:
        return f"{metric} {acc.difference:+.3g} [{acc.low:+.3g}, {acc.high:+.3g}], p={acc.p_value:.2g}: {acc.verdict}"
    return f"{metric} {acc.difference:+.3g}: {acc.verdict} on every seed"


def leaner_text(t: cells.AccuracyTest | None) -> str:
    """'**PyTorch** (+130 MiB)': which side the rule finds leaner ("tie", "no verdict"), TF − PT training MiB."""
    if t is None:
        return "-"
    word = {"differ": "PyTorch" if t.difference > 0 else "TensorFlow", "no verdict": "no verdict"}
    return f"**{word.get(t.verdict, 'tie')}** ({t.difference:+,.0f} MiB)"


def memory_detail(t: cells.AccuracyTest | None) -> str:
    if t is None:
        return "-"
    if t.p_value is None or t.low is None or t.high is None:
        return f"{t.difference:+,.1f} ({t.verdict})"
    return f"{t.difference:+,.1f} [{t.low:+,.1f}, {t.high:+,.1f}], p={t.p_value:.2g}: {t.verdict}"


def difference(tf: float | None, torch: float | None) -> str:
    return f"{tf - torch:+,.0f}" if tf is not None and torch is not None else "-"


def tiers_section(cs: Sequence[Cell]) -> list[str]:
    """Out of the box vs tuned: per framework the fastest default-tier backend (the path its documentation
    teaches) and the fastest tuned one, and the TensorFlow / PyTorch ratio within each tier."""
    comparisons = cells.tier_comparisons(cs)
    if not comparisons:
        return []
    named = names_scenarios(cs)

    def shown(c: Cell | None, against: Cell | None = None) -> str:
        if c is None:
            return "-"
        ms = c.step_time()[0]
        base = against.step_time()[0] if against is not None else None
        speedup = f", {base / ms:.2f}x" if base and ms and against is not c else ""
        return f"{c.backend} {fmt(ms)} ms{speedup}"

    rows = [
        {
            "workload": workload_label(t.workload, t.scenario, named),
            "PyTorch out of the box": shown(t.cell("torch", "default")),
            "PyTorch tuned": shown(t.cell("torch", "tuned"), t.cell("torch", "default")),
            "TensorFlow out of the box": shown(t.cell("tensorflow", "default")),
            "TensorFlow tuned": shown(t.cell("tensorflow", "tuned"), t.cell("tensorflow", "default")),
            "TF / PT out of the box [95% CI]": fmt_ci(t.ratio("default")),
            "TF / PT tuned [95% CI]": fmt_ci(t.ratio("tuned")),
        }
        for t in comparisons
    ]
    defaults = ", ".join(b.name for b in BACKENDS.values() if b.tier == "default" and b.headline)
    return [
        "### Out of the box vs tuned",
        "",
        markdown(blank_missing(pd.DataFrame(rows))),
        "",
        f"Out of the box: the fastest backend on the path each framework's documentation teaches ({defaults}); "
        "tuned: the fastest of the others (graph capture, compilation, XLA), with its speed-up over out of the "
        "box. Median step time; the ratios follow the summary's verdict rule.",
        "",
    ]


def precision_section(cs: Sequence[Cell]) -> list[str]:
    """Each backend in a lower precision beside its own fp32 run: speed-up, metric change, memory."""
    comparisons = cells.precision_comparisons(cs)
    if not comparisons:
        return []

    def ms(c: Cell | None) -> str:
        if c is None:
            return "not run"
        return f"{fmt(c.step_time()[0])} ms" if c.ok else f"{c.status}: {c.reason.splitlines()[0] if c.reason else ''}"

    def change(p: cells.PrecisionComparison) -> str:
        d = p.metric_change()
        if d is None:
            return "speed only" if p.cell.ok and p.fp32 is not None and p.fp32.ok else "-"
        return f"{d:+.3f} {p.cell.runs[0].metric_name}"

    def memory(p: cells.PrecisionComparison) -> str:
        a = p.fp32.training_memory() if p.fp32 is not None and p.fp32.ok else None
        b = p.cell.training_memory() if p.cell.ok else None
        return f"{fmt(b)} vs {fmt(a)} MiB" if a is not None and b is not None else "-"

    unsupported: dict[tuple[str, str], list[str]] = {}  # (precision, reason) -> "workload/backend"
    for p in comparisons:
        if p.cell.status == "unsupported":
            reason = p.cell.reason.splitlines()[0] if p.cell.reason else "no reason recorded"
            unsupported.setdefault((p.precision, reason), []).append(f"{p.workload}/{p.backend}")
    rows = [
        {
            "workload": p.workload,
            "backend": p.backend,
            "precision": p.precision,
            "step time": ms(p.cell),
            "fp32 step time": ms(p.fp32),
            "speed-up over fp32 [95% CI]": fmt_ci(p.speedup()),
            "metric change": change(p),
            "training memory (vs fp32)": memory(p),
        }
        for p in comparisons
        if p.cell.status != "unsupported"
    ]
    table = [markdown(blank_missing(pd.DataFrame(rows))), ""] if rows else []
    notes = [
        f"- {precision} unsupported for {', '.join(names[:6])}{' ...' if len(names) > 6 else ''} "
        f"({len(names)} cell{'s' if len(names) != 1 else ''}): {reason}"
        for (precision, reason), names in unsupported.items()
    ]
    return [
        "### Precision: each backend against its own fp32",
        "",
        *table,
        *notes,
        *([""] if notes else []),
        "fp32 is strict float32 (TF32 off). tf32: TF32 tensor-core matmuls and convolutions; bf16 and fp16: "
        "mixed precision (torch.autocast, Keras' mixed dtype policies; float32 weights; fp16 with loss scaling). "
        "Speed-up: the fp32 median step time over this precision's (above 1: faster). Metric change: the final "
        "metric's mean over seeds minus fp32's (none for speed-only runs). A combination a framework or device "
        'cannot run is shown with its reason (docs/METHODOLOGY.md, "Precision").',
        "",
    ]


def keras_section(cs: Sequence[Cell]) -> list[str]:
    """The Keras 3 backend table: the same Keras twins on TensorFlow, JAX and PyTorch beside native PyTorch."""
    comparisons = cells.keras_comparisons(cs)
    if not comparisons:
        return []
    named = names_scenarios(cs)

    def shown(c: Cell | None) -> str:
        return "-" if c is None else f"{c.backend} {fmt(c.step_time()[0])} ms"

    rows = [
        {
            "workload": workload_label(k.workload, k.scenario, named),
            **{col: shown(k.fastest.get(col)) for col in cells.KERAS_COLUMNS},
            "Keras JAX / TF [95% CI]": fmt_ci(k.ratio("Keras on JAX", "Keras on TensorFlow")),
            "Keras on PyTorch / PyTorch eager [95% CI]": fmt_ci(k.ratio("Keras on PyTorch", "PyTorch eager")),
        }
        for k in comparisons
    ]
    return [
        "### Keras 3 backends beside native PyTorch",
        "",
        markdown(blank_missing(pd.DataFrame(rows))),
        "",
        "The same Keras twin (one model file) trained on each Keras 3 backend, each in its own process: on "
        "TensorFlow the fastest Keras backend, on JAX the stateless step under `jax.jit`, on PyTorch the Keras "
        "guide's eager loop (torch autograd, Keras optimizer). PyTorch eager and the fastest native PyTorch "
        "backend run the torch twin. Median step time; a ratio above 1 means the second is faster. Keras on JAX "
        "and on PyTorch are not in the headline, which compares native PyTorch with Keras on TensorFlow.",
        "",
    ]


def overall_sentence(verdicts: Sequence[cells.WorkloadVerdict], cs: Sequence[Cell], suites: Sequence[Suite]) -> str:
    # One geometric mean per precision, scenario or worker count would be several answers, and would count a
    # workload once per scenario: the sentence is the fp32 training scenario's (where there is one), and the
    # others keep their own rows and sections (precision, deployment, scaling).
    verdicts = [v for v in verdicts if v.torch.scenario == cells.DEFAULT_SCENARIO] or [
        v for v in verdicts if v.torch.precision == cells.DEFAULT_PRECISION
    ] or list(verdicts)  # fmt: skip
    o = cells.overall(verdicts)
    if o is None:
        return "No workload has an ok run in both frameworks."
    devices = ", ".join(sorted({f"{c.device_model} ({c.device})" for c in cs if c.ok}))
    threads = sorted({s.plan.threads for s in suites if s.plan})
    thread_text = f", {'/'.join(map(str, threads))} thread(s) per framework" if threads else ""
    profiles = ", ".join(sorted({c.runs[0].profile for c in cs if c.ok}))
    kinds: dict[str, list[str]] = {}
    for v in verdicts:
        ds = v.torch.runs[0].dataset
        kinds.setdefault(provenance(ds), []).append(v.workload)
    data_text = "; ".join(f"{kind} for {', '.join(dict.fromkeys(ws))}" for kind, ws in kinds.items())
    verdict_text = (
        f"PyTorch faster in {o.pytorch_wins}, TensorFlow faster in {o.tensorflow_wins}, no significant difference "
        f"in {o.ties - (o.workloads - o.verdict_allowed)}"
        + (
            f", no verdict in {o.workloads - o.verdict_allowed} (too few runs or contended)"
            if o.verdict_allowed < o.workloads
            else ""
        )
    )
    if o.verdict_allowed < o.workloads:
        conclusion = "no overall verdict: some workloads lack run-to-run evidence"
    elif o.low > 1 or o.high < 1:
        faster, factor = ("PyTorch", o.geomean) if o.geomean > 1 else ("TensorFlow", 1 / o.geomean)
        conclusion = f"{faster} is {factor:.2f}x faster on this suite"
    else:
        conclusion = "no significant overall difference"
    n = o.workloads
    return (
        f"**On {devices}{thread_text}, {profiles} profile, data {data_text}: across {n} workload{'s' if n != 1 else ''} "
        f"the fastest TensorFlow backend's step time is {o.geomean:.2f}x the fastest PyTorch backend's (geometric "
        f"mean, 95% CI [{o.low:.2f}, {o.high:.2f}]): {conclusion}; {verdict_text}.**"
    )


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


def environment_block(suites: Sequence[Suite]) -> list[str]:
    lines = ["## Environment", ""]
    for s in suites:
        e = s.environment
        pk = {k: v for k, v in e.get("packages", {}).items() if v}
        gpus = ", ".join(f"{g['name']} (driver {g.get('driver')})" for g in e.get("gpus", [])) or "none"
        plan = s.plan
        loads = [x for r in s.results for x in r.load_avg_1m]
        source = f"; converted from {s.source.tool} JSON `{s.source.file}`" if s.source else ""
        if plan is None:  # a converted file: what its records say
            settings = [f"profile {p}" for p in sorted({r.profile for r in s.results})]
        else:
            threads = f"threads {plan.threads} intra / {plan.interop_threads} inter-op" + (
                f" ({plan.threads_source})" if plan.threads_source != "--threads" else ""
            )
            settings = [f"profile {plan.profile}", f"seeds {plan.seeds}", f"repeats {plan.repeats}"]
            settings += [f"init {plan.init}", threads, f"deterministic {plan.deterministic}", f"seed {plan.seed}"]
        lines += [
            f"- run `{s.run_id}` ({s.created_at}){source}: device {cells.suite_device(s)} "
            f"({suite_device_model(s)}), " + ", ".join(settings),
            f"  - hardware: {e.get('cpu_model')} ({e.get('cpu_count_logical')} logical CPUs"
            + (f", {e['memory_gib']} GiB" if e.get("memory_gib") else "")
            + f"), GPU: {gpus}; {e.get('platform')}",
            f"  - software: Python {e.get('python')}; "
            + (", ".join(f"{k} {v}" for k, v in pk.items()) or "package versions not recorded"),
            *peak_lines(s),
            f"  - git commit: {e.get('git_commit')}"
            + (
                f"; host load average (1 min) at run starts and ends: {min(loads):.1f} to {max(loads):.1f}"
                + busy_warning(max(loads), e.get("cpu_count_logical"))
                if loads
                else ""
            ),
        ]
    settings = settings_table([r for s in suites for r in s.results if r.settings])
    if not settings.empty:
        lines += ["", "Settings recorded by each backend (first run of each):", "", markdown(settings)]
    return lines


def peak_lines(s: Suite) -> list[str]:
    """The CPU's instruction sets and clock, the measured matmul peaks and the theoretical one."""
    e = s.environment
    out = []
    isa = e.get("cpu_isa")
    if isa is not None or e.get("cpu_mhz"):
        out.append(
            f"  - CPU: instruction sets {', '.join(isa) if isa else 'not recorded'}; clock "
            + (f"{e['cpu_mhz']:,.0f} MHz" if e.get("cpu_mhz") else "not recorded")
        )
    peaks = {fw: p for fw, p in e.get("matmul_peak", {}).items() if p.get("gflops_best")}
    if peaks:
        measured = ", ".join(f"{FRAMEWORK_OF.get(fw, fw)} {fmt(p['gflops_best'])}" for fw, p in peaks.items())
        best = max(p["gflops_best"] for p in peaks.values())
        theory = env.theoretical_peak_gflops(e, s.plan.threads) if s.plan and s.plan.device != "cuda" else None
        out.append(
            f"  - float32 matmul peak, GFLOP/s (measured, best of 20{cached_note(peaks)}): {measured}; the report's "
            "denominator is the "
            f"best, {fmt(best)}" + (f"; theoretical {fmt(theory[0])} ({theory[1]})" if theory else "")
        )
    return out


def cached_note(peaks: dict[str, dict[str, Any]]) -> str:
    """Where a peak came from the user cache (bench/launch.measure_peaks): when it was measured."""
    cached = [
        f"{FRAMEWORK_OF.get(fw, fw)} on {str(p.get('measured_at', '?'))[:10]}"
        for fw, p in peaks.items()
        if p.get("cached_from")
    ]
    return f"; cached from earlier suites: {', '.join(cached)}" if cached else ""


def busy_warning(load: float, cpus: int | None) -> str:
    if not is_busy(load, cpus):
        return ""
    return f" (**busy host**: above {BUSY_LOAD_PER_CPU:g} x {cpus} CPUs, so its step times are unreliable)"


SETTING_KEYS = (
    "compile",
    "intra_op_threads",
    "inter_op_threads",
    "jit_compile",
    "data_format",
    "optimizer_impl",
    "deterministic",
    "tf32_matmul",
    "tf32",
    "cudnn_benchmark",
    "onednn_opts",
)


def settings_table(rs: Sequence[Result]) -> pd.DataFrame:
    seen: dict[str, dict[str, Any]] = {}
    for r in rs:
        if r.backend not in seen:
            version = r.settings.get("torch_version") or (
                f"tf {r.settings.get('tensorflow_version')} / keras {r.settings.get('keras_version')}"
            )
            seen[r.backend] = {"backend": r.backend, "version": version} | {
                k: r.settings[k] for k in SETTING_KEYS if k in r.settings
            }
    return blank_missing(pd.DataFrame(list(seen.values())))


@dataclass(frozen=True)
class PlotLink:
    """A plot written next to the report: its title and its path relative to REPORT.md."""

    title: str
    path: str


def panel_titles(cs: Sequence[Cell]) -> list[tuple[str, list[Cell]]]:
    """Each workload's cells under its panel title (the workload, with its scenario where there are several)."""
    named = names_scenarios(cs)
    return [(workload_label(w, sc, named), group) for (_, sc, w), group in by_workload(cs).items()]


def step_panels(cs: Sequence[Cell]) -> list[plots.Panel]:
    out = []
    for workload, group in panel_titles(cs):
        bars = []
        for c in group:
            med, ci = c.step_time() if c.ok else (None, None)
            bars.append(plots.Bar(c.backend, med, *(ci or (None, None)), status=c.status if med is None else "ok"))
        out.append(plots.Panel(workload, "median step time (ms)", bars=tuple(bars)))
    return out


def memory_panels(cs: Sequence[Cell]) -> tuple[list[plots.Panel], str]:
    """Per workload, a panel of what training added and one of the process's peak (on CPU; on GPU the
    allocator peak is the training share, one panel), and what the memory figure is (the kinds measured)."""
    out: list[plots.Panel] = []
    kinds: set[str] = set()
    for workload, group in panel_titles(cs):
        peak, train = [], []
        for c in group:
            mem, kind = c.memory() if c.ok else (None, "")
            kinds |= {kind} - {""}
            status = c.status if not c.ok else "not recorded"
            peak.append(plots.Bar(c.backend, mem, status=status))
            train.append(
                plots.Bar(c.backend, c.training_memory() if c.ok and kind != "allocator_peak" else None, status=status)
            )
        if any(b.value is not None for b in train):
            out.append(plots.Panel(f"{workload}: training", "training share (MiB)", bars=tuple(train)))
        if any(b.value is not None for b in peak):
            out.append(plots.Panel(f"{workload}: process", "peak memory (MiB)", bars=tuple(peak)))
    return out, " / ".join(sorted(MEMORY_KINDS.get(k, k) for k in kinds))


def curve_panels(cs: Sequence[Cell]) -> list[plots.Panel]:
    out = []
    for workload, group in panel_titles(cs):
        curves, metric, target = [], "", None
        for c in group:
            for i, r in enumerate(c.runs):
                pts = [(h["train_time_s"], h[r.metric_name]) for h in r.eval_history if r.metric_name in h]
                if pts:
                    metric, target = r.metric_name, r.target
                    t, v = zip(*pts)
                    curves.append(plots.Curve(c.backend, tuple(t), tuple(v), first=i == 0))
        if curves:
            out.append(plots.Panel(workload, metric, curves=tuple(curves), target=target))
    return out


def trend_series(suites: Iterable[Suite]) -> dict[str, dict[str, dict[str, list[tuple[datetime, float]]]]]:
    """{device model: {workload: {backend: [(run start, median of per-run median step ms)]}}}, 2+ runs only
    (the workload named with its scenario where the runs hold several)."""
    by_model: dict[str, dict[str, Suite]] = {}
    for s in suites:
        by_model.setdefault(suite_device_model(s), {})[s.run_id] = s
    out: dict[str, dict[str, dict[str, list[tuple[datetime, float]]]]] = {}
    for model, runs in sorted(by_model.items()):
        if len(runs) < 2:
            continue
        per_run = [(datetime.fromisoformat(s.created_at), training_cells([s])) for s in runs.values()]
        named = names_scenarios(c for _, cs in per_run for c in cs)
        series: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
        for when, cs in per_run:
            for c in cs:
                med = c.median_of("median_step_ms")
                if c.ok and med is not None:
                    label = workload_label(c.workload, c.scenario, named)
                    series.setdefault(label, {}).setdefault(c.backend, []).append((when, med))
        series = {
            w: {b: pts for b, pts in by_b.items() if len(pts) >= 2} for w, by_b in sorted(series.items())
        }  # a trend needs two runs of the same (workload, backend)
        series = {w: by_b for w, by_b in series.items() if by_b}
        if series:
            out[model] = series
    return out


def make_plots(suites: Sequence[Suite], history: Sequence[Suite], out_dir: Path) -> list[PlotLink]:
    """Draw every figure into out_dir/plots; return them with paths relative to out_dir."""
    cs = training_cells(suites)
    folder = out_dir / PLOTS_DIR
    names = ("step_time.png", "memory.png", "metric.png", "latency.png", "scaling.png", "pipeline.png")
    for old in [*folder.glob("trend-*.png"), *(folder / n for n in names)]:
        old.unlink(missing_ok=True)
    figs: list[PlotLink] = []

    def add(title: str, name: str, fig: plots.Figure) -> None:
        plots.save(fig, folder / name)
        figs.append(PlotLink(title, f"{PLOTS_DIR}/{name}"))

    steps = step_panels(cs)
    if steps:
        add(
            "Training step time per backend",
            "step_time.png",
            plots.bars_figure(steps, "Training step time per backend (median, 95% CI)"),
        )
    curves = curve_panels(cs)
    if curves:
        add(
            "Metric against training time",
            "metric.png",
            plots.curves_figure(
                curves, "Metric after each epoch against training time", "cumulative training-step time (s)"
            ),
        )
    mem, kinds = memory_panels(cs)
    if mem:
        add(
            "Memory per backend",
            "memory.png",
            plots.bars_figure(mem, f"Memory per backend: what training added, and the peak ({kinds})"),
        )
    scaling_panels = scaling.throughput_panels(cs)
    if scaling_panels:
        add(
            "Throughput against workers",
            "scaling.png",
            plots.curves_figure(scaling_panels, "Data-parallel throughput against workers", "workers"),
        )
    fed = input_pipeline.throughput_panels(cells.cells(suites))
    if fed:
        add(
            "Input pipeline samples/s against workers",
            "pipeline.png",
            plots.curves_figure(
                fed, "Input pipeline samples/s against parallel decoders", "workers (0: in the main process)"
            ),
        )
    latency = deployment.latency_panels(suites)
    if latency:
        add(
            "Batch-1 latency per runtime",
            "latency.png",
            plots.boxes_figure(latency, "Batch-1 inference latency per runtime (box: quartiles; whiskers: p1-p99)"),
        )
    for model, series in trend_series([*suites, *history]).items():
        add(
            f"Step time over runs on {model}",
            f"trend-{slug(model)}.png",
            plots.trend_figure(series, f"Median step time per run over time: {model}"),
        )
    return figs


def plots_section(figures: Sequence[PlotLink]) -> list[str]:
    if not figures:
        return []
    lines = ["## Plots", ""]
    for f in figures:
        lines += [f"### {f.title}", "", f"![{f.title}]({f.path})", ""]
    return lines


def sources_note(suites: Sequence[Suite]) -> list[str]:
    """One note per kind of source that lacks some of the numbers (pytest-benchmark JSON)."""
    notes = dict.fromkeys(s.source.note for s in suites if s.source and s.source.note)
    files = ", ".join(f"`{s.source.file}`" for s in suites if s.source and s.source.note)
    return [line for n in notes for line in (f"Note ({files}): {n}", "")]


def partial_note(suites: Sequence[Suite]) -> list[str]:
    """A merge of shards that lacks planned runs (`fwbench merge`): said first, with what is missing."""
    return [
        f"**Warning: `{s.run_id}` is partial**: {len(s.missing)} planned run(s) or shard(s) missing from the "
        "merge: " + "; ".join(s.missing[:12]) + (" and more" if len(s.missing) > 12 else "") + ".\n"
        for s in suites
        if s.missing
    ]


def budget_note(suites: Sequence[Suite]) -> list[str]:
    """What `--budget` left out of a suite's plan (bench.planning.estimate.fit_to_budget), so that a missing workload or
    backend is not read as one that failed."""
    return [
        f"Note: `{s.run_id}` was fitted to `--budget {s.plan.budget_s / 60:g}` minutes, leaving out "
        + "; ".join(s.plan.left_out)
        + ".\n"
        for s in suites
        if s.plan is not None and s.plan.budget_s is not None and s.plan.left_out
    ]


def busy_note(suites: Sequence[Suite]) -> list[str]:
    """A warning up front when a run's host was oversubscribed (its timings are not trustworthy)."""
    busy = []
    for s in suites:
        cpus = s.environment.get("cpu_count_logical")
        load = cells.busy_load(s.results, cpus)
        if load is not None:
            busy.append(f"`{s.run_id}` (load average up to {load:.1f} on {cpus} CPUs)")
    out = []
    if busy:
        out += [
            f"**Warning: busy host.** {', '.join(busy)}: other work competed for the CPUs, so step times, "
            "throughput and time to target are unreliable; metric and memory are not affected.",
            "",
        ]
    contended = [r for s in suites for r in s.results if r.contended]
    if contended:
        total = sum(1 for s in suites for r in s.results if r.ok)
        worst = max(contended, key=lambda r: (r.cpu.get("others_cores") or 0) + (r.cpu.get("steal_cores") or 0))
        cells_hit = sorted({f"{r.workload}/{r.backend}" for r in contended})
        out += [
            f"**Warning: {len(contended)} of {total} runs were contended**: other processes took cores they asked "
            f"for (worst: {worst.workload}/{worst.backend}: {worst.cpu.get('reason')}). Their step times reflect "
            "the machine, not the framework, so no ratio involving them is starred. Affected: "
            + ", ".join(cells_hit[:12])
            + (f" and {len(cells_hit) - 12} more" if len(cells_hit) > 12 else "")
            + ". "
            + contention.advice(max((r.config.threads for r in contended if r.config), default=1)),
            "",
        ]
    redone = [r for s in suites for r in s.redone]
    if redone:
        failed = sum(1 for r in redone if not r.ok)  # a redo that did not end ok is kept there too
        out += [
            f"**Redone: {len(redone) - failed} contended run{'s' if len(redone) - failed != 1 else ''}** "
            "were run again at the end of the suite once the machine was quiet; the tables hold the redos, and the "
            "replaced records stay in the results file under `redone`"
            + (
                f" ({failed} redo{'s' if failed != 1 else ''} did not finish: the contended record stayed)"
                if failed
                else ""
            )
            + (f". {len(contended)} still contended after the redos." if contended else "; none is left contended."),
            "",
        ]
    return out


def training_cells(suites: Sequence[Suite]) -> list[Cell]:
    """The cells of the training scenarios (train, distributed); the infer and export scenarios have the
    Deployment section (bench/report/deployment.py), the pipeline scenario its own (bench/report/input_pipeline.py)."""
    others = (*deployment.SCENARIOS, input_pipeline.SCENARIO)
    return [c for c in cells.cells(suites) if c.base_scenario not in others]


def render(suites: Sequence[Suite], figures: Sequence[PlotLink] = ()) -> str:
    cs = training_cells(suites)
    device_models = sorted({suite_device_model(s) for s in suites})
    lines = [
        "# fwbench report: PyTorch vs TensorFlow",
        "",
        "Rendered from "
        + ", ".join(f"`{s.run_id}`" for s in suites)
        + f" by `fwbench report`; measured on {', '.join(device_models)}. Every number below comes from those files "
        "(the code sizes are counted from impls/).",
        "",
        *sources_note(suites),
        *budget_note(suites),
        *partial_note(suites),
        *busy_note(suites),
        *summary_section(cs, suites),
        *devices.cross_device_section(cs),
        *tiers_section(cs),
        *keras_section(cs),
        *precision_section(cs),
        *headline_section(cs),
        *scaling.scaling_section(cs),
        *input_pipeline.pipeline_section(cells.cells(suites)),
        *deployment.deployment_section(suites),
        *seed_section(cs, suites),
        *plots_section(figures),
        *environment_block(suites),
        "",
    ]
    return wrap_prose("\n".join(lines))


PROSE_WIDTH = 100  # columns of the report's sentences: readable in a terminal, not only in a renderer


def wrap_prose(text: str, width: int = PROSE_WIDTH) -> str:
    """Every line of prose (not a table row, heading, image or indented block) folded at `width` columns,
    bullets with a hanging indent. Markdown joins the lines of a paragraph, so a renderer shows the same."""
    out = []
    for line in text.split("\n"):
        if len(line) <= width or line.startswith(("|", "#", "![", "    ", "```")):
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        bullet = line[indent:].startswith("- ")  # a bullet, nested or not: its continuation lines hang under it
        out.append(
            textwrap.fill(
                line,
                width,
                subsequent_indent=" " * (indent + 2) if bullet else "",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)


def load_history(paths: Iterable[str | Path]) -> list[Suite]:
    """Earlier runs for the trend plot; a file that cannot be read is skipped (it only loses a point)."""
    out = []
    for p in paths:
        try:
            out.append(pbjson.load_any(p))
        except UsageError:
            continue
    return out


def write(suites: Sequence[Suite], out_dir: Path, history: Sequence[Suite] = ()) -> Path:
    """Plots into out_dir/plots, then out_dir/REPORT.md (atomically); `history` feeds the trend plot only.
    Refuses (UsageError) to replace a report with one of nothing: the old files stay."""
    return write_with_figures(suites, out_dir, history)[0]


def write_with_figures(
    suites: Sequence[Suite], out_dir: Path, history: Sequence[Suite] = ()
) -> tuple[Path, list[PlotLink]]:
    if not any(s.results for s in suites):
        raise UsageError("no results to report: the old report and plots are left as they are")
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = make_plots(suites, history, out_dir)
    return write_text(out_dir / "REPORT.md", render(suites, figures)), figures


def write_text(path: Path, text: str) -> Path:
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def summary_of(text: str) -> str:
    """The report's answer, "## Summary: PyTorch vs TensorFlow" up to the next section ("" without one):
    what `fwbench run` prints when it ends, before the paths of the files."""
    head = SUMMARY_HEADING
    if head not in text:
        return ""
    return (head + text.split(head, 1)[1].split("\n## ", 1)[0]).strip()


RUN_REPORTS_DIR = "reports"  # results/reports/<run-id>/: each run's own REPORT.md and plots, never replaced by another


def write_run(suite: Suite, out_dir: Path, history: Sequence[Suite] = ()) -> tuple[Path, Path]:
    """A run's report, kept: out_dir/reports/<run-id>/REPORT.md with its plots/ beside it. Then
    out_dir/REPORT.md, the latest run's report (its figures linked in that run's folder), ending with the
    earlier runs' reports. Nothing of another run is touched. Returns (the run's report, the latest's)."""
    rel = f"{RUN_REPORTS_DIR}/{suite.run_id}"
    own, figures = write_with_figures([suite], out_dir / rel, history)
    linked = [PlotLink(f.title, f"{rel}/{f.path}") for f in figures]
    earlier = sorted(
        (d.name for d in (out_dir / RUN_REPORTS_DIR).iterdir() if d.is_dir() and d.name != suite.run_id),
        reverse=True,  # run ids sort by time: the newest first
    )
    text = render([suite], linked)
    if earlier:
        text += "\n## Earlier runs in this folder\n\n" + "".join(
            f"- [{run_id}]({RUN_REPORTS_DIR}/{run_id}/REPORT.md)\n" for run_id in earlier
        )
    latest = write_text(out_dir / "REPORT.md", text)
    return own, latest
