"""The figures say what they show: titles, axis labels with units, a legend of backends, CI whiskers,
missing cells labelled with their status, and one panel per workload laid out in rows of three."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from matplotlib.collections import LineCollection

from bench.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def legend_labels(fig: plots.Figure) -> list[str]:
    return [t.get_text() for lg in fig.legends for t in lg.get_texts()]


def step_panel(name: str, status: str = "ok") -> plots.Panel:
    return plots.Panel(
        name,
        "median step time (ms)",
        bars=(
            plots.Bar("torch-eager", 2.0, 1.9, 2.2),
            plots.Bar("keras", 3.0, 2.8, 3.1) if status == "ok" else plots.Bar("keras", None, status=status),
        ),
    )


def test_bars_have_labels_whiskers_a_legend_and_status_for_missing_cells(tmp_path: Path) -> None:
    fig = plots.bars_figure([step_panel("mlp-iris"), step_panel("lstm-sentiment", "unsupported")], "Step time")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["mlp-iris", "lstm-sentiment"]
    assert all(ax.get_ylabel() == "median step time (ms)" for ax in axes)
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["torch-eager", "keras"]
    assert legend_labels(fig) == ["torch-eager", "keras"]
    assert "unsupported" in [t.get_text() for t in axes[1].texts]
    whiskers = [c for c in axes[0].collections if isinstance(c, LineCollection)]
    spans = sorted(tuple(seg[:, 1]) for w in whiskers for seg in w.get_segments())
    assert spans == [(1.9, 2.2), (2.8, 3.1)]  # the CI bounds, exactly
    assert fig.get_suptitle() == "Step time"
    path = plots.save(fig, tmp_path / "bars.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_eight_workloads_are_laid_out_in_rows_of_three_with_the_rest_hidden() -> None:
    fig = plots.bars_figure([step_panel(f"w{i}") for i in range(8)], "Step time")
    assert len(fig.axes) == 9 and sum(ax.get_visible() for ax in fig.axes) == 8
    width, height = fig.get_size_inches()
    assert width == 3 * plots.PANEL_W_IN and height > 3 * plots.PANEL_H_IN


def test_curves_draw_the_target_and_use_a_log_axis_when_times_span_decades() -> None:
    compile_heavy = plots.Panel(
        "mlp-iris",
        "accuracy",
        curves=(
            plots.Curve("torch-eager", (0.05, 0.1, 0.2), (0.5, 0.9, 0.97)),
            plots.Curve("torch-compile", (20.0, 20.1, 20.2), (0.5, 0.9, 0.97)),
            plots.Curve("torch-compile", (21.0, 21.1, 21.2), (0.5, 0.9, 0.96), first=False),
        ),
        target=0.9,
    )
    short = plots.Panel("cnn-digits", "accuracy", curves=(plots.Curve("keras", (1.0, 2.0), (0.8, 0.95)),), target=0.95)
    fig = plots.curves_figure([compile_heavy, short], "Metric", "training time (s)")
    ax_log, ax_lin = fig.axes[:2]
    assert ax_log.get_xscale() == "log" and ax_log.get_xlabel() == "training time (s) (log scale)"
    assert ax_lin.get_xscale() == "linear" and ax_lin.get_xlabel() == "training time (s)"
    assert ax_log.get_ylabel() == "accuracy"
    assert any(line.get_linestyle() == "--" and list(line.get_ydata()) == [0.9, 0.9] for line in ax_log.lines)
    assert "thin lines" in fig.get_suptitle()  # repeats are explained
    assert legend_labels(fig) == ["torch-eager", "torch-compile", "keras"]


def test_trend_has_a_point_per_run_and_dated_axis() -> None:
    t0 = datetime(2026, 11, 1, 2, 17)
    series = {"mlp-iris": {"torch-eager": [(t0 + timedelta(days=d), 0.5 + d / 100) for d in range(3)]}}
    fig = plots.trend_figure(series, "Trend")
    ax = fig.axes[0]
    assert len(ax.lines[0].get_xdata()) == 3
    assert ax.get_ylabel() == "median step time (ms)" and ax.get_xlabel() == "run start (UTC)"
    assert legend_labels(fig) == ["torch-eager"]


def test_bars_spanning_orders_of_magnitude_use_a_log_axis_and_carry_their_values() -> None:
    wide = plots.Panel(
        "mlp-iris",
        "median step time (ms)",
        bars=(plots.Bar("torch-eager", 124.0, 16.0, 172.0), plots.Bar("keras", 0.492, 0.41, 0.66)),
    )
    ax = plots.bars_figure([wide, step_panel("cnn-digits")], "Step time").axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "median step time (ms) (log scale)"
    assert [t.get_text() for t in ax.texts] == ["124", "0.492"]
    assert ax.get_ylim()[0] < 0.41  # the lower CI bound of the smallest bar is inside the axis


def test_every_runtime_gets_its_own_colour_even_where_registered_colours_clash() -> None:
    names = ["torch-eager (own path)", "keras (own path)", "savedmodel", "torchscript", "onnx-tf", "keras-eager"]
    chosen = plots.distinct_colors(names)
    assert len(set(chosen.values())) == len(names)
    assert chosen["keras (own path)"] == plots.color("keras")  # the first keeps its own colour
    clash = plots.distinct_colors(["keras", "keras (own path)"])  # the same registered colour twice
    assert clash["keras"] != clash["keras (own path)"]
    panel = plots.Panel("w", "ms", boxes=tuple((n, (1.0, 2.0, 3.0)) for n in ["keras", "keras (own path)"]))
    fig = plots.boxes_figure([panel], "latency")
    faces = [patch.get_facecolor() for patch in fig.axes[0].patches]
    assert len(set(faces)) == 2
