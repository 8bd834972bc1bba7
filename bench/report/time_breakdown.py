"""The report's "Where the time goes" section: the profile scenario's cells (bench/scenarios/profile.py), per workload.

Per (device model, workload): a table of milliseconds per step by kind of work (bench.measure.worktypes.KINDS, then
the uncovered time and the profiled step itself) for each backend, with TensorFlow's minus PyTorch's per kind
(the first native PyTorch backend against the first Keras-on-TensorFlow one); a sentence naming the kinds that make
up most of that gap and the ops behind them; the profiler's own cost; the ops no table knew ("other"), each by
name; and the settings that change speed (each backend's `settings()["speed"]`) side by side, those that differ
flagged. `summary_lines` gives the Summary its lines (the gap's kinds, the settings that differ); a stacked bar per
workload goes into the plots (`stacked_panels`). Medians over a cell's runs. Nothing here imports a framework.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from bench.analysis import cells
from bench.analysis.cells import Cell
from bench.core.formatting import fmt, markdown, workload_title
from bench.measure.worktypes import KIND_LABELS, KINDS, OTHER, SPEED_SETTINGS, UNCOVERED
from bench.records.results import ProfiledOp, Suite
from bench.report.plots import Panel, Stack

SCENARIO = "profile"
HEADING = "## Where the time goes (profile scenario)"
GAP_SHARE = 0.25  # the sentence names the kinds that each make up this share of the gap or more (at most MAX_NAMED)
MAX_NAMED = 3
TOP_OPS = 2  # ops named per side for each kind the sentence names


@dataclass(frozen=True)
class Group:
    """One workload's profile cells on one device model."""

    device_model: str
    workload: str
    cells: list[Cell]

    def pair(self) -> tuple[Cell | None, Cell | None]:
        """(the PyTorch cell, the TensorFlow cell) compared: the first of each in the registry's order."""
        pt = next((c for c in self.cells if c.framework == "torch" and not c.backend.startswith("keras")), None)
        tf = next((c for c in self.cells if c.framework == "tensorflow"), None)
        return pt, tf


def profile_cells(suites: Sequence[Suite]) -> list[Cell]:
    return [c for c in cells.cells(suites) if c.base_scenario == SCENARIO]


def groups(suites: Sequence[Suite]) -> list[Group]:
    out: dict[tuple[str, str], list[Cell]] = {}
    for c in profile_cells(suites):
        out.setdefault((c.device_model, c.workload), []).append(c)
    return [Group(model, workload, cs) for (model, workload), cs in out.items()]


def median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def kind_ms(c: Cell, kind: str) -> float | None:
    """The cell's ms per step in `kind` (a KINDS entry, UNCOVERED or "step"), the median over its runs."""
    profiles = [r.step_profile for r in c.runs if r.step_profile is not None]
    if kind == "step":
        return median([p.step_wall_ms for p in profiles])
    if kind == UNCOVERED:
        return median([p.uncovered_ms for p in profiles])
    return median([p.kind_ms.get(kind, 0.0) for p in profiles])


def cell_ops(c: Cell) -> list[ProfiledOp]:
    """Every op any of the cell's runs saw, its calls and self time per step the mean over the runs (0 in a run
    that did not see it), the costliest first."""
    profiles = [r.step_profile for r in c.runs if r.step_profile is not None]
    seen: dict[tuple[str, str, str], list[ProfiledOp]] = {}
    for p in profiles:
        for o in p.ops:
            seen.setdefault((o.op_type, o.name, o.kind), []).append(o)
    n = max(len(profiles), 1)
    merged = [
        ProfiledOp(t, name, kind, sum(o.calls_per_step for o in os) / n, sum(o.self_ms for o in os) / n)
        for (t, name, kind), os in seen.items()
    ]
    return sorted(merged, key=lambda o: -o.self_ms)


def shown_kinds(cs: Sequence[Cell]) -> list[str]:
    """The kinds with time in any of the cells ("other" only where an op fell there), then UNCOVERED."""
    return [k for k in KINDS if any((kind_ms(c, k) or 0.0) > 0 for c in cs)] + [UNCOVERED]


def difference(pt: Cell | None, tf: Cell | None, kind: str) -> float | None:
    a, b = (kind_ms(pt, kind) if pt else None), (kind_ms(tf, kind) if tf else None)
    return b - a if a is not None and b is not None else None


COMPUTE_KINDS = ("matmul", "convolution", "attention")  # the kinds whose products bench/core/flops.py counts
RATE_ROW = "GFLOP/s in matmul, convolution (with pooling) and attention"


def compute_rate(c: Cell) -> float | None:
    """The suite's analytic FLOPs per step (bench/core/flops.py: matmul, convolution and attention products) over
    the time of those kinds in the profiled step, GFLOP/s (a little low: pooling shares convolution's kind)."""
    rates = []
    for r in c.runs:
        p = r.step_profile
        busy_ms = sum(p.kind_ms.get(k, 0.0) for k in COMPUTE_KINDS) if p else 0.0
        if r.flops_per_step and busy_ms > 0:
            rates.append(r.flops_per_step / (busy_ms / 1e3) / 1e9)
    return median(rates)


