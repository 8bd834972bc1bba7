"""The report's figures (matplotlib, Agg backend, PNG). Each function draws from plain numbers.

One figure per kind, one panel per workload (each panel has its own y scale, since workloads
differ by orders of magnitude): step time per backend with 95% CI bars, the workload's metric
against cumulative training time per backend, peak memory per backend, and, when several runs
of the same device model exist, the median step time of each run over time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib itself is imported when the first figure is drawn (CLI start-up stays fast)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from bench.core.backends import BACKENDS

DPI = 110
PANEL_W_IN, PANEL_H_IN = 4.6, 3.5
MIN_FIG_W_IN = 7.0
TITLE_H_IN = 0.5
LEGEND_ROW_H_IN = 0.32
LEGEND_ENTRY_W_IN = 1.4
MAX_COLS = 3
LOG_SPAN = 50.0  # a time axis spanning more than this factor is drawn on a log scale

OTHER_COLOR = "#7f7f7f"  # a backend this fwbench does not know (an old results file)
# The export scenario's runtimes (bench.core.spec.RUNTIMES): PyTorch's exports blues, TensorFlow's oranges, as backends.
# Each differs from every backend's colour, since a latency plot shows backends' own paths beside exports.
RUNTIME_COLORS = {
    "torchscript": "#4eb3d3",
    "torch-export": "#084594",
    "onnx-torch": "#9ecae1",
    "onnx-torch-int8": "#c6dbef",
    "savedmodel": "#f16913",
    "tflite": "#d94801",
    "tflite-int8": "#fdae6b",
    "onnx-tf": "#fdbe85",
    "onnx-tf-int8": "#feedde",
}
# For a name whose colour an earlier name in the same figure already has (distinct_colors).
SPARE_COLORS = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939")
OWN_PATH = " (own path)"  # the latency plot's label of a backend's own inference path


@dataclass(frozen=True)
class Bar:
    """One backend's value in a panel; `value` None draws the status instead of a bar."""

    backend: str
    value: float | None
    low: float | None = None  # CI bounds, when there is one
    high: float | None = None
    status: str = "ok"


@dataclass(frozen=True)
class Curve:
    """A backend's metric after each epoch against cumulative training time (one run)."""

    backend: str
    time_s: tuple[float, ...]
    value: tuple[float, ...]
    first: bool = True  # the first run of this backend (labelled in the legend)


@dataclass(frozen=True)
class Stack:
    """One backend's stacked bar: (segment label, value) from the bottom up (the profile scenario's kinds)."""

    backend: str
    segments: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Panel:
    """One workload's panel: a title, a y label and its bars or curves."""

    title: str
    ylabel: str
    bars: tuple[Bar, ...] = ()
    curves: tuple[Curve, ...] = ()
    target: float | None = None
    boxes: tuple[tuple[str, tuple[float, ...]], ...] = ()  # (backend or runtime, samples): a distribution each
    stacks: tuple[Stack, ...] = ()  # stacked bars, one per backend


def color(backend: str) -> str:
    """The backend's registered colour (bench/core/backends.py: PyTorch blues, TensorFlow oranges), or the
    export runtime's; a backend's own inference path ("keras (own path)") has its backend's colour."""
    info = BACKENDS.get(backend.removesuffix(OWN_PATH))
    return info.color if info else RUNTIME_COLORS.get(backend, OTHER_COLOR)


