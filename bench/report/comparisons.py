"""The summary's side tables, each a subsection ("###") after it: out of the box vs tuned, the Keras 3
backends beside native PyTorch, and each backend in a lower precision against its own fp32
(bench/analysis/comparisons.py's comparisons, under the summary's verdict rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bench.analysis.cells import Cell, names_scenarios
from bench.analysis.comparisons import (
    KERAS_COLUMNS,
    PrecisionComparison,
    keras_comparisons,
    precision_comparisons,
    tier_comparisons,
)
from bench.core.backends import BACKENDS
from bench.core.formatting import blank_missing, fmt, fmt_ci, markdown, workload_label
from bench.core.stats import DEFAULT_MARGIN


def comparison_sections(cs: Sequence[Cell], margin: float = DEFAULT_MARGIN) -> list[str]:
    """The side tables in the report's order (each [] where nothing ran that it compares); `margin`: the
    verdict rule's margin for "the same"."""
    return [*tiers_section(cs, margin), *keras_section(cs, margin), *precision_section(cs, margin)]


def subsection(heading: str, rows: Sequence[dict[str, str]], notes: Sequence[str], legend: str) -> list[str]:
    """One side table: its heading, the table (none without rows), the notes under it, then its legend."""
    table = [markdown(blank_missing(pd.DataFrame(rows))), ""] if rows else []
    return [heading, "", *table, *notes, *([""] if notes else []), legend, ""]


def tiers_section(cs: Sequence[Cell], margin: float = DEFAULT_MARGIN) -> list[str]:
    """Out of the box vs tuned: per framework the fastest default-tier backend (the path its documentation
    teaches) and the fastest tuned one, and the TensorFlow / PyTorch ratio within each tier."""
    comparisons = tier_comparisons(cs, margin)
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
    return subsection(
        "### Out of the box vs tuned",
        rows,
        [],
        f"Out of the box: the fastest backend on the path each framework's documentation teaches ({defaults}); "
        "tuned: the fastest of the others (graph capture, compilation, XLA), with its speed-up over out of the "
        "box. Median step time; the ratios follow the summary's verdict rule.",
    )


def keras_section(cs: Sequence[Cell], margin: float = DEFAULT_MARGIN) -> list[str]:
    """The Keras 3 backend table: the same Keras twins on TensorFlow, JAX and PyTorch beside native PyTorch."""
    comparisons = keras_comparisons(cs, margin)
    if not comparisons:
        return []
    named = names_scenarios(cs)

    def shown(c: Cell | None) -> str:
        return "-" if c is None else f"{c.backend} {fmt(c.step_time()[0])} ms"

    rows = [
        {
            "workload": workload_label(k.workload, k.scenario, named),
            **{col: shown(k.fastest.get(col)) for col in KERAS_COLUMNS},
            "Keras JAX / TF [95% CI]": fmt_ci(k.ratio("Keras on JAX", "Keras on TensorFlow")),
            "Keras on PyTorch / PyTorch eager [95% CI]": fmt_ci(k.ratio("Keras on PyTorch", "PyTorch eager")),
        }
        for k in comparisons
    ]
    return subsection(
        "### Keras 3 backends beside native PyTorch",
        rows,
        [],
        "The same Keras twin (one model file) trained on each Keras 3 backend, each in its own process: on "
        "TensorFlow the fastest Keras backend, on JAX the stateless step under `jax.jit`, on PyTorch the Keras "
        "guide's eager loop (torch autograd, Keras optimizer). PyTorch eager and the fastest native PyTorch "
        "backend run the torch twin. Median step time; a ratio above 1 means the second is faster. Keras on JAX "
        "and on PyTorch are not in the headline, which compares native PyTorch with Keras on TensorFlow.",
    )


def precision_section(cs: Sequence[Cell], margin: float = DEFAULT_MARGIN) -> list[str]:
    """Each backend in a lower precision beside its own fp32 run: speed-up, metric change, memory."""
    comparisons = precision_comparisons(cs, margin)
    if not comparisons:
        return []

    def step_time_text(c: Cell | None) -> str:
        if c is None:
            return "not run"
        return f"{fmt(c.step_time()[0])} ms" if c.ok else f"{c.status}: {c.reason.splitlines()[0] if c.reason else ''}"

    def change(p: PrecisionComparison) -> str:
        d = p.metric_change()
        if d is None:
            return "speed only" if p.cell.ok and p.fp32 is not None and p.fp32.ok else "-"
        return f"{d:+.3f} {p.cell.runs[0].metric_name}"

    def memory(p: PrecisionComparison) -> str:
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
            "step time": step_time_text(p.cell),
            "fp32 step time": step_time_text(p.fp32),
            "speed-up over fp32 [95% CI]": fmt_ci(p.speedup()),
            "metric change": change(p),
            "training memory (vs fp32)": memory(p),
        }
        for p in comparisons
        if p.cell.status != "unsupported"
    ]
    notes = [
        f"- {precision} unsupported for {', '.join(names[:6])}{' ...' if len(names) > 6 else ''} "
        f"({len(names)} cell{'s' if len(names) != 1 else ''}): {reason}"
        for (precision, reason), names in unsupported.items()
    ]
    return subsection(
        "### Precision: each backend against its own fp32",
        rows,
        notes,
        "fp32 is strict float32 (TF32 off). tf32: TF32 tensor-core matmuls and convolutions; bf16 and fp16: "
        "mixed precision (torch.autocast, Keras' mixed dtype policies; float32 weights; fp16 with loss scaling). "
        "Speed-up: the fp32 median step time over this precision's (above 1: faster). Metric change: the final "
        "metric's mean over seeds minus fp32's (none for speed-only runs). A combination a framework or device "
        'cannot run is shown with its reason (docs/METHODOLOGY.md, "Precision").',
    )
