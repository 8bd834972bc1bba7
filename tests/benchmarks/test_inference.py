"""Batch-1 inference, timed by pytest-benchmark: per (workload, backend) the backend's own inference path
(`Backend.infer_fn`, as `fwbench run --scenario infer`), and per (workload, export runtime) the exported
model loaded in its runtime (`Backend.export_paths`, as `--scenario export`). The models are untrained: a
forward pass costs the same whatever the weights. Each call takes one numpy row and returns numpy.

`extra_info` carries scenario, backend (or runtime) and workload, so that `fwbench report` renders these
files in its Deployment section. The same process rules as test_train_step.py (tests/benchmarks/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.core import workloads
from bench.core.backends import BACKENDS
from bench.core.spec import EXPORT_RUNTIMES, BackendOptions
from bench.measure import tasks
from bench.measure.prediction import WARMUP_CALLS

from .conftest import keras_backend_loaded, other_framework_loaded

ROUNDS = 200
THREADS = 2
# the default run's small workloads (the decoders' generation is the infer scenario's: bench/measure/generation.py)
WORKLOADS = [w for w, s in workloads.WORKLOADS.items() if s.inference and s.scale == "small" and s.default_run]
EXPORTERS = {b.framework: b.name for b in BACKENDS.values() if b.exports}


def built(backend: str, workload: str) -> object:
    """The backend, built on the workload, or a skip saying why it cannot run here."""
    info = BACKENDS[backend]
    if not info.runs_on("cpu"):  # as `fwbench run` and `fwbench list` on a CPU: the CUDA-only variants
        pytest.skip(f"{backend} runs on {', '.join(info.devices)} only; these benchmarks run on the CPU")
    if not info.installed():
        pytest.skip(f"{info.framework} is not installed")
    other = other_framework_loaded(info.framework)
    if other:
        pytest.skip(f"{other} (CUDA build) is loaded in this process: run `pytest --benchmark-only -m ...` separately")
    on = keras_backend_loaded()
    if info.keras_backend is not None and on not in (None, info.keras_backend):
        pytest.skip(f"keras runs on {on} in this process: run `pytest --benchmark-only -k {backend}` separately")
    b = info.make(BackendOptions("cpu", THREADS, 1))
    try:
        b.build(workloads.get(workload), None)
    except NotImplementedError as e:
        pytest.skip(f"unsupported: {e}")
    return b


def one_row(workload: str) -> np.ndarray:
    x = tasks.make(workloads.get(workload), seed=0).inference_inputs()
    return np.ascontiguousarray(x[:1])


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(b, marks=pytest.mark.torch if i.keras_backend is None else pytest.mark.keras)
        for b, i in BACKENDS.items()
    ],
)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_infer_batch1(benchmark, workload: str, backend: str) -> None:
    b = built(backend, workload)
    predict, x = b.infer_fn(), one_row(workload)  # type: ignore[attr-defined]
    benchmark.group = f"infer {workload}"
    benchmark.pedantic(predict, args=(x,), rounds=ROUNDS, warmup_rounds=WARMUP_CALLS, iterations=1)
    benchmark.extra_info.update(
        scenario="infer", backend=backend, framework=BACKENDS[backend].framework, workload=workload
    )


@pytest.mark.parametrize(
    "runtime",
    [
        pytest.param(rt, marks=pytest.mark.torch if fw == "torch" else pytest.mark.keras)
        for fw, rts in EXPORT_RUNTIMES.items()
        for rt in rts
    ],
)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_export_batch1(benchmark, tmp_path: Path, workload: str, runtime: str) -> None:
    framework = next(fw for fw, rts in EXPORT_RUNTIMES.items() if runtime in rts)
    exporter = EXPORTERS[framework]
    b = built(exporter, workload)
    x = one_row(workload)
    path = next(p for p in b.export_paths() if p.name == runtime)  # type: ignore[attr-defined]
    sample = tasks.make(workloads.get(workload), seed=0).inference_inputs()[:8]
    try:
        predict = path.load(path.export(tmp_path, sample))
    except NotImplementedError as e:
        pytest.skip(f"unsupported: {e}")
    benchmark.group = f"infer {workload}"
    benchmark.pedantic(predict, args=(x,), rounds=ROUNDS, warmup_rounds=WARMUP_CALLS, iterations=1)
    benchmark.extra_info.update(
        scenario="export", backend=exporter, runtime=runtime, framework=framework, workload=workload
    )
