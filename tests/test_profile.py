"""The profile scenario's taxonomy and report, without a framework (tests/test_profile_runs.py runs them for real).

- `classify` and `breakdown` (bench/measure/worktypes.py): the first matching rule, "other" for an op no rule
  knows (listed by name in the record and the report, never dropped), self time per step by kind, and the
  uncovered time as the profiled step's wall time less the ops' time.
- The harness's profiled window (bench.measure.harness.profile_windows) holds the steps and nothing else: its
  batches are made before the profiler starts.
- Trace events' self times (impls/keras/profiling.py, Keras on JAX): nested time counted once, and operations
  that run side by side on two threads share the time they overlap.
- The report's "Where the time goes" (bench/report/time_breakdown.py): per workload the table by kind, the
  TF − PT difference, the sentence naming the kinds behind most of the gap with their ops, the profiler's cost,
  the settings side by side with those that differ flagged, and the Summary's line; the stacked bar plot.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from bench.core import workloads
from bench.core.formatting import fmt
from bench.core.spec import RunKey
from bench.measure import harness, tasks, worktypes
from bench.measure.worktypes import OpTime, Rule
from bench.records import results
from bench.report import document, time_breakdown
from impls.keras.profiling import JAX_RULES, TF_RULES, table_rows

from .conftest import prose, small_plan

TF_OPS = [
    OpTime("_MklNativeConv2D", "cnn/conv1/convolution", 20, 40.0),
    OpTime("Conv2DBackpropFilter", "gradient_tape/cnn/conv1/Conv2DBackpropFilter", 20, 30.0),
    OpTime("MatMul", "cnn/fc1/MatMul", 20, 10.0),
    OpTime("AssignSubVariableOp", "adam/AssignSubVariableOp_3", 160, 8.0),
    OpTime("Sqrt", "adam/Sqrt_1", 160, 4.0),
    OpTime("Relu", "cnn/conv1/Relu", 20, 2.0),
    OpTime("FancyNewKernel", "cnn/fancy/FancyNewKernel", 20, 1.0),  # no rule knows it
]


def test_an_op_the_table_lacks_is_other_and_kept_by_name() -> None:
    assert worktypes.classify("FancyNewKernel", "cnn/fancy/FancyNewKernel", TF_RULES) == "other"
    profile = worktypes.breakdown(TF_OPS, TF_RULES, [5.0] * 20, [4.8] * 20, "test")
    fancy = next(o for o in profile.ops if o.op_type == "FancyNewKernel")
    assert (fancy.kind, fancy.name, fancy.calls_per_step, fancy.self_ms) == (
        "other",
        "cnn/fancy/FancyNewKernel",
        1,
        0.05,
    )
    assert profile.kind_ms["other"] == pytest.approx(0.05)


def test_the_tables_sort_ops_by_type_then_by_scope() -> None:
    kinds = {o.op_type: worktypes.classify(o.op_type, o.name, TF_RULES) for o in TF_OPS}
    assert kinds == {
        "_MklNativeConv2D": "convolution",
        "Conv2DBackpropFilter": "convolution",
        "MatMul": "matmul",
        "AssignSubVariableOp": "optimizer",  # under the optimizer's name scope
        "Sqrt": "optimizer",
        "Relu": "elementwise",
        "FancyNewKernel": "other",
    }
    assert worktypes.classify("Sqrt", "encoder_0/norm1/moments/Sqrt", TF_RULES) == "normalization"
    assert worktypes.classify("BatchMatMulV2", "encoder_0/MatMul", TF_RULES) == "attention"
    assert worktypes.classify("dot", "dot.12", JAX_RULES) == "matmul"


def test_a_rule_names_a_kind_of_the_taxonomy() -> None:
    with pytest.raises(ValueError, match="kind 'gemm' is not one of matmul, convolution"):
        Rule("MatMul", "gemm")


def test_the_breakdown_adds_up_to_the_profiled_step() -> None:
    p = worktypes.breakdown(TF_OPS, TF_RULES, [5.0, 5.2, 4.8] * 5, [4.9] * 15, "test")
    assert p.steps == 15
    assert p.op_ms == pytest.approx(sum(o.self_ms for o in TF_OPS) / 15)
    assert sum(p.kind_ms.values()) + p.uncovered_ms == pytest.approx(p.step_wall_ms)
    assert p.kind_ms["convolution"] == pytest.approx(70.0 / 15)
    assert (p.profiled_median_step_ms, p.unprofiled_median_step_ms) == (5.0, 4.9)
    with pytest.raises(ValueError, match="at least one profiled step"):
        worktypes.breakdown(TF_OPS, TF_RULES, [], [], "test")


def test_xprof_tables_read_as_rows() -> None:
    datatable = {"cols": [{"id": "type"}, {"id": "operation"}], "rows": [{"c": [{"v": "MatMul"}, {"v": "fc/MatMul"}]}]}
    assert table_rows([datatable, datatable]) == [{"type": "MatMul", "operation": "fc/MatMul"}]  # the first
    assert table_rows("type,operation\nMatMul,fc/MatMul\n") == [{"type": "MatMul", "operation": "fc/MatMul"}]


def profile_result(
    backend: str, framework: str, ops: list[OpTime], rules, step_ms: float, speed: dict
) -> results.Result:
    cfg = small_plan(scenarios=("profile",)).run_config("r", RunKey("mlp-iris", backend, 0, 0, "profile"), None)
    profile = worktypes.breakdown(ops, rules, [step_ms] * 10, [step_ms * 0.96] * 10, f"{framework} profiler")
    return results.new_result(
        cfg, framework, "ok", "", "2026-01-01T00:00:00+00:00", 1, step_profile=profile, flops_per_step=1.0e9,
        settings={"speed": speed}, cpu={"contended": False},
    )  # fmt: skip


PT_OPS = [
    OpTime("aten::mkldnn_convolution", "aten::mkldnn_convolution", 20, 60.0),
    OpTime("aten::convolution_backward", "aten::convolution_backward", 20, 50.0),
    OpTime("aten::addmm", "aten::addmm", 20, 10.0),
    OpTime("aten::mul_", "Optimizer.step#Adam.step > aten::mul_", 160, 3.0),
]
SPEED = {"onednn": "on", "data_layout": "NCHW (channels first)", "optimizer_update": "for-loop"}


def suite_of(*rs: results.Result) -> results.Suite:
    return results.Suite("r", "2026-01-01T00:00:00+00:00", ["fwbench"], small_plan(scenarios=("profile",)),
                         {"cpu_model": "Test CPU"}, list(rs))  # fmt: skip


def two_sides(**pt_speed: str) -> results.Suite:
    from impls.keras.profiling import TF_RULES as tf_rules

    pt_rules = (Rule(r"aten::(mkldnn_convolution|convolution_backward)", "convolution"), Rule("aten::addmm", "matmul"),
                Rule(".*", "optimizer", name="^Optimizer"))  # fmt: skip
    # ops: PyTorch 12.3 ms a step, TensorFlow 9.5 ms
    pt = profile_result("torch-eager", "torch", PT_OPS, pt_rules, 13.0, SPEED | pt_speed)
    tf = profile_result("keras", "tensorflow", TF_OPS, tf_rules, 10.5, SPEED | {"data_layout": "NHWC (channels last)"})
    return suite_of(pt, tf)


def test_the_section_shows_kinds_the_gap_and_the_unknown_ops(tmp_path: Path) -> None:
    suite = two_sides()
    text = prose(document.write([suite], tmp_path).read_text())
    section = text.split(time_breakdown.HEADING, 1)[1]
    rows = {ln.split("|")[1].strip(): ln for ln in section.splitlines() if ln.startswith("| ")}
    # convolution: PyTorch (60 + 50) / 10 = 11 ms a step, TensorFlow (40 + 30) / 10 = 7: TF − PT = -4
    conv = rows["convolution and pooling"]
    assert "| 11 " in conv and "| 7 " in conv and "| -4 " in conv
    assert "PyTorch's profiled step is 2.5 ms longer" in section
    assert (
        "PyTorch +4 ms in convolution and pooling: 4 op calls a step, mostly aten::mkldnn_convolution 6 ms, "
        "aten::convolution_backward 5 ms against 4 op calls a step, mostly _MklNativeConv2D 4 ms" in section
    )
    assert "`cnn/fancy/FancyNewKernel` (0.1 ms)" in section  # the op no table knew, by name
    # mlp-iris' analytic FLOPs (bench/core/flops.py) over the matmul and convolution time: TensorFlow 8.0 ms a step
    rate = rows[time_breakdown.RATE_ROW]
    assert f"| {fmt(suite.results[1].flops_per_step / 8.0e-3 / 1e9)} " in rate
    assert "data layout (differs)" in section and "| NHWC (channels last) " in section
    assert "torch-eager 13 ms profiled against 12.5 ms without (+4%)" in section
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "Settings that differ: data layout (NCHW (channels first) against NHWC (channels last))." in summary
    assert (tmp_path / "plots" / "time_breakdown.png").stat().st_size > 0


def test_a_setting_forced_apart_is_flagged() -> None:
    same = time_breakdown.differing_settings(*time_breakdown.profile_cells([two_sides()]))
    assert not any(s.startswith("oneDNN") for s in same)
    forced = time_breakdown.differing_settings(*time_breakdown.profile_cells([two_sides(onednn="off (forced)")]))
    assert "oneDNN (MKL-DNN) kernels (off (forced) against on)" in forced


def test_a_profile_only_run_has_no_training_tables(tmp_path: Path) -> None:
    text = prose(document.render([two_sides()]))
    assert "### mlp-iris" in text.split(time_breakdown.HEADING, 1)[1]
    assert "## Per workload" not in text  # the profile runs are not timed runs
    busy = dataclasses.replace(two_sides().results[1], cpu={"contended": True})
    text_busy = prose(document.render([suite_of(two_sides().results[0], busy)]))
    assert (
        "Contended runs (other processes took their CPU; a preempted op's time counts in its kind): keras 1 of 1."
        in text_busy
    )
    broken = dataclasses.replace(two_sides().results[1], status="failed", reason="boom\nTypeError: x")
    text = prose(document.render([suite_of(two_sides().results[0], broken)]))
    assert "- keras: failed (TypeError: x)" in text


class Recorder:
    """A profiler that notes what the backend did while it ran (bench.measure.worktypes.Profiler)."""

    description = "recorder"
    rules = TF_RULES

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def start(self) -> None:
        self.backend.log.append("start")

    def stop(self) -> list[OpTime]:
        self.backend.log.append("stop")
        return [OpTime("MatMul", "fc/MatMul", 3, 1.0)]


def test_the_profiled_window_holds_the_steps_and_nothing_else() -> None:
    from tests.test_harness import NumpySoftmax

    class Logged(NumpySoftmax):
        log: list[str]

        def prepare(self, batch):
            self.log.append("prepare")
            return super().prepare(batch)

        def train_step(self, batch):
            self.log.append("step")
            return super().train_step(batch)

    task = tasks.make(workloads.get("mlp-iris"), seed=0)
    b = Logged()
    b.log = []
    b.build(task.workload, None)
    m = harness.profile_windows(b, task, warmup_steps=2, window=3, profiler=Recorder(b))
    # full batch: one batch an epoch, made just before its step; the profiled window's 3 made before start
    assert b.log == ["prepare", "step"] * 6 + ["prepare"] * 3 + ["start", "step", "step", "step", "stop"]
    assert (len(m.warmup_step_ms), len(m.unprofiled_step_ms), len(m.profiled_step_ms)) == (2, 3, 3)
    assert m.ops == [OpTime("MatMul", "fc/MatMul", 3, 1.0)] and math.isfinite(m.final_loss)


def test_trace_self_times_count_nested_and_parallel_time_once() -> None:
    from impls.keras.profiling import self_times

    events = [
        ("t1", "while", 0.0, 10.0),  # holds dot on its thread from 2 to 6
        ("t1", "dot", 2.0, 4.0),
        ("t2", "fusion", 4.0, 4.0),  # beside dot from 4 to 6, beside while from 6 to 8
    ]
    own = dict(self_times(events))
    # while alone 0-2 and 8-10, half of 6-8; dot alone 2-4, half of 4-6; fusion half of 4-6 and of 6-8
    assert own == pytest.approx({"while": 5.0, "dot": 3.0, "fusion": 2.0})
    assert sum(own.values()) == pytest.approx(10.0)  # the wall time from 0 to 10, once


MEASURED = Path(__file__).parent.parent / "docs" / "measurements" / "profile-cpu-1thread-2026-12-07.json"


def test_the_committed_measurement_adds_up_and_renders() -> None:
    """docs/METHODOLOGY.md's numbers: `fwbench run --scenario profile` on cnn-cifar10 and transformer-text, 1 thread."""
    suite = results.load(MEASURED)
    assert {(r.workload, r.backend) for r in suite.results} == {
        (w, b) for w in ("cnn-cifar10", "transformer-text") for b in ("torch-eager", "keras", "keras-jax")
    }
    for r in suite.results:
        p = r.step_profile
        assert p is not None and r.ok and not r.contended
        assert abs(sum(p.kind_ms.values()) + max(p.uncovered_ms, 0.0) - p.step_wall_ms) <= 0.05 * p.step_wall_ms
    section = prose(document.render([suite])).split(time_breakdown.HEADING, 1)[1]
    assert "mostly aten::max_pool2d_with_indices" in section  # cnn-cifar10's gap: PyTorch's pooling
