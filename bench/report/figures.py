"""The report's figures: every plot drawn into <report folder>/plots (bench/report/plots.py draws them; the
panels come from the training cells here, and from the scaling, input pipeline and deployment sections), the
links REPORT.md shows (PlotLink) and its Plots section. Earlier runs (`history`) feed the trend plot only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.analysis import cells
from bench.analysis.cells import Cell, by_workload, names_scenarios, suite_device_model
from bench.core.formatting import slug, workload_label
from bench.records.results import Suite
from bench.report import deployment, input_pipeline, plots, scaling, time_breakdown
from bench.report.per_workload import training_cells

PLOTS_DIR = "plots"
# Every figure's file but the trends: each is removed before drawing, so that a figure with nothing to show goes.
PLOT_FILES = (
    "step_time.png",
    "memory.png",
    "metric.png",
    "latency.png",
    "scaling.png",
    "pipeline.png",
    "time_breakdown.png",
)
MEMORY_KINDS = {"peak_rss": "peak RSS of the worker process", "allocator_peak": "framework allocator peak"}


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
    for old in [*folder.glob("trend-*.png"), *(folder / n for n in PLOT_FILES)]:
        old.unlink(missing_ok=True)
    figs: list[PlotLink] = []

    def save_and_link(title: str, name: str, fig: plots.Figure) -> None:
        plots.save(fig, folder / name)
        figs.append(PlotLink(title, f"{PLOTS_DIR}/{name}"))

    steps = step_panels(cs)
    if steps:
        save_and_link(
            "Training step time per backend",
            "step_time.png",
            plots.bars_figure(steps, "Training step time per backend (median, 95% CI)"),
        )
    curves = curve_panels(cs)
    if curves:
        save_and_link(
            "Metric against training time",
            "metric.png",
            plots.curves_figure(
                curves, "Metric after each epoch against training time", "cumulative training-step time (s)"
            ),
        )
    mem, kinds = memory_panels(cs)
    if mem:
        save_and_link(
            "Memory per backend",
            "memory.png",
            plots.bars_figure(mem, f"Memory per backend: what training added, and the peak ({kinds})"),
        )
    scaling_panels = scaling.throughput_panels(cs)
    if scaling_panels:
        save_and_link(
            "Throughput against workers",
            "scaling.png",
            plots.curves_figure(scaling_panels, "Data-parallel throughput against workers", "workers"),
        )
    fed = input_pipeline.throughput_panels(cells.cells(suites))
    if fed:
        save_and_link(
            "Input pipeline samples/s against workers",
            "pipeline.png",
            plots.curves_figure(
                fed, "Input pipeline samples/s against parallel decoders", "workers (0: in the main process)"
            ),
        )
    breakdown = time_breakdown.stacked_panels(suites)
    if breakdown:
        save_and_link(
            "Where the time goes",
            "time_breakdown.png",
            plots.stacked_figure(breakdown, "Milliseconds per profiled step by kind of work (profile scenario)"),
        )
    latency = deployment.latency_panels(suites)
    if latency:
        save_and_link(
            "Batch-1 latency per runtime",
            "latency.png",
            plots.boxes_figure(latency, "Batch-1 inference latency per runtime (box: quartiles; whiskers: p1-p99)"),
        )
    for model, series in trend_series([*suites, *history]).items():
        save_and_link(
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
