"""The report people read: results/REPORT.md and results/plots/*.png, from results files only.

`write(suites, out_dir, history)` draws the plots and writes REPORT.md; `render(suites, figures)`
returns the markdown. Repeats of one (workload, backend, device model) are aggregated into a
`Cell` (docs/METHODOLOGY.md); `history` adds earlier runs for the trend plot only. How to read
the report: docs/REPORTS.md. The only number not read from a results file is the code size of
each twin, counted from impls/ by bench/codesize.py.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import codesize, env, pbjson, plots, stats
from bench.backends import BACKENDS, FRAMEWORK_OF
from bench.errors import UsageError
from bench.results import Result, Suite
from bench.workloads import WORKLOADS

BASELINE_BACKEND = "torch-eager"
MIN_RUNS_FOR_RUN_LEVEL_CI = 3
BUSY_LOAD_PER_CPU = 1.5  # a 1-min load average above this x logical CPUs: an oversubscribed host
PLOTS_DIR = "plots"
MEMORY_KINDS = {"peak_rss": "peak RSS of the worker process", "allocator_peak": "framework allocator peak"}
MEMORY_SHORT = {"peak_rss": "RSS", "allocator_peak": "allocator"}
# What each backend is, in the seed table's terms (execution mode).
EXECUTION_MODE = {
    "torch-eager": "PyTorch eager",
    "torchscript": "TorchScript (graph)",
    "torch-compile": "torch.compile (compiled)",
    "keras": "Keras tf.function (graph)",
    "keras-xla": "Keras + XLA (compiled)",
}


@dataclass(frozen=True)
class Cell:
    """The aggregate of one (workload, backend, device, device model) over its repeats."""

    workload: str
    backend: str
    device: str
    device_model: str
    status: str
    reason: str
    runs: list[Result]  # the ok runs
    failed: list[Result] = field(default_factory=list)  # repeats that did not finish (status not ok)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def run_level(self) -> bool:
        """Enough repeats for run-to-run noise to be in the confidence interval."""
        return len(self.runs) >= MIN_RUNS_FOR_RUN_LEVEL_CI

    def timing_sample(self, run_level: bool) -> list[float]:
        """Per-run medians (run_level) or all steady-state step times pooled."""
        if run_level:
            return [r.median_step_ms for r in self.runs if r.median_step_ms is not None]
        return [t for r in self.runs for t in r.step_ms]

    def step_time(self) -> tuple[float | None, list[float] | None]:
        """Median step time and its 95% CI (over per-run medians with >= 3 runs, else over raw steps)."""
        sample = self.timing_sample(self.run_level)
        if not sample:  # e.g. a source that kept only summary statistics
            med = self.median_of("median_step_ms")
            return med, None
        s = stats.summarize(sample)
        return s["median_step_ms"], s["ci95_step_ms"]  # type: ignore[return-value]

    def median_of(self, attr: str) -> float | None:
        vals = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return float(np.median(vals)) if vals else None

    def memory(self) -> tuple[float | None, str]:
        vals = [r.memory.get("peak_mib") for r in self.runs if r.memory.get("peak_mib") is not None]
        kind = self.runs[0].memory.get("kind", "") if self.runs else ""
        return (float(np.median(vals)) if vals else None), kind


def suite_device_model(s: Suite) -> str:
    return env.device_model(s.environment, s.plan.get("device", "cpu"))


def cells(suites: Sequence[Suite]) -> list[Cell]:
    groups: dict[tuple[str, str, str, str], list[Result]] = {}
    for s in suites:
        model = suite_device_model(s)
        for r in s.results:
            groups.setdefault((r.workload, r.backend, r.device, model), []).append(r)
    order = {b: i for i, b in enumerate(BACKENDS)}
    wl_order = {w: i for i, w in enumerate(WORKLOADS)}  # the registry's order, unknown names after it

    def rank(key: tuple[str, str, str, str]) -> tuple[str, int, str, int]:
        w, b, _, m = key
        return m, wl_order.get(w, len(wl_order)), w, order.get(b, len(order))

    out = []
    for (w, b, d, m), rs in sorted(groups.items(), key=lambda kv: rank(kv[0])):
        ok = [r for r in rs if r.ok]
        failed = [r for r in rs if not r.ok]
        if ok:
            out.append(Cell(w, b, d, m, "ok", "", ok, failed))
        else:
            out.append(Cell(w, b, d, m, rs[0].status, rs[0].reason, [], failed))
    return out


def baseline_of(cs: Sequence[Cell], c: Cell) -> Cell | None:
    return next(
        (
            x
            for x in cs
            if x.backend == BASELINE_BACKEND
            and (x.workload, x.device, x.device_model) == (c.workload, c.device, c.device_model)
        ),
        None,
    )


def ratio_vs_baseline(cell: Cell, base: Cell | None) -> tuple[float, float, float] | None:
    if base is None or not base.ok or not cell.ok:
        return None
    run_level = cell.run_level and base.run_level
    return stats.ratio_of_medians(cell.timing_sample(run_level), base.timing_sample(run_level))


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def fmt_ratio(ratio: tuple[float, float, float] | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio[0]:.2f}" + ("*" if stats.significant(ratio) else "")


def one_line(reason: str, limit: int = 80) -> str:
    line = next((ln for ln in reversed(reason.splitlines()) if ln.strip()), "")
    line = line.replace("|", "/")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def framework_label(backend: str) -> str:
    info = BACKENDS.get(backend)
    return FRAMEWORK_OF.get(info.framework, "?") if info else "?"


def time_to_target(c: Cell) -> str:
    if c.runs[0].target is None:
        return "-"
    tta = [r.time_to_target_s for r in c.runs]
    reached = [t for t in tta if t is not None]
    return fmt(float(np.median(reached))) if len(reached) == len(tta) else "not reached"


def runs_text(c: Cell) -> str:
    """'3', or '2 of 3 (1 timeout)' where repeats failed: the figures come from the ok runs only."""
    if not c.failed:
        return str(len(c.runs))
    counts = collections.Counter(r.status for r in c.failed)
    failed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{len(c.runs)} of {len(c.runs) + len(c.failed)} ({failed})"


def gflops(c: Cell) -> str:
    g = c.median_of("achieved_gflops")
    if g is None:
        return "-"
    frac = c.median_of("peak_fraction")
    return fmt(g) + (f" ({frac:.0%})" if frac is not None else "")


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
        med, ci = c.step_time()
        mem, kind = c.memory()
        row.update(
            {
                metric_col: fmt(c.median_of("metric")),
                "time to target (s)": time_to_target(c),
                "step ms (median [95% CI])": f"{fmt(med)} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else fmt(med),
                f"vs {BASELINE_BACKEND}": fmt_ratio(ratio_vs_baseline(c, baseline_of(cs, c))),
                "samples/s": fmt(r0.samples_per_step / (med / 1e3) if med and r0.samples_per_step else None),
                "peak MiB": f"{fmt(mem)} ({MEMORY_SHORT.get(kind, kind)})" if mem is not None else "-",
                "first step ms": fmt(c.median_of("first_step_ms")),
                "GFLOP/s": gflops(c),
                "runs": runs_text(c),
            }
        )
        rows.append(row)
    return blank_missing(pd.DataFrame(rows))


def blank_missing(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(object)
    return df.where(df.notna(), "")


def markdown(df: pd.DataFrame) -> str:
    """Cells verbatim (numbers are already formatted: tabulate must not re-parse '21,447')."""
    return df.to_markdown(index=False, disable_numparse=True)


def workload_line(cs: Sequence[Cell]) -> str:
    """What was trained, from the first ok run's record."""
    r = next((c.runs[0] for c in cs if c.ok), None)
    if r is None:
        return "No backend finished a run of this workload."
    spec, ds = r.workload_spec, r.dataset
    opt = spec.get("optimizer", {})
    sizes = f" ({ds['train']} train / {ds['test']} test)" if "train" in ds and "test" in ds else ""
    params = f", {r.num_params:,} parameters" if r.num_params else ""
    override = r.config.get("epochs_override")
    epochs = override or {"quick": spec.get("quick_epochs"), "standard": spec.get("epochs")}.get(r.profile)
    how = f"{r.profile} profile" + (f", --epochs {override}" if override else "")
    epochs_text = f", {epochs} epochs ({how})" if epochs else f", {r.steps} timed steps ({r.profile})"
    target = f"; target {r.metric_name} ≥ {fmt(r.target)}" if r.target is not None else ""
    return (
        f"Model `{spec.get('model', '?')}` on `{ds.get('name', spec.get('dataset', '?'))}`{sizes}{params}; "
        f"batch {spec.get('batch_size', '?')}, {opt.get('name', '?')} lr {fmt(opt.get('lr'))}{epochs_text}{target}."
    )