def table(g: Group) -> pd.DataFrame:
    pt, tf = g.pair()
    ok = [c for c in g.cells if c.ok]
    rows = []
    for kind in [*shown_kinds(ok), "step"]:
        row = {"Kind of work": KIND_LABELS.get(kind, "profiled step (wall)")}
        for c in ok:
            row[f"{c.backend} (ms)"] = fmt(kind_ms(c, kind))
        if pt is not None and tf is not None and pt.ok and tf.ok:
            d = difference(pt, tf, kind)
            row["TF − PT (ms)"] = "-" if d is None else f"{d:+.3g}"
        rows.append(row)
    rate = {"Kind of work": RATE_ROW, **{f"{c.backend} (ms)": fmt(compute_rate(c)) for c in ok}}
    return pd.DataFrame([*rows, rate]).fillna("")


def ops_text(c: Cell, kind: str) -> str:
    """'27 ops a step, mostly AssignSubVariableOp 0.41 ms, Sqrt 0.2 ms' (ops of one name counted as one)."""
    ops = [o for o in cell_ops(c) if o.kind == kind]
    if not ops:
        return "no op"
    calls = sum(o.calls_per_step for o in ops)
    by_type: dict[str, float] = {}
    for o in ops:
        by_type[o.op_type] = by_type.get(o.op_type, 0.0) + o.self_ms
    top = sorted(by_type.items(), key=lambda kv: -kv[1])[:TOP_OPS]
    return f"{calls:.0f} op calls a step, mostly " + ", ".join(f"{name} {ms(t)} ms" for name, t in top)


def ms(x: float) -> str:
    """'0.352', '12.4', '614': milliseconds to three significant digits, never in exponent form."""
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def gap_sentence(g: Group, with_ops: bool = True) -> str:
    """Which framework's profiled step is longer, by how much, and the kinds (with their ops, `with_ops`) behind
    most of it."""
    pt, tf = g.pair()
    if pt is None or tf is None or not (pt.ok and tf.ok):
        return ""
    a, b = kind_ms(pt, "step"), kind_ms(tf, "step")
    if a is None or b is None:
        return ""
    gap = b - a
    slower = "TensorFlow" if gap > 0 else "PyTorch"
    kinds = [k for k in shown_kinds([pt, tf])]
    diffs = sorted(((difference(pt, tf, k) or 0.0, k) for k in kinds), key=lambda dk: -dk[0] * (1 if gap > 0 else -1))
    named = [(d, k) for d, k in diffs if d * gap > 0 and abs(d) >= GAP_SHARE * abs(gap)][:MAX_NAMED]
    named = named or [dk for dk in diffs[:1] if dk[0] * gap > 0]
    covered = sum(d for d, _ in named)
    head = (
        f"{slower}'s profiled step is {ms(abs(gap))} ms longer ({tf.backend} {ms(b)} ms against "
        f"{pt.backend} {ms(a)} ms, TF/PT {b / a:.2f})"
    )
    if not named:
        return head + "."
    parts = []
    for d, k in named:
        side = "TensorFlow" if d > 0 else "PyTorch"
        if k == UNCOVERED:
            parts.append(f"{side} {ms(abs(d))} ms more outside any op (dispatch, Python, runtime)")
        elif not with_ops:
            parts.append(f"{side} +{ms(abs(d))} ms in {KIND_LABELS[k]}")
        else:
            more, less = (tf, pt) if d > 0 else (pt, tf)
            parts.append(
                f"{side} +{ms(abs(d))} ms in {KIND_LABELS[k]}: {ops_text(more, k)} against {ops_text(less, k)}"
            )
    share = covered / gap if gap else 0.0
    return head + "; most of it: " + "; ".join(parts) + f" ({share:.0%} of the gap)."


def cost_line(cs: Sequence[Cell]) -> str:
    """The profiler's own cost per backend: the profiled window's median step against the unprofiled one's."""
    parts = []
    for c in cs:
        on = median([r.step_profile.profiled_median_step_ms for r in c.runs if r.step_profile])
        off = median([r.step_profile.unprofiled_median_step_ms for r in c.runs if r.step_profile])
        if on is not None and off:
            parts.append(f"{c.backend} {fmt(on)} ms profiled against {fmt(off)} ms without ({on / off - 1:+.0%})")
    return ("Profiler cost (median step, same process): " + "; ".join(parts) + ".") if parts else ""


def contended_line(cs: Sequence[Cell]) -> str:
    """Which backends' runs other processes took CPU from: a preempted op's time is in its kind there."""
    hit = [f"{c.backend} {len(c.contended)} of {len(c.runs)}" for c in cs if c.contended]
    if not hit:
        return ""
    return "Contended runs (other processes took their CPU; a preempted op's time counts in its kind): " + (
        ", ".join(hit) + "."
    )


