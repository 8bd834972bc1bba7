"""One taxonomy of the work in a training step, for every framework (docs/METHODOLOGY.md, "Where the time goes").

A framework's profiler (behind its adapter's `profiler()`, impls/<framework>/profiling.py) reports what ran in a
window of steps as `OpTime`s: an op's type and name, how often it ran and its self time (the time in the op
itself, not in the ops it called, so that nested ops are counted once). Each framework's table of `Rule`s
(living with the framework's code) names the kind of work an op is; `classify` applies a table, `breakdown`
turns a window's ops into the result's `StepProfile`: milliseconds per step by kind, every op by name (an op
no rule knows is of kind "other", listed by name, never dropped), and the uncovered time (the profiled step's
wall time, on the harness's clock, less the op time: dispatch, Python, the framework's runtime).

Nothing here imports a framework.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bench.records.results import ProfiledOp, StepProfile

# The kinds of work, in the order the report shows them. "other": ops the framework's table does not know.
KINDS = (
    "matmul",
    "convolution",
    "recurrent",
    "attention",
    "normalization",
    "elementwise",
    "reduction",
    "optimizer",
    "data_movement",
    "other",
)
UNCOVERED = "uncovered"  # not a kind of op: the step's wall time that no op accounts for
KIND_LABELS = {
    "matmul": "matmul and dense",
    "convolution": "convolution and pooling",
    "recurrent": "recurrent cells",
    "attention": "attention",
    "normalization": "normalization",
    "elementwise": "elementwise and activations",
    "reduction": "reductions and loss",
    "optimizer": "optimizer update",
    "data_movement": "data movement",
    "other": "other (ops not in the table)",
    UNCOVERED: "uncovered (dispatch, Python, runtime)",
}
OTHER = "other"
# The settings that change speed, as each backend's settings()["speed"] names them (read from its framework at run
# time), with the label the report's side-by-side table gives each; a backend may add GPU-only ones.
SPEED_SETTINGS = {
    "threads": "threads",
    "onednn": "oneDNN (MKL-DNN) kernels",
    "optimizer_update": "optimizer update",
    "data_layout": "data layout",
    "graph_capture": "graph capture",
    "xla": "XLA",
    "tf32": "TF32 (GPU)",
    "cudnn_autotune": "cuDNN autotune (GPU)",
}


@dataclass(frozen=True)
class Rule:
    """One line of a framework's table: ops whose type matches `op_type` (a regular expression, matched in
    full, case-sensitive) and whose name contains a match of `name` (a regular expression; "" for any) are
    of `kind`. The first rule that matches wins."""

    op_type: str
    kind: str
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.kind == OTHER:
            raise ValueError(f"rule {self.op_type!r}: kind {self.kind!r} is not one of {', '.join(KINDS[:-1])}")
        re.compile(self.op_type)
        re.compile(self.name)


@dataclass(frozen=True)
class OpTime:
    """What a profiler saw of one op over the whole window: its type ("aten::addmm", "MatMul"), its name (the
    type again where the framework has no other, or the graph's node name), calls and self time in ms."""

    op_type: str
    name: str
    calls: int
    self_ms: float


class Profiler(Protocol):
    """What a backend's `profiler(folder)` returns: start and stop around the profiled steps (nothing else
    runs between them), then the ops it saw."""

    description: str  # the profiler and what its times are ("torch.profiler, CPU self time")
    rules: Sequence[Rule]  # the framework's table

    def start(self) -> None: ...

    def stop(self) -> list[OpTime]: ...


def classify(op_type: str, name: str, rules: Sequence[Rule]) -> str:
    """The kind of an op under a table: the first rule that matches, else "other"."""
    for r in rules:
        if re.fullmatch(r.op_type, op_type) and (not r.name or re.search(r.name, name)):
            return r.kind
    return OTHER


def merged(ops: Iterable[OpTime]) -> list[OpTime]:
    """Ops of the same type and name as one (a profiler may report an op once per thread or device)."""
    out: dict[tuple[str, str], OpTime] = {}
    for o in ops:
        seen = out.get((o.op_type, o.name))
        out[(o.op_type, o.name)] = (
            o if seen is None else OpTime(o.op_type, o.name, seen.calls + o.calls, seen.self_ms + o.self_ms)
        )
    return list(out.values())


def breakdown(
    ops: Iterable[OpTime],
    rules: Sequence[Rule],
    profiled_step_ms: Sequence[float],
    unprofiled_step_ms: Sequence[float],
    description: str,
) -> StepProfile:
    """The window's ops as milliseconds per step by kind; the uncovered time is the mean profiled step (the
    harness's clock) less the op time per step (negative only if the framework ran ops side by side)."""
    steps = len(profiled_step_ms)
    if steps == 0:
        raise ValueError("a profile needs at least one profiled step")
    rows = sorted(merged(ops), key=lambda o: -o.self_ms)
    per_step = [
        ProfiledOp(
            op_type=o.op_type,
            name=o.name,
            kind=classify(o.op_type, o.name, rules),
            calls_per_step=o.calls / steps,
            self_ms=o.self_ms / steps,
        )
        for o in rows
        if o.self_ms > 0 or o.calls > 0
    ]
    kind_ms = {k: 0.0 for k in KINDS}
    for o in per_step:
        kind_ms[o.kind] += o.self_ms
    wall_ms = statistics.fmean(profiled_step_ms)
    op_ms = sum(kind_ms.values())
    return StepProfile(
        profiler=description,
        steps=steps,
        step_wall_ms=wall_ms,
        op_ms=op_ms,
        uncovered_ms=wall_ms - op_ms,
        kind_ms=kind_ms,
        ops=per_step,
        profiled_step_ms=list(profiled_step_ms),
        unprofiled_step_ms=list(unprofiled_step_ms),
        profiled_median_step_ms=statistics.median(profiled_step_ms),
        unprofiled_median_step_ms=statistics.median(unprofiled_step_ms) if unprofiled_step_ms else None,
    )
