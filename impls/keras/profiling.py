"""Keras' side of the profile scenario (bench/scenarios/profile.py) on TensorFlow and on JAX: each framework's own
profiler writes its trace (an XSpace, `*.xplane.pb`) into the run's private folder, and XProf's converter reads it
as per-op statistics ("framework_op_stats": op type, op name, occurrences, self time), sorted into kinds of work
(bench/measure/worktypes.py) by the tables here: TF_RULES for TensorFlow's graph ops, JAX_RULES for the XLA
operations a jitted JAX step runs. Keras on PyTorch uses PyTorch's (impls/torch/profiling.py).

TensorFlow's table reads op types first (MatMul is a Dense layer: Keras' Dense on a 3-D input is a tensordot, a
reshaped MatMul; BatchMatMulV2 is the attention's QK^T and PV), then the name scopes Keras gives each layer and
the optimizer, for the work that TensorFlow composes from generic ops (a LayerNormalization's moments, the Adam
update's per-variable arithmetic, an LSTM's while loop). This module imports neither TensorFlow nor JAX: the
adapter passes its profiler's start and stop.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.measure.worktypes import OpTime, Rule

# Keras' optimizers' name scopes (its TensorFlow backend applies each variable's update under the optimizer's name)
OPTIMIZER_SCOPE = r"(^|/)(adam|adamw|sgd|rmsprop|adagrad|adadelta|nadam|lion|loss_scale_optimizer)(_\d+)?/"
NORM_SCOPE = r"(^|/)\w*norm\w*(_\d+)?/"  # LayerNormalization / BatchNormalization layers (the twins' "norm1" ...)
RNN_SCOPE = r"(^|/)(lstm|gru|simple_rnn|rnn)\w*/"
SOFTMAX_SCOPE = r"(^|/)[Ss]oftmax(_\d+)?(/|$)"

TF_RULES: tuple[Rule, ...] = (
    Rule(r".*", "optimizer", name=OPTIMIZER_SCOPE),
    Rule(r"ResourceApply\w+|ResourceSparseApply\w+|Apply\w+", "optimizer"),
    Rule(r".*", "recurrent", name=RNN_SCOPE),
    Rule(r"CudnnRNN\w*|BlockLSTM\w*|LSTMBlockCell\w*|GRUBlockCell\w*", "recurrent"),
    Rule(r"\w*(SparseSoftmaxCrossEntropyWithLogits|SoftmaxCrossEntropyWithLogits)\w*", "reduction"),
    Rule(r"\w*BatchMatMul\w*|\w*Softmax\w*", "attention"),
    Rule(r".*", "attention", name=SOFTMAX_SCOPE),
    Rule(r".*", "normalization", name=NORM_SCOPE),
    Rule(r"\w*FusedBatchNorm\w*|\w*LayerNorm\w*", "normalization"),
    Rule(r"_?(Mkl)?(Native)?(Fused)?MatMul\w*|BiasAdd\w*|_Mkl\w*BiasAdd\w*|Einsum|_MklEinsum", "matmul"),
    Rule(r"_?(Mkl)?(Native)?(Fused)?(Depthwise)?Conv\w*|\w*MaxPool\w*|\w*AvgPool\w*", "convolution"),
    Rule(r"Sum|Mean|Max|Min|Prod|ArgMax|ArgMin|All|Any|L2Loss|_Mkl\w*(Sum|Mean)", "reduction"),
    Rule(
        r"Reshape|_Mkl\w*Transpose|(Conjugate)?Transpose|Identity|IdentityN|ReadVariableOp|Shape|ShapeN|Size|Rank"
        r"|Pack|Unpack|ConcatV2|Concat|Split|SplitV|Slice|StridedSlice|StridedSliceGrad|GatherV2|ResourceGather"
        r"|Gather|GatherNd|ScatterNd|UnsortedSegmentSum|ExpandDims|Squeeze|Fill|ZerosLike|OnesLike|BroadcastTo"
        r"|BroadcastArgs|BroadcastGradientArgs|Tile|Pad|PadV2|Cast|_Recv|_Send|_HostRecv|_HostSend|Const|Range"
        r"|_MklToTf|_MklInputConversion|TensorScatter\w*|EnsureShape|StopGradient|PreventGradient|Snapshot",
        "data_movement",
    ),
    Rule(
        r"_?(Mkl)?(Add|AddV2|AddN|Sub|Mul|RealDiv|Div|DivNoNan|FloorDiv|FloorMod|Neg|Reciprocal|Relu\w*|Elu\w*"
        r"|Selu\w*|LeakyRelu\w*|Gelu\w*|Erf|Erfc|Tanh\w*|Sigmoid\w*|Softplus\w*|Sqrt\w*|Rsqrt\w*|Square"
        r"|SquaredDifference|Maximum|Minimum|Select|SelectV2|Greater|GreaterEqual|Less|LessEqual|Equal|NotEqual"
        r"|LogicalAnd|LogicalOr|LogicalNot|Pow|Exp|Log|Log1p|Abs|Sign|Floor|Ceil|Round|ClipByValue|IsFinite"
        r"|StatelessRandom\w*|RandomUniform\w*|RandomStandardNormal|StatelessRandomGetKeyCounter\w*|Mod"
        r"|AssignAddVariableOp|AssignSubVariableOp|AssignVariableOp|_FusedMul\w*|_MklSwish|Swish\w*"
        r"|_UnaryOpsComposition)",
        "elementwise",
    ),
)

# XLA's operations as a jitted JAX step runs them (JaxProfiler): the type is the HLO instruction's opcode, or for a
# fusion "fusion[...]" after the heaviest opcode it fuses (convolution, batched-dot, dot, reduce, else elementwise);
# the name is JAX's op_name (the name stack: "jit(step)/adam/mul", "jit(step)/jvp(...)/encoder_0/q/dot_general").
JAX_RULES: tuple[Rule, ...] = (
    Rule(r".*", "optimizer", name=OPTIMIZER_SCOPE),
    Rule(r".*", "recurrent", name=RNN_SCOPE),
    Rule(r"(fusion\[)?(convolution|reduce-window|select-and-scatter)\]?", "convolution"),
    Rule(r"(fusion\[)?batched-dot\]?", "attention"),
    Rule(r".*", "normalization", name=NORM_SCOPE),
    Rule(r"(fusion\[)?dot\]?|custom-call", "matmul"),
    Rule(r".*", "attention", name=r"(^|/)(jit\()?softmax"),
    Rule(r"(fusion\[)?reduce\]?|all-reduce|reduce-precision", "reduction"),
    Rule(
        r"copy|copy-start|copy-done|transpose|reshape|bitcast|broadcast|concatenate|slice|dynamic-slice"
        r"|dynamic-update-slice|gather|scatter|pad|convert|tuple|get-tuple-element|parameter|constant|iota"
        r"|fusion\[(gather|scatter|dynamic-update-slice|copy|transpose)\]",
        "data_movement",
    ),
    Rule(
        r"fusion\[elementwise\]|add|multiply|subtract|divide|maximum|minimum|exponential|log|tanh|rsqrt|sqrt"
        r"|select|compare|negate|power|erf|rng\w*|logistic|and|or|not|xor|shift-\w+|clamp|abs|sign|floor|ceil",
        "elementwise",
    ),
    Rule(r"while|conditional|call", "data_movement"),  # control flow: its own time is the loop's bookkeeping
)
# Fused opcodes in the order that names a fusion: the first one a fusion holds gives its type.
FUSION_ORDER = ("convolution", "reduce-window", "select-and-scatter", "batched-dot", "dot", "reduce", "scatter",
                "gather", "dynamic-update-slice")  # fmt: skip
INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(?:\([^=]*?\)|\S+)\s+([a-z][\w\-]*)\((.*)$")
CALLS = re.compile(r"(?:calls|to_apply|body)=%?([\w.\-]+)")
OP_NAME = re.compile(r'op_name="([^"]*)"')


def hlo_ops(text: str) -> dict[str, tuple[str, str]]:
    """Each instruction of a compiled HLO module's text: its name -> (type, JAX's op_name); a fusion's type
    names the heaviest opcode inside it (FUSION_ORDER), a dot with batch dimensions is "batched-dot"."""
    inside: dict[str, set[str]] = {}  # computation -> the opcodes in it, and the computations it calls
    calls: dict[str, set[str]] = {}
    instructions: dict[str, tuple[str, str, set[str]]] = {}
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.endswith("{") and " = " not in stripped:
            words = stripped.split()
            current = (words[1] if words[0] == "ENTRY" and len(words) > 1 else words[0]).lstrip("%")
            continue
        m = INSTRUCTION.match(line)
        if not m:
            continue
        name, opcode, rest = m.groups()
        if opcode == "dot" and "lhs_batch_dims" in rest:
            opcode = "batched-dot"
        called = set(CALLS.findall(rest))
        inside.setdefault(current, set()).add(opcode)
        calls.setdefault(current, set()).update(called)
        op_name = OP_NAME.search(rest)
        instructions[name] = (opcode, op_name.group(1) if op_name else "", called)

    def opcodes(computation: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found = set(inside.get(computation, ()))
        for c in calls.get(computation, ()) - seen:
            found |= opcodes(c, seen | {computation})
        return found

    out = {}
    for name, (opcode, op_name, called) in instructions.items():
        if opcode == "fusion":
            held = set().union(*(opcodes(c) for c in called)) if called else set()
            opcode = f"fusion[{next((o for o in FUSION_ORDER if o in held), 'elementwise')}]"
        out[name] = (opcode, op_name)
    return out


def trace_events(files: Sequence[Path]) -> list[tuple[str, str, float, float]]:
    """The trace's complete events as (thread, name, start us, duration us) (XProf's trace viewer data)."""
    from xprof.convert import raw_to_tool_data

    data, _ = raw_to_tool_data.xspace_to_tool_data([str(f) for f in files], "trace_viewer", {})
    trace = json.loads(data.decode() if isinstance(data, bytes) else data)
    events = trace.get("traceEvents", [])
    threads = {
        (e.get("pid"), e.get("tid")): e.get("args", {}).get("name", "")
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    return [
        (f"{e.get('pid')}/{e.get('tid')} {threads.get((e.get('pid'), e.get('tid')), '')}", e["name"],
         float(e.get("ts", 0.0)), float(e.get("dur", 0.0)))
        for e in events
        if e.get("ph") == "X" and "name" in e
    ]  # fmt: skip


def own_segments(events: Sequence[tuple[float, float]]) -> list[tuple[float, float, int]]:
    """The (start, end, event index) intervals where each event of one thread is the innermost one running."""
    segments: list[tuple[float, float, int]] = []
    stack: list[tuple[float, int]] = []  # (end, index) of the events open at the cursor, innermost last
    cursor = 0.0
    for ts, end, i in sorted((ts, ts + dur, i) for i, (ts, dur) in enumerate(events)):
        while stack and stack[-1][0] <= ts:
            closing_end, closing = stack.pop()
            segments.append((cursor, closing_end, closing))
            cursor = closing_end
        if stack:
            segments.append((cursor, ts, stack[-1][1]))
        stack.append((end, i))
        cursor = ts
    while stack:
        closing_end, closing = stack.pop()
        segments.append((cursor, closing_end, closing))
        cursor = closing_end
    return [seg for seg in segments if seg[1] > seg[0]]


def self_times(events: Sequence[tuple[str, str, float, float]]) -> list[tuple[str, float]]:
    """(name, self time in us) of each event: the time it is the innermost event on its thread, shared equally
    with the events that are so on other threads at the same moment, so that operations that XLA runs side by
    side on several threads add up to the wall time they took, not to more."""
    by_thread: dict[str, list[int]] = {}
    for i, (thread, _, _, _) in enumerate(events):
        by_thread.setdefault(thread, []).append(i)
    boundaries: list[tuple[float, int, int]] = []  # (time, +1 start / -1 end, event index)
    for indices in by_thread.values():
        for start, end, k in own_segments([(events[i][2], events[i][3]) for i in indices]):
            boundaries += [(start, 1, indices[k]), (end, -1, indices[k])]
    own = [0.0] * len(events)
    active: dict[int, int] = {}  # event index -> its open segments
    last = 0.0
    for t, change, i in sorted(boundaries, key=lambda b: (b[0], b[1])):
        if active and t > last:
            for j in active:
                own[j] += (t - last) / len(active)
        last = t
        active[i] = active.get(i, 0) + change
        if active[i] == 0:
            del active[i]
    return [(events[i][1], own[i]) for i in range(len(events))]


class JaxProfiler:
    """JAX's profiler around the profiled steps; the XLA operations' events of the trace (host tracer level 3,
    where XLA:CPU records each operation it runs) by self time, typed by the step's compiled HLO
    (`hlo_text()`, read after the window). Events that are no operation of the step (Python, the runtime's
    own) are left to the uncovered time."""

    def __init__(
        self, folder: str, start: Callable[[], None], stop: Callable[[], None], hlo_text: Callable[[], str]
    ) -> None:
        self.folder = folder
        self._start, self._stop, self.hlo_text = start, stop, hlo_text
        self.rules = JAX_RULES
        self.description = "JAX profiler (jax.profiler, host tracer level 3), XLA operations' self time"

    def start(self) -> None:
        self._start()

    def stop(self) -> list[OpTime]:
        files = stopped_trace(self._stop, self.folder)
        ops = hlo_ops(self.hlo_text())
        events = [e for e in trace_events(files) if e[1] in ops]
        out = []
        for name, self_us in self_times(events):
            op_type, op_name = ops[name]
            out.append(OpTime(op_type, f"{op_name} [{name}]" if op_name else name, 1, self_us / 1e3))
        return out


def stopped_trace(stop: Callable[[], None], folder: str) -> list[Path]:
    """Stop the profiler and return the trace files it wrote under `folder` (RuntimeError where none)."""
    stop()
    files = xplane_files(folder)
    if not files:
        raise RuntimeError(f"the profiler wrote no trace (*.xplane.pb) under {folder}")
    return files


def xplane_files(folder: str) -> list[Path]:
    """The trace files a profiler wrote under `folder` (plugins/profile/<run>/<host>.xplane.pb)."""
    return sorted(Path(folder).rglob("*.xplane.pb"))


def table_rows(data: Any) -> list[dict[str, Any]]:
    """framework_op_stats' table as dicts (XProf gives a Google Charts DataTable, as JSON, or CSV)."""
    if isinstance(data, bytes):
        data = data.decode()
    if isinstance(data, str):
        text = data.strip()
        if not text.startswith(("{", "[")):
            return list(csv.DictReader(io.StringIO(text)))
        data = json.loads(text)
    # A list holds the same ops twice: the table with the IDLE row in its percentages, then the one without.
    t = data[0] if isinstance(data, list) else data
    if not isinstance(t, dict) or "cols" not in t:
        raise ValueError(f"XProf's framework_op_stats is not a table: {str(data)[:200]}")
    names = [c.get("id") or c.get("label") for c in t["cols"]]
    return [{n: (cell or {}).get("v") for n, cell in zip(names, r.get("c", []))} for r in t.get("rows", [])]