def distinct_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per name, no two alike: each name's own colour (color()) unless an earlier name took it,
    then the first spare colour no name has."""
    out: dict[str, str] = {}
    for name in unique(names):
        own = color(name)
        taken = set(out.values())
        out[name] = (
            own
            if own not in taken
            else next((c for c in SPARE_COLORS if c not in taken and c not in map(color, names)), OTHER_COLOR)
        )
    return out


def unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (PNG files, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grid(
    n: int, suptitle: str, backends: Sequence[str], colors: Mapping[str, str] | None = None
) -> tuple[Figure, list[Axes]]:
    """Panels in rows of up to MAX_COLS, a title on top and the legend of backends (colours: `colors`, else
    each backend's own) below."""
    from matplotlib.patches import Patch

    plt = pyplot()
    cols = min(MAX_COLS, n)
    rows = math.ceil(n / cols)
    width = max(MIN_FIG_W_IN, PANEL_W_IN * cols)
    per_row = max(1, min(len(backends), int(width // LEGEND_ENTRY_W_IN)))
    height = PANEL_H_IN * rows + TITLE_H_IN + LEGEND_ROW_H_IN * math.ceil(len(backends) / per_row)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, layout="constrained")
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    fig.suptitle(suptitle, fontsize=13)
    handles = [Patch(color=(colors or {}).get(b) or color(b), label=b) for b in backends]
    fig.legend(handles=handles, loc="outside lower center", ncol=per_row, frameon=False, fontsize=10)
    return fig, flat[:n]


def save(fig: Figure, path: Path) -> Path:
    """Write the figure as PNG (nothing cut off at the edges) and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    pyplot().close(fig)
    return path


def value_label(v: float) -> str:
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def bars_figure(panels: Sequence[Panel], suptitle: str) -> Figure:
    """Bars per backend, each labelled with its value, CI whiskers where known; missing cells show
    their status. A panel whose values span more than LOG_SPAN is drawn on a log scale."""
    fig, axes = grid(len(panels), suptitle, unique(b.backend for p in panels for b in p.bars))
    for ax, p in zip(axes, panels):
        xs = range(len(p.bars))
        values = [b.value for b in p.bars if b.value is not None and b.value > 0]
        log = bool(values) and max(values) / min(values) > LOG_SPAN
        tops = [max(b.high or 0.0, b.value) for b in p.bars if b.value is not None]
        tallest = max(tops, default=0.0) or 1.0
        floor = min([b.low or b.value for b in p.bars if b.value] + values, default=1.0) / 3 if log else 0.0
        for x, b in zip(xs, p.bars):
            if b.value is None:
                ax.text(x, 0.03, b.status, rotation=90, ha="center", va="bottom", fontsize=9, color="0.35",
                        transform=ax.get_xaxis_transform())  # fmt: skip
                continue
            err = None
            if b.low is not None and b.high is not None:
                err = [[max(b.value - b.low, 0.0)], [max(b.high - b.value, 0.0)]]
            ax.bar(x, b.value - floor, bottom=floor, color=color(b.backend), yerr=err, capsize=4, ecolor="black",
                   width=0.7)  # fmt: skip
            ax.annotate(value_label(b.value), (x, b.value), xytext=(4, 3), textcoords="offset points", fontsize=8)
        ax.set_xticks(list(xs), [b.backend for b in p.bars], rotation=30, ha="right", fontsize=9)
        ax.set_title(p.title, fontsize=11)
        ax.set_xlim(-0.6, len(p.bars) - 0.4)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(floor, tallest * 2.0)
            ax.set_ylabel(p.ylabel + " (log scale)")
        else:
            ax.set_ylim(0, tallest * 1.12)
            ax.set_ylabel(p.ylabel)
        ax.grid(axis="y", alpha=0.3)
    return fig


def curves_figure(panels: Sequence[Panel], suptitle: str, xlabel: str) -> Figure:
    """Lines per backend (metric against time), the workload's target as a dashed line."""
    repeats = any(not c.first for p in panels for c in p.curves)
    title = suptitle + ("\n(thick line: each backend's first run; thin lines: its other repeats)" if repeats else "")
    names = unique(c.backend for p in panels for c in p.curves)
    colors = distinct_colors(names)  # lines named other than a backend ("torch-eager input alone") each their own
    fig, axes = grid(len(panels), title, names, colors)
    for ax, p in zip(axes, panels):
        times = [t for c in p.curves for t in c.time_s if t > 0]
        for c in p.curves:
            ax.plot(
                c.time_s,
                c.value,
                color=colors[c.backend],
                linewidth=1.8 if c.first else 0.9,
                alpha=1.0 if c.first else 0.5,
                marker="o" if len(c.time_s) <= 12 else None,
                markersize=3,
            )
        if p.target is not None:
            ax.axhline(p.target, color="0.3", linestyle="--", linewidth=1)
            ax.annotate("target", (0.01, p.target), xycoords=("axes fraction", "data"), fontsize=8, va="bottom")
        log = bool(times) and max(times) / min(times) > LOG_SPAN
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel + (" (log scale)" if log else ""))
        ax.set_ylabel(p.ylabel)
        ax.set_title(p.title, fontsize=11)
        ax.grid(alpha=0.3)
    return fig


def trend_figure(series: Mapping[str, Mapping[str, Sequence[tuple[datetime, float]]]], suptitle: str) -> Figure:
    """{workload: {backend: [(run start, median step ms)]}}: one line per backend, a point per run."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    fig, axes = grid(len(series), suptitle, unique(b for s in series.values() for b in s))
    for ax, (workload, by_backend) in zip(axes, series.items()):
        for backend, points in by_backend.items():
            pts = sorted(points)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color(backend), marker="o", markersize=4)
        ax.set_title(workload, fontsize=11)
        ax.set_ylabel("median step time (ms)")
        ax.set_xlabel("run start (UTC)")
        ax.set_ylim(bottom=0)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.grid(alpha=0.3)
    return fig


def boxes_figure(panels: Sequence[Panel], suptitle: str) -> Figure:
    """A box per backend or runtime (median, quartiles, whiskers at the 1st and 99th percentiles; calls
    beyond them as points), log scale where the boxes span more than LOG_SPAN."""
    names = unique(name for p in panels for name, _ in p.boxes)
    colors = distinct_colors(names)
    fig, axes = grid(len(panels), suptitle, names, colors)
    for ax, p in zip(axes, panels):
        labels = [name for name, _ in p.boxes]
        parts = ax.boxplot(
            [list(v) for _, v in p.boxes], whis=(1, 99), patch_artist=True, widths=0.6, flierprops={"markersize": 2}
        )
        for patch, name in zip(parts["boxes"], labels):
            patch.set_facecolor(colors[name])
        medians = [sorted(v)[len(v) // 2] for _, v in p.boxes if v]
        if medians and min(medians) > 0 and max(medians) / min(medians) > LOG_SPAN:
            ax.set_yscale("log")
            ax.set_ylabel(p.ylabel + " (log scale)")
        else:
            ax.set_ylabel(p.ylabel)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=9)
        ax.set_title(p.title, fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    return fig


# The stacked bars' segments (bench.measure.worktypes.KIND_LABELS), one colour each across every panel.
SEGMENT_COLORS = (
    "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd",
    "#e0e0e0",
)  # fmt: skip


def stacked_figure(panels: Sequence[Panel], suptitle: str) -> Figure:
    """A stacked bar per backend in each panel, the same segment (kind) in the same colour everywhere; each bar's
    total labelled on top."""
    labels = unique(label for p in panels for s in p.stacks for label, _ in s.segments)
    colors = {label: SEGMENT_COLORS[i % len(SEGMENT_COLORS)] for i, label in enumerate(labels)}
    fig, axes = grid(len(panels), suptitle, labels, colors)
    for ax, p in zip(axes, panels):
        for x, stack in enumerate(p.stacks):
            bottom = 0.0
            for label, value in stack.segments:
                ax.bar(x, value, bottom=bottom, color=colors[label], width=0.6, edgecolor="white", linewidth=0.5)
                bottom += value
            ax.annotate(value_label(bottom), (x, bottom), xytext=(0, 3), textcoords="offset points", ha="center",
                        fontsize=8)  # fmt: skip
        ax.set_xticks(range(len(p.stacks)), [s.backend for s in p.stacks], rotation=30, ha="right", fontsize=9)
        ax.set_title(p.title, fontsize=11)
        ax.set_ylabel(p.ylabel)
        ax.grid(axis="y", alpha=0.3)
    return fig