def by_workload(cs: Sequence[Cell]) -> dict[tuple[str, str], list[Cell]]:
    out: dict[tuple[str, str], list[Cell]] = {}
    for c in cs:
        out.setdefault((c.device_model, c.workload), []).append(c)
    return out


def headline_section(cs: Sequence[Cell]) -> list[str]:
    groups = by_workload(cs)
    models = sorted({m for m, _ in groups})
    lines = ["## Headline: PyTorch vs TensorFlow per workload", ""]
    for (model, workload), group in groups.items():
        title = f"### {workload}" + (f" on {model}" if len(models) > 1 else "")
        lines += [title, "", workload_line(group), "", markdown(headline(group)), ""]
    any_within = any(c.ok and not c.run_level for c in cs)
    lines += [
        "Step time: median of the steady-state training steps (first step and warm-up excluded); its 95% "
        "bootstrap CI is over the per-run medians where a backend has "
        f"{MIN_RUNS_FOR_RUN_LEVEL_CI} or more runs, else over the raw steps"
        + (" (within-run noise only: repeat with `--repeats 3` for run-to-run noise)" if any_within else "")
        + f". `vs {BASELINE_BACKEND}`: ratio of median step times (below 1 is faster), `*` only where the 95% "
        "bootstrap CI of that ratio excludes 1. samples/s: samples per step / median step time. Peak memory: "
        "the worker's peak RSS on CPU (RSS), the framework allocator's peak on GPU (allocator). First step: the first training "
        "step, where tracing, scripting or compilation happens. GFLOP/s: analytic FLOPs per step / median step "
        "time (in brackets: share of this framework's measured float32 matmul peak); `-` where not recorded. "
        "Time to target: training-step time (first step included, evaluation excluded) until the metric first "
        "reached the target. See docs/METHODOLOGY.md and docs/REPORTS.md.",
        "",
    ]
    return lines


