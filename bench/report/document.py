"""The report people read: results/REPORT.md and results/plots/*.png, from results files only.

`write(suites, out_dir, history)` draws the plots (bench/report/figures.py) and writes REPORT.md;
`render(suites, figures)` returns the markdown: its sections in their order, each from its own module
(notes, summary, devices, comparisons, per_workload, scaling, input_pipeline, time_breakdown, deployment,
seed_comparison, figures, environment), with the prose folded at PROSE_WIDTH. `summary_text(suites)` is the Summary alone,
as `fwbench run` prints it. The sections render bench/analysis's cells (repeats of one scenario, workload,
backend and device model; docs/METHODOLOGY.md) with bench/core/formatting.py's text; `history` adds earlier
runs for the trend plot only. How to read the report: docs/REPORTS.md. The only number not read from a
results file is the code size of each twin, counted from impls/ by bench/report/codesize.py.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.analysis import cells
from bench.analysis.cells import suite_device_model
from bench.core.errors import UsageError
from bench.core.files import atomic_write_text
from bench.core.stats import DEFAULT_MARGIN
from bench.records import pbjson
from bench.records.results import Suite
from bench.report import (
    comparisons,
    deployment,
    devices,
    environment,
    generation,
    input_pipeline,
    notes,
    per_workload,
    scaling,
    seed_comparison,
    summary,
    time_breakdown,
)
from bench.report.figures import PlotLink, make_plots, plots_section


def render(suites: Sequence[Suite], figures: Sequence[PlotLink] = (), margin: float = DEFAULT_MARGIN) -> str:
    """REPORT.md's text: the header, the notes, the Summary, then every section that has something to show.
    `margin`: how close two sides must be shown to be for the verdict rule's "the same" (fwbench --margin)."""
    cs = per_workload.training_cells(suites)
    device_models = sorted({suite_device_model(s) for s in suites})
    lines = [
        "# fwbench report: PyTorch vs TensorFlow",
        "",
        "Rendered from "
        + ", ".join(f"`{s.run_id}`" for s in suites)
        + f" by `fwbench report`; measured on {', '.join(device_models)}. Every number below comes from those files "
        "(the code sizes are counted from impls/).",
        "",
        *notes.sources_note(suites),
        *notes.budget_note(suites),
        *notes.partial_note(suites),
        *notes.busy_note(suites),
        *summary.summary_section(cs, suites, margin),
        *devices.cross_device_section(cs, margin),
        *comparisons.comparison_sections(cs, margin),
        *per_workload.headline_section(cs),
        *scaling.scaling_section(cs),
        *input_pipeline.pipeline_section(cells.cells(suites), margin),
        *time_breakdown.section(suites),
        *deployment.deployment_section(suites),
        *generation.generation_section(suites),
        *seed_comparison.seed_section(cs, suites),
        *plots_section(figures),
        *environment.environment_block(suites),
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


def summary_text(suites: Sequence[Suite], margin: float = DEFAULT_MARGIN) -> str:
    """The report's answer, its Summary section as REPORT.md has it ("## Summary: PyTorch vs TensorFlow" up
    to the next "## " section; "" without one): what `fwbench run` prints when it ends, before the paths of
    the files. The side tables are subsections ("###") of the section before them: the Summary's unless the
    cross-device section stands between."""
    cs = per_workload.training_cells(suites)
    answer = summary.summary_section(cs, suites, margin)
    if not answer:
        return ""
    if not devices.cross_device_section(cs, margin):
        answer += comparisons.comparison_sections(cs, margin)
    return wrap_prose("\n".join(answer)).strip()


def terminal_text(suites: Sequence[Suite], margin: float = DEFAULT_MARGIN) -> str:
    """What `fwbench run` prints when it ends, before the paths of the files: the answer in 100 columns (the
    training summary's sentence, one row per workload and a legend; the inference and export answer), without
    markdown's emphasis; the Details table and the side tables stay in REPORT.md. "" without an answer."""
    training = summary.terminal_lines(per_workload.training_cells(suites), suites, margin)
    deploy = deployment.summary_lines(suites, alone=not training, margin=margin)
    if not training and not deploy:
        return ""
    return wrap_prose("\n".join([*training, *([""] if training and deploy else []), *deploy]).replace("**", "")).strip()


def load_history(paths: Iterable[str | Path]) -> list[Suite]:
    """Earlier runs for the trend plot; a file that cannot be read is skipped (it only loses a point)."""
    out = []
    for p in paths:
        try:
            out.append(pbjson.load_any(p))
        except UsageError:
            continue
    return out


def write(
    suites: Sequence[Suite], out_dir: Path, history: Sequence[Suite] = (), margin: float = DEFAULT_MARGIN
) -> Path:
    """Plots into out_dir/plots, then out_dir/REPORT.md (atomically); `history` feeds the trend plot only.
    Refuses (UsageError) to replace a report with one of nothing: the old files stay."""
    return write_with_figures(suites, out_dir, history, margin)[0]


def write_with_figures(
    suites: Sequence[Suite], out_dir: Path, history: Sequence[Suite] = (), margin: float = DEFAULT_MARGIN
) -> tuple[Path, list[PlotLink]]:
    """`write`, returning the figures too (their paths relative to out_dir)."""
    if not any(s.results for s in suites):
        raise UsageError("no results to report: the old report and plots are left as they are")
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = make_plots(suites, history, out_dir)
    return atomic_write_text(out_dir / "REPORT.md", render(suites, figures, margin)), figures


RUN_REPORTS_DIR = "reports"  # results/reports/<run-id>/: each run's own REPORT.md and plots, never replaced by another


def write_run(
    suite: Suite, out_dir: Path, history: Sequence[Suite] = (), margin: float = DEFAULT_MARGIN
) -> tuple[Path, Path]:
    """A run's report, kept: out_dir/reports/<run-id>/REPORT.md with its plots/ beside it. Then
    out_dir/REPORT.md, the latest run's report (its figures linked in that run's folder), ending with the
    earlier runs' reports. Nothing of another run is touched. Returns (the run's report, the latest's)."""
    rel = f"{RUN_REPORTS_DIR}/{suite.run_id}"
    own, figures = write_with_figures([suite], out_dir / rel, history, margin)
    linked = [PlotLink(f.title, f"{rel}/{f.path}") for f in figures]
    earlier = sorted(
        (d.name for d in (out_dir / RUN_REPORTS_DIR).iterdir() if d.is_dir() and d.name != suite.run_id),
        reverse=True,  # run ids sort by time: the newest first
    )
    text = render([suite], linked, margin)
    if earlier:
        text += "\n## Earlier runs in this folder\n\n" + "".join(
            f"- [{run_id}]({RUN_REPORTS_DIR}/{run_id}/REPORT.md)\n" for run_id in earlier
        )
    latest = atomic_write_text(out_dir / "REPORT.md", text)
    return own, latest
