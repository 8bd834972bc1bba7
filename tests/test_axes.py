"""The scale, step-budget and precision axes (issue 13), without a framework: workload selection by
scale, the plan's precision order, the harness's step budget, and the precision table on a fixed file.
Runs of the base-scale models and the bf16 parity are in tests/test_base_scale.py and test_parity.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.analysis import cells
from bench.analysis.comparisons import precision_comparisons
from bench.core import workloads
from bench.core.errors import UsageError
from bench.core.plan import SuitePlan
from bench.measure import harness, tasks
from bench.planning import selection
from bench.records import results
from bench.report import document

from .conftest import prose, small_plan
from .test_harness import NumpySoftmax

FIXTURE = Path(__file__).parent / "data" / "suite-mlp-iris.json"


def test_scale_picks_the_workloads_small_by_default() -> None:
    small = selection.chosen_workloads(None, None)
    base = selection.chosen_workloads(None, ["base"])
    assert small and base and not set(small) & set(base)
    assert all(workloads.get(w).scale == "small" for w in small)
    assert {"resnet18-cifar10", "resnet50-imagenet", "bert-base-text"} <= set(base)
    by_default = {w.name for w in workloads.WORKLOADS.values() if w.default_run}
    assert set(selection.chosen_workloads(None, ["small,base"])) == by_default
    # the decoders run when named (their extra is optional and their runs are long): never by default
    assert {"llama-tiny", "llama-smollm-base"} <= set(workloads.WORKLOADS) - by_default
    assert selection.chosen_workloads(["llama-tiny"], None) == ("llama-tiny",)
    assert selection.chosen_workloads(["resnet18-cifar10"], ["base"]) == ("resnet18-cifar10",)
    with pytest.raises(UsageError, match="'mlp-iris' is of scale small, not --scale base"):
        selection.chosen_workloads(["mlp-iris"], ["base"])


def test_each_run_is_made_in_each_precision_backends_innermost() -> None:
    runs = small_plan(precisions=("fp32", "bf16")).runs()
    assert [(k.precision, k.backend) for k in runs] == [
        ("fp32", "torch-eager"), ("fp32", "keras"), ("bf16", "torch-eager"), ("bf16", "keras"),
    ]  # fmt: skip
    assert SuitePlan.from_dict(small_plan(precisions=("bf16",), steps=5).to_dict()) == small_plan(
        precisions=("bf16",), steps=5
    )
    with pytest.raises(UsageError, match="unknown precision 'int8'; valid: fp32, tf32, bf16, fp16"):
        small_plan(precisions=("int8",))
    with pytest.raises(UsageError, match="--steps must be >= 1, got 0"):
        small_plan(steps=0)


def test_a_step_budget_trains_exactly_that_many_steps_across_epochs_and_evaluates_nothing() -> None:
    task = tasks.make(workloads.get("cnn-digits"), seed=0)  # 45 steps an epoch (1437 images, batch 32)
    graded = []
    task.evaluate = lambda backend: graded.append(1) or {"accuracy": 0.0}  # type: ignore[method-assign]
    b = NumpySoftmax(lr=0.1)
    b.build(dataclasses.replace(task.workload, model_kwargs={"in_features": 64, "num_classes": 10}), None)
    flat = tasks.make(workloads.get("cnn-digits"), seed=0)
    task.batches = lambda epoch, backend: (  # type: ignore[method-assign]
        {"x": batch["x"].reshape(len(batch["x"]), -1), "y": batch["y"]} for batch in flat.batches(epoch, backend)
    )
    m = harness.run(b, task, epochs=1, warmup_steps=2, max_steps=100)
    assert m.steps == b.steps == 100  # more than two epochs' worth, stopped at the budget
    assert len(m.epoch_loss) == 3 and not graded and m.eval_history == [] and m.time_to_target_s is None
    assert len(m.warmup_step_ms) + len(m.step_ms) == 99


def with_bf16(suite: results.Suite, factor: float, unsupported: str = "keras") -> results.Suite:
    """The fixture plus each run in bf16, `factor` times as long; `unsupported` has an unsupported bf16 cell."""
    extra = []
    for r in suite.results:
        if r.backend == unsupported:
            extra.append(dataclasses.replace(r, precision="bf16", status="unsupported", reason="no bf16 here"))
            continue
        extra.append(
            dataclasses.replace(
                r,
                precision="bf16",
                step_ms=[t * factor for t in r.step_ms],
                median_step_ms=r.median_step_ms * factor if r.median_step_ms is not None else None,
                metric=r.metric - 0.01 if r.metric is not None else None,
                metrics={k: v - 0.01 for k, v in r.metrics.items()},
            )
        )
    return dataclasses.replace(suite, results=[*suite.results, *extra])


def test_precisions_never_mix_and_the_precision_table_compares_each_with_its_own_fp32() -> None:
    suite = results.load(FIXTURE)
    both = with_bf16(suite, 0.5)
    cs = cells.cells([both])
    assert {c.scenario for c in cs} == {"train", "train bf16"}
    assert all({r.precision for r in c.runs} <= {c.precision} for c in cs)
    comparisons = precision_comparisons(cs)
    ran = [p for p in comparisons if p.cell.ok]
    assert ran and all(p.fp32 is not None and p.fp32.precision == "fp32" and p.fp32.backend == p.backend for p in ran)
    for p in ran:
        s = p.speedup()
        assert s is not None and s.value == pytest.approx(2.0, rel=0.02)  # every step took half as long
    text = document.render([both])
    section = text.split("### Precision: each backend against its own fp32", 1)[1].split("\n### ", 1)[0]
    assert "bf16 unsupported for mlp-iris/keras (1 cell): no bf16 here" in section
    row = next(line for line in section.splitlines() if line.startswith("| mlp-iris   | torch-eager"))
    assert "2.00" in row
    # the summary's one-line answer is fp32's; bf16 has its own rows
    summary = prose(text).split("## Summary", 1)[1].split("\n### ", 1)[0]
    assert "| mlp-iris (train bf16) " in summary and "across 1 workload the" in summary


def test_without_other_precisions_there_is_no_precision_table() -> None:
    assert "### Precision" not in document.render([results.load(FIXTURE)])


def test_a_step_budget_run_is_reported_as_speed_and_memory_only() -> None:
    suite = results.load(FIXTURE)
    budget = [
        dataclasses.replace(r, config=dataclasses.replace(r.config, steps=20)) if r.config else r for r in suite.results
    ]
    text = document.render([dataclasses.replace(suite, results=budget)])
    assert "a budget of 20 steps (--steps)" in text and "speed and memory only" in text
    assert "speed only (--steps 20)" in text


class FakeNvml:
    """pynvml with one GPU whose energy counter advances 500 mJ per read and that lists this process."""

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        self.mj = 1_000_000.0

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[object]:
        import os
        import types

        return [types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=2**20)]

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> float:
        self.mj += 500.0
        return self.mj


def test_gpu_energy_is_read_around_the_training_loop_and_to_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from bench.machine import memory
    from bench.scenarios import train

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    task = tasks.make(dataclasses.replace(workloads.get("mlp-iris"), target=0.5), seed=0)
    b = NumpySoftmax()
    b.build(task.workload, None)
    with memory.NvmlSampler(interval_s=3600) as nvml:  # the sampler thread waits: only explicit reads
        m = harness.run(
            b,
            task,
            epochs=4,
            warmup_steps=1,
            readings=lambda: {"energy_j": nvml.energy_since_start_j()},
            min_steady_s=0,
        )
    energy = train.energy_record(nvml.energy_since_start_j(), m, task.samples_per_step, "cuda")
    # start read at __enter__, one read per epoch (+0.5 J each), one at the end
    assert [h["energy_j"] for h in m.eval_history] == [0.5, 1.0, 1.5, 2.0]
    assert energy.joules == 2.5 and energy.per_step_j == 2.5 / 4 and energy.per_sample_j == 2.5 / (4 * 120)
    assert m.epochs_to_target is not None and energy.to_target_j == 0.5 * m.epochs_to_target
    cpu = train.energy_record(None, m, task.samples_per_step, "cpu")
    assert cpu.joules is None and cpu.note == "no GPU energy counter on cpu"


def test_energy_is_a_column_only_where_a_gpu_counter_was_read() -> None:
    suite = results.load(FIXTURE)
    assert "J/step" not in document.render([suite])
    measured = [
        dataclasses.replace(r, energy=results.Energy(joules=12.0, per_step_j=0.25, to_target_j=3.0, note="loop"))
        for r in suite.results
    ]
    text = document.render([dataclasses.replace(suite, results=measured)])
    rows = [ln for ln in text.split("## Per workload", 1)[1].splitlines() if ln.startswith("| torch-eager ")]
    assert "0.25 (3)" in rows[1]  # the Details table's row: J per step (J to target)