def execution_mode_table(cs: Sequence[Cell]) -> pd.DataFrame:
    rows = []
    groups = by_workload(cs)
    several = len({m for m, _ in groups}) > 1
    for (model, workload), group in groups.items():
        row: dict[str, Any] = {"workload": f"{workload} on {model}" if several else workload}
        ok = [c for c in group if c.ok and c.step_time()[0] is not None]
        for b, label in EXECUTION_MODE.items():
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


def seed_section(cs: Sequence[Cell]) -> list[str]:
    lines = [
        "## The seed's comparison, measured",
        "",
        'The project\'s seed overview has a qualitative "PyTorch vs TensorFlow/Keras" table. These are the '
        "measured counterparts of the rows that a benchmark can measure.",
        "",
        "**Execution mode** (seed: PyTorch dynamic/eager; TensorFlow/Keras static graph, optional eager). "
        "Median step ms / first step ms per execution mode; the first step carries the tracing, scripting or "
        "compilation cost. Keras runs as a compiled `tf.function` step in both of its backends (its default for "
        "training); TensorFlow's eager mode is not measured.",
        "",
        markdown(execution_mode_table(cs)),
        "",
        "**Model building** (seed: PyTorch more control, manual; Keras simpler, less boilerplate). Code lines of "
        "each twin, counted from `impls/<framework>/<model>.py` by fwbench itself: a code line holds part of a "
        "statement (blank lines, comments and docstrings do not count). *Model definition*: `build` and the "
        "module-level functions and classes it uses. *Twin module*: every code line except imports and the keras "
        "twin's `layer_map` (the benchmark's weight mapping for the parity test), so training-step, optimizer and "
        "input-layout hooks count. Helpers shared by all twins of a framework (`common.py`) are not counted.",
        "",
        markdown(model_building_table(cs)),
        "",
        "The seed's rows on research popularity, libraries (TorchVision, TF Hub ...) and deployment (ONNX, "
        "TF Lite, Serving ...) are not measured by this benchmark and are left out.",
        "",
    ]
    return lines