def other_lines(cs: Sequence[Cell]) -> list[str]:
    """Every op no table knew, by backend and name: listed, never dropped."""
    lines = []
    for c in cs:
        others = [o for o in cell_ops(c) if o.kind == OTHER]
        if others:
            names = ", ".join(f"`{o.name}` ({fmt(o.self_ms, 2)} ms)" for o in others)
            lines.append(f'- {c.backend}, ops not in its table (kind "other"): {names}')
    return lines


def speed_settings(c: Cell) -> dict[str, str]:
    return next((dict(r.settings.get("speed") or {}) for r in c.runs), {})


def state(value: str | None) -> str:
    """What a setting is, without where it was read: "on (torch.backends.mkldnn)" -> "on". Settings differ when
    their states do."""
    return "-" if value is None else value.split(" (", 1)[0]


def settings_table(cs: Sequence[Cell]) -> tuple[pd.DataFrame, list[str]]:
    """The speed settings side by side, and the keys whose values differ between the backends."""
    by_backend = {c.backend: speed_settings(c) for c in cs}
    keys = [k for k in SPEED_SETTINGS if any(k in s for s in by_backend.values())]
    keys += sorted({k for s in by_backend.values() for k in s} - set(keys))
    differ = [k for k in keys if len({state(s.get(k)) for s in by_backend.values()}) > 1]
    rows = [
        {"Setting": SPEED_SETTINGS.get(k, k) + (" (differs)" if k in differ else ""), **{
            b: s.get(k, "-") for b, s in by_backend.items()
        }}
        for k in keys
    ]  # fmt: skip
    return pd.DataFrame(rows), differ


def differing_settings(pt: Cell, tf: Cell) -> list[str]:
    """'data layout (NCHW (channels first) against NHWC (channels last))' for each speed setting that differs."""
    a, b = speed_settings(pt), speed_settings(tf)
    return [
        f"{SPEED_SETTINGS.get(k, k)} ({a.get(k, '-')} against {b.get(k, '-')})"
        for k in dict.fromkeys([*a, *b])
        if state(a.get(k)) != state(b.get(k))
    ]


def section(suites: Sequence[Suite]) -> list[str]:
    gs = groups(suites)
    if not gs:
        return []
    several = len({g.device_model for g in gs}) > 1
    lines = [
        HEADING,
        "",
        "Each backend's steady steps under its framework's own profiler (torch.profiler; TensorFlow's and JAX's "
        "profilers read with XProf), in a worker of their own, on the same data, batch order and initial weights "
        "as the timed runs; each op's self time sorted into one set of kinds of work by a table per framework. "
        "Milliseconds per profiled step, median over runs; uncovered = the profiled step's wall time (the "
        "harness's clock) less its ops' time: dispatch, Python, the framework's runtime. docs/METHODOLOGY.md, "
        '"Where the time goes".',
        "",
    ]
    for g in gs:
        ok = [c for c in g.cells if c.ok]
        lines += [workload_title(g.workload, "fp32", g.device_model, several), ""]
        for c in g.cells:
            if not c.ok:
                lines.append(f"- {c.backend}: {c.status} ({c.reason.splitlines()[-1] if c.reason else ''})")
        if not ok:
            lines.append("")
            continue
        lines += [markdown(table(g)), ""]
        for text in (gap_sentence(g), cost_line(ok), contended_line(ok)):
            if text:
                lines += [text, ""]
        others = other_lines(ok)
        if others:
            lines += [*others, ""]
        settings, differ = settings_table(ok)
        lines += [
            "Settings that change speed, read from each framework at run time"
            + (f" ({len(differ)} differ)" if differ else " (none differ)")
            + ":",
            "",
            markdown(settings),
            "",
        ]
    return lines


def summary_lines(suites: Sequence[Suite]) -> list[str]:
    """The Summary's lines for the profile scenario: per workload the gap's kinds, and the speed settings that
    differ between the PyTorch and TensorFlow backends compared; [] without a profile pair."""
    out = []
    for g in groups(suites):
        pt, tf = g.pair()
        if pt is None or tf is None or not (pt.ok and tf.ok):
            continue
        sentence = gap_sentence(g, with_ops=False)
        differ = differing_settings(pt, tf)
        flags = ("Settings that differ: " + "; ".join(differ) + ".") if differ else "No speed setting differs."
        out.append(f"- **{g.workload}** (profile, {pt.backend} against {tf.backend}): {sentence} {flags}")
    if not out:
        return []
    return ["**Where the time goes** (section below):", "", *out, ""]


def stacked_panels(suites: Sequence[Suite]) -> list[Panel]:
    """Per workload, a stacked bar per backend: ms per step by kind, the uncovered time on top."""
    out = []
    for g in groups(suites):
        ok = [c for c in g.cells if c.ok]
        if not ok:
            continue
        kinds = shown_kinds(ok)
        stacks = tuple(
            Stack(c.backend, tuple((KIND_LABELS[k], max(kind_ms(c, k) or 0.0, 0.0)) for k in kinds)) for c in ok
        )
        out.append(Panel(g.workload, "ms per profiled step", stacks=stacks))
    return out
