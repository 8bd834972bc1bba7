"""The report's Input pipeline section: the pipeline scenario's cells (bench/scenarios/pipeline.py), per workload.

Per (device model, workload): which framework's pipeline fed training faster (the verdict rule on the
end-to-end step times of each framework's fastest tuned setting, as the training cells' "faster"), then a
table with a row per framework and setting (medians over the runs), and a plot of samples/s against the
parallel decoders. Nothing here imports a framework.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.analysis import verdicts
from bench.analysis.cells import Cell
from bench.core.formatting import fmt, fmt_ci, markdown, one_line, workload_title
from bench.core.stats import DEFAULT_MARGIN
from bench.records.results import PipelineRun
from bench.report.plots import Curve, Panel
from bench.report.summary import ANSWER_WORDS

SCENARIO = "pipeline"
PIPELINES = {"torch": "PyTorch DataLoader", "tensorflow": "tf.data"}


def pipeline_cells(cs: Sequence[Cell]) -> list[Cell]:
    return [c for c in cs if c.base_scenario == SCENARIO]


def groups(cs: Sequence[Cell]) -> dict[tuple[str, str, str], list[Cell]]:
    """{(device model, workload, precision): its pipeline cells, PyTorch first}."""
    out: dict[tuple[str, str, str], list[Cell]] = {}
    for c in sorted(pipeline_cells(cs), key=lambda c: (c.framework != "torch", c.backend)):
        out.setdefault((c.device_model, c.workload, c.precision), []).append(c)
    return out


def setting_runs(c: Cell) -> dict[str, list[PipelineRun]]:
    """{setting: its entries over the cell's runs}, in the sweep's order."""
    out: dict[str, list[PipelineRun]] = {}
    for r in c.runs:
        for s in r.pipeline.runs if r.pipeline else []:
            out.setdefault(s.setting, []).append(s)
    return out


def median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.median(vals)) if vals else None


def fastest_setting(c: Cell) -> str:
    """The tuned setting most runs found fastest end to end (ties: the sweep's first)."""
    names = [r.pipeline.fastest_tuned for r in c.runs if r.pipeline and r.pipeline.fastest_tuned]
    return max(dict.fromkeys(names), key=names.count) if names else "-"


def table(group: Sequence[Cell]) -> pd.DataFrame:
    rows = []
    for c in group:
        best = fastest_setting(c)
        for name, entries in setting_runs(c).items():
            ok = [e for e in entries if e.status == "ok"]
            e2e = median([e.e2e_samples_s for e in ok])
            stall = median([e.stall_share for e in ok])
            share = median(
                [e.e2e_samples_s / e.memory_fed_samples_s for e in ok if e.e2e_samples_s and e.memory_fed_samples_s]
            )
            failed = [e for e in entries if e.status != "ok"]
            rows.append(
                {
                    "Pipeline": f"{PIPELINES.get(c.framework, c.framework)} ({c.backend})",
                    "Setting": name + (" (fastest)" if name == best else ""),
                    "Tuned": "yes" if entries[0].tuned else "no (defaults)",
                    "Input alone (samples/s)": fmt(median([e.input_samples_s for e in ok])),
                    "First batch (ms)": fmt(median([e.first_batch_ms for e in ok])),
                    "Epoch end (ms)": fmt(median([float(np.mean(e.epoch_end_ms)) for e in ok if e.epoch_end_ms])),
                    "Cores": fmt(median([e.input_cores for e in ok]), 2),
                    "Peak PSS (MiB)": fmt(median([e.input_peak_pss_mib for e in ok])),
                    "Training fed (samples/s)": fmt(e2e),
                    "Stall": "-" if stall is None else f"{stall:.0%}",
                    "Of from-memory": "-" if share is None else f"{share:.0%}",
                    "Runs": f"{len(ok)}"
                    + (f" ({len(failed)} failed: {one_line(failed[0].reason, 60)})" if failed else ""),
                }
            )
    return pd.DataFrame(rows)


def defaults_note(c: Cell) -> str:
    """A sentence where the framework's defaults fed training faster than every tuned setting (medians)."""
    rates = {
        name: median([e.e2e_samples_s for e in entries if e.status == "ok"])
        for name, entries in setting_runs(c).items()
    }
    tuned = {name: v for name, v in rates.items() if v is not None and name != "default"}
    default = rates.get("default")
    if default is None or not tuned or default <= max(tuned.values()):
        return ""
    best = max(tuned, key=lambda k: tuned[k])
    return (
        f"{PIPELINES.get(c.framework, c.framework)}'s defaults fed training faster than any tuned setting here "
        f"({fmt(default)} against {fmt(tuned[best])} samples/s for {best}): the tuned settings' workers took "
        "cores the training step needed. The verdict compares the fastest tuned settings, as stated."
    )


def verdict(group: Sequence[Cell], margin: float = DEFAULT_MARGIN) -> tuple[str, verdicts.Ratio | None]:
    """Which framework's fastest tuned pipeline fed training faster, by the verdict rule (TF / PT step)."""
    pt, tf = verdicts.fastest(group, "torch"), verdicts.fastest(group, "tensorflow")
    if pt is None or tf is None:
        return "", None
    r = verdicts.ratio(tf, pt, margin)
    if r is None:
        return "", None
    why = r.why_not or ("" if r.run_level else "per-run medians needed")
    word = "no verdict" if why else ANSWER_WORDS.get(verdicts.framework_answer(r), "no verdict")
    line = (
        f"Fed training faster: **{word}**"
        + (f" ({why})" if why else "")
        + f". End-to-end step, tf.data's fastest tuned setting ({fastest_setting(tf)}, {tf.backend}) over "
        f"DataLoader's ({fastest_setting(pt)}, {pt.backend}): {fmt_ci(r)}."
    )
    return line, r


def pipeline_section(cs: Sequence[Cell], margin: float = DEFAULT_MARGIN) -> list[str]:
    gs = groups(cs)
    if not gs:
        return []
    models = {m for m, _, _ in gs}
    lines = [
        "## Input pipeline: DataLoader against tf.data, reading image files",
        "",
        "`--scenario pipeline`: the training split written as image files in class folders, then read, decoded, "
        "augmented (random crop with 4-pixel zero padding, horizontal flip), normalised, shuffled and batched "
        "by each framework's own pipeline (PyTorch: a Dataset with PIL decoding and a DataLoader; TensorFlow: "
        "tf.data with tf.io decoding and the crop and flip as gathers per batch), both following one plan per "
        "epoch (the file order, each file's crop and flip: the same rows in both), for each setting of a sweep: "
        'the documented defaults, then tuned (workers, prefetch, AUTOTUNE, cache). docs/METHODOLOGY.md, "Input '
        'pipelines".',
        "",
        "- Input alone: one epoch after a warm-up epoch, no training, up to its last batch. First batch: the "
        "warm-up epoch's (worker start-up). Epoch end: the call that finds an epoch over (an iterator's "
        "teardown), mean of the three epochs, kept out of the rates. Cores: the process tree's CPU time over "
        "the wall time (workers included). Peak PSS: the tree's memory, shared pages counted once (sampled "
        "over the warm-up epoch, and after the measured one).",
        "- Training fed: one epoch of the model trained from the pipeline, samples over its waits and steps; "
        "stall: the waits' share. Of from-memory: against the same model fed from memory (no files, no "
        "augmentation) for one epoch just before: the ceiling, measured next to each setting.",
        "- The verdict: the rule of the training cells (per-run medians, 3 runs a side) on the end-to-end "
        "step times (wait + step) of each framework's fastest tuned setting, chosen in each run; (fastest) "
        "marks the setting most runs chose, so a row of higher median samples/s may sit beside it.",
        "",
    ]
    for (model, workload, precision), group in gs.items():
        line, _ = verdict(group, margin)
        files = next((r.pipeline for c in group for r in c.runs if r.pipeline), None)
        lines += [workload_title(workload, precision, model, len(models) > 1), ""]
        if files is not None:
            lines += [f"{files.files} {files.format.upper()} files from {files.image_source}.", ""]
        if line:
            lines += [line, ""]
        lines += [note + "\n" for c in group if (note := defaults_note(c))]
        failed = [c for c in group if not c.ok]
        for c in failed:
            lines += [f"{c.backend}: {c.status}: {one_line(c.reason, 200)}", ""]
        df = table(group)
        if not df.empty:
            lines += [markdown(df), ""]
    return lines


def throughput_panels(cs: Sequence[Cell]) -> list[Panel]:
    """Per workload, samples/s against the parallel decoders: input alone and training fed, a line each per
    backend (AUTOTUNE settings are left out: they choose their own count)."""
    out = []
    for (_, workload, _), group in groups(cs).items():
        curves = []
        for c in group:
            for label, attr in (("input alone", "input_samples_s"), ("training fed", "e2e_samples_s")):
                pts = sorted(
                    {
                        entries[0].workers: median([getattr(e, attr) for e in entries if e.status == "ok"])
                        for name, entries in setting_runs(c).items()
                        if "autotune" not in name
                    }.items()
                )
                pts = [(w, v) for w, v in pts if v is not None]
                if pts:
                    curves.append(
                        Curve(
                            f"{c.backend} {label}",
                            tuple(float(w) for w, _ in pts),
                            tuple(float(v) for _, v in pts),  # type: ignore[misc]
                        )
                    )
        if curves:
            out.append(Panel(workload, "samples/s", curves=tuple(curves)))
    return out