def environment_block(suites: Sequence[Suite]) -> list[str]:
    lines = ["## Environment", ""]
    for s in suites:
        e = s.environment
        pk = {k: v for k, v in e.get("packages", {}).items() if v}
        gpus = ", ".join(f"{g['name']} (driver {g.get('driver')})" for g in e.get("gpus", [])) or "none"
        plan = s.plan
        loads = [x for r in s.results for x in r.load_avg_1m]
        source = f"; converted from pytest-benchmark JSON `{plan['source_file']}`" if plan.get("source_file") else ""
        threads = (
            f"threads {plan['threads']} intra / {plan.get('interop_threads')} inter-op" if "threads" in plan else None
        )
        settings = [f"{k} {plan[k]}" for k in ("profile", "repeats", "init") if k in plan]
        settings += [threads] if threads else []
        settings += [f"{k} {plan[k]}" for k in ("deterministic", "seed") if k in plan]
        lines += [
            f"- run `{s.run_id}` ({s.created_at}){source}: device {plan.get('device')} "
            f"({suite_device_model(s)}), " + ", ".join(settings),
            f"  - hardware: {e.get('cpu_model')} ({e.get('cpu_count_logical')} logical CPUs"
            + (f", {e['memory_gib']} GiB" if e.get("memory_gib") else "")
            + f"), GPU: {gpus}; {e.get('platform')}",
            f"  - software: Python {e.get('python')}; "
            + (", ".join(f"{k} {v}" for k, v in pk.items()) or "package versions not recorded"),
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


def busy_warning(load: float, cpus: int | None) -> str:
    if not cpus or load <= BUSY_LOAD_PER_CPU * cpus:
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


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-") or "device"


def step_panels(cs: Sequence[Cell]) -> list[plots.Panel]:
    out = []
    for (_, workload), group in by_workload(cs).items():
        bars = []
        for c in group:
            med, ci = c.step_time() if c.ok else (None, None)
            bars.append(plots.Bar(c.backend, med, *(ci or (None, None)), status=c.status if med is None else "ok"))
        out.append(plots.Panel(workload, "median step time (ms)", bars=tuple(bars)))
    return out


def memory_panels(cs: Sequence[Cell]) -> tuple[list[plots.Panel], str]:
    """Panels of peak memory, and what the memory figure is (the kinds of peak measured)."""
    out: list[plots.Panel] = []
    kinds: set[str] = set()
    for (_, workload), group in by_workload(cs).items():
        bars = []
        for c in group:
            mem, kind = c.memory() if c.ok else (None, "")
            kinds |= {kind} - {""}
            bars.append(plots.Bar(c.backend, mem, status=(c.status if not c.ok else "not recorded")))
        if any(b.value is not None for b in bars):
            out.append(plots.Panel(workload, "peak memory (MiB)", bars=tuple(bars)))
    return out, " / ".join(sorted(MEMORY_KINDS.get(k, k) for k in kinds))


def curve_panels(cs: Sequence[Cell]) -> list[plots.Panel]:
    out = []
    for (_, workload), group in by_workload(cs).items():
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
    """{device model: {workload: {backend: [(run start, median of per-run median step ms)]}}}, 2+ runs only."""
    by_model: dict[str, dict[str, Suite]] = {}
    for s in suites:
        by_model.setdefault(suite_device_model(s), {})[s.run_id] = s
    out: dict[str, dict[str, dict[str, list[tuple[datetime, float]]]]] = {}
    for model, runs in sorted(by_model.items()):
        if len(runs) < 2:
            continue
        series: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
        for s in runs.values():
            when = datetime.fromisoformat(s.created_at)
            for c in cells([s]):
                med = c.median_of("median_step_ms")
                if c.ok and med is not None:
                    series.setdefault(c.workload, {}).setdefault(c.backend, []).append((when, med))
        series = {
            w: {b: pts for b, pts in by_b.items() if len(pts) >= 2} for w, by_b in sorted(series.items())
        }  # a trend needs two runs of the same (workload, backend)
        series = {w: by_b for w, by_b in series.items() if by_b}
        if series:
            out[model] = series
    return out


def make_plots(suites: Sequence[Suite], history: Sequence[Suite], out_dir: Path) -> list[PlotLink]:
    """Draw every figure into out_dir/plots; return them with paths relative to out_dir."""
    cs = cells(suites)
    folder = out_dir / PLOTS_DIR
    for old in [*folder.glob("trend-*.png"), *(folder / n for n in ("step_time.png", "memory.png", "metric.png"))]:
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
        add("Peak memory per backend", "memory.png", plots.bars_figure(mem, f"Peak memory per backend ({kinds})"))
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
    notes = dict.fromkeys(s.plan["source_note"] for s in suites if s.plan.get("source_note"))
    files = ", ".join(f"`{s.plan['source_file']}`" for s in suites if s.plan.get("source_note"))
    return [line for n in notes for line in (f"Note ({files}): {n}", "")]


def busy_note(suites: Sequence[Suite]) -> list[str]:
    """A warning up front when a run's host was oversubscribed (its timings are not trustworthy)."""
    busy = []
    for s in suites:
        loads = [x for r in s.results for x in r.load_avg_1m]
        cpus = s.environment.get("cpu_count_logical")
        if loads and busy_warning(max(loads), cpus):
            busy.append(f"`{s.run_id}` (load average up to {max(loads):.1f} on {cpus} CPUs)")
    if not busy:
        return []
    return [
        f"**Warning: busy host.** {', '.join(busy)}: other work competed for the CPUs, so step times, "
        "throughput and time to target are unreliable; metric and memory are not affected.",
        "",
    ]


def render(suites: Sequence[Suite], figures: Sequence[PlotLink] = ()) -> str:
    cs = cells(suites)
    devices = sorted({suite_device_model(s) for s in suites})
    lines = [
        "# fwbench report: PyTorch vs TensorFlow",
        "",
        "Rendered from "
        + ", ".join(f"`{s.run_id}`" for s in suites)
        + f" by `fwbench report`; measured on {', '.join(devices)}. Every number below comes from those files "
        "(the code sizes are counted from impls/).",
        "",
        *sources_note(suites),
        *busy_note(suites),
        *headline_section(cs),
        *seed_section(cs),
        *plots_section(figures),
        *environment_block(suites),
        "",
    ]
    return "\n".join(lines)


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
    """Plots into out_dir/plots, then out_dir/REPORT.md (atomically); `history` feeds the trend plot only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = make_plots(suites, history, out_dir)
    path = out_dir / "REPORT.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render(suites, figures))
    tmp.replace(path)
    return path