def op_stats(files: Sequence[Path], side: str = "Host") -> list[OpTime]:
    """Each op of the trace: type, name, occurrences and self time (XProf's framework_op_stats), on one `side`:
    "Host" on a CPU, "Device" on a GPU (where each op has a row of each, and the device's is its kernels' time).
    The IDLE row, the time no op ran, is left out: the step's uncovered time is computed from the harness's
    clock."""
    from xprof.convert import raw_to_tool_data

    data, _ = raw_to_tool_data.xspace_to_tool_data([str(f) for f in files], "framework_op_stats", {})
    out = []
    for row in table_rows(data):
        op_type = str(row.get("type") or "")
        if op_type.upper() == "IDLE" or str(row.get("host_or_device") or side) != side:
            continue
        out.append(
            OpTime(
                op_type=op_type,
                name=str(row.get("operation") or op_type),
                calls=int(float(row.get("occurrences") or 0)),
                self_ms=float(row.get("total_self_time") or 0.0) / 1e3,  # microseconds
            )
        )
    return out


class XprofProfiler:
    """A framework's profiler started and stopped around the profiled steps, its trace read with XProf
    (bench.measure.worktypes.Profiler)."""

    def __init__(
        self,
        folder: str,
        start: Callable[[], None],
        stop: Callable[[], None],
        rules: Sequence[Rule],
        description: str,
        side: str = "Host",
    ) -> None:
        self.folder = folder
        self._start, self._stop = start, stop
        self.rules = rules
        self.description = description
        self.side = side  # framework_op_stats' rows to read: "Host" (CPU) or "Device" (GPU kernels)

    def start(self) -> None:
        self._start()

    def stop(self) -> list[OpTime]:
        files = stopped_trace(self._stop, self.folder)
        return op_stats(files, self.side)
