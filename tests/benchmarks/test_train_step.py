"""One benchmark per (workload, backend): the training step, timed by pytest-benchmark.

pedantic mode: the untimed `setup` makes the next batch of the workload's real batch order and
moves it to the device, the timed target is `backend.train_step` (which returns the loss as a
float, so the work is done when the clock stops). The first rounds are warm-up (tracing,
scripting, compilation). The model really trains, so `extra_info` carries the workload's metric
after the benchmarked steps. Grouped by workload.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.core import workloads
from bench.core.backends import BACKENDS
from bench.core.spec import PROFILES, BackendOptions
from bench.measure import tasks

from .conftest import keras_backend_loaded, other_framework_loaded

MAX_ROUNDS = 100
BASE_ROUNDS = 10  # base-scale models (seconds a step on a CPU): a step budget, as `fwbench run --steps`
THREADS = 2


def batch_stream(task: tasks.Task, backend: object, epochs: int) -> Iterator[dict]:
    for epoch in range(epochs):
        yield from task.batches(epoch, backend)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(b, marks=pytest.mark.torch if i.keras_backend is None else pytest.mark.keras)
        for b, i in BACKENDS.items()
    ],
)
@pytest.mark.parametrize(
    "workload",
    [
        pytest.param(w, marks=[pytest.mark.base_scale] if s.scale == "base" else [])
        for w, s in workloads.WORKLOADS.items()
    ],
)
def test_train_step(benchmark, request: pytest.FixtureRequest, workload: str, backend: str) -> None:
    info = BACKENDS[backend]
    wl = workloads.get(workload)
    if wl.scale == "base" and "base_scale" not in (request.config.getoption("-m") or ""):
        pytest.skip("base scale (seconds a step on a CPU): run `pytest --benchmark-only -m base_scale`")
    if wl.missing_packages():
        pytest.skip(f"{workload} needs {', '.join(wl.missing_packages())}: pip install -e '.[{wl.extra}]'")
    if not info.runs_on("cpu"):  # as `fwbench run` and `fwbench list` on a CPU: the CUDA-only variants
        pytest.skip(f"{backend} runs on {', '.join(info.devices)} only; these benchmarks run on the CPU")
    if not info.installed():
        pytest.skip(f"{info.framework} is not installed")
    other = other_framework_loaded(info.framework)
    if other:
        pytest.skip(
            f"{other} (CUDA build) is loaded in this process: run `pytest --benchmark-only -m "
            f"{'keras' if info.framework == 'tensorflow' else 'torch'}` separately"
        )
    on = keras_backend_loaded()
    if info.keras_backend is not None and on not in (None, info.keras_backend):
        pytest.skip(f"keras runs on {on} in this process: run `pytest --benchmark-only -k {backend}` separately")
    profile = PROFILES["quick"]
    b = info.make(BackendOptions("cpu", THREADS, 1))
    try:
        b.build(wl, None)
    except NotImplementedError as e:
        pytest.skip(f"unsupported: {e}")
    task = tasks.make(wl, seed=0)
    stream = batch_stream(task, b, epochs=10**6)
    steps_in_budget = sum(1 for _ in batch_stream(task, None, wl.quick_epochs)) if wl.task == "classify" else MAX_ROUNDS
    rounds = max(1, min(MAX_ROUNDS, steps_in_budget - profile.warmup_steps - 1))
    if wl.scale == "base":
        rounds = BASE_ROUNDS

    def setup() -> tuple[tuple[object], dict]:
        return (b.prepare(next(stream)),), {}

    benchmark.group = workload
    benchmark.pedantic(b.train_step, setup=setup, rounds=rounds, warmup_rounds=profile.warmup_steps + 1, iterations=1)
    metrics = task.evaluate(b)
    benchmark.extra_info.update(
        backend=backend,
        framework=info.framework,
        workload=workload,
        metric=wl.metric,
        metric_after_rounds=metrics[wl.metric],
        rounds=rounds + profile.warmup_steps + 1,
    )
