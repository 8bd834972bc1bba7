"""The infer and export scenarios (docs/METHODOLOGY.md, "Inference and deployment").

A worker trains the workload (its profile's budget, as a train run does), then:
- "infer": times the backend's own inference path (`Backend.infer_fn`: eval mode, torch.inference_mode or a
  compiled tf.function / jax.jit predict): latency at batch 1 and throughput at batch 1, 8, 64 and the
  largest batch within the memory budget;
- "export": for each export path of the framework (`Backend.export_paths`, impls/<framework>/export.py):
  exports the trained model into the run's private temporary folder, loads it in its runtime, checks its
  outputs against the framework's own predict over the inference set, grades them, and times latency at
  batch 1 and throughput at batch 64. A path that cannot export or load is recorded `unsupported`
  (NotImplementedError: the toolchain says it cannot) or `failed` (anything else), and the next one goes on.

Every call of every runtime takes a numpy batch and returns numpy float32 (the request a server gets and
the answer it sends), so that the same clock (bench.harness.time_calls) measures the same work in each.
This module imports neither torch nor tensorflow; the adapters do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]  # numpy batch -> float32 numpy outputs, work done on return


@dataclass(frozen=True)
class ExportPath:
    """One export path of a framework: how its artifact is written and how its runtime loads it.

    `export(folder, sample)` writes the artifact into `folder` (empty, private to the run) from the
    trained model, tracing with `sample` (a batch of inference inputs, more than one row) where it must,
    and returns the artifact's main file; every file in `folder` counts in its size. `load(path)` returns
    a Predict that accepts any batch size. Either raises NotImplementedError(reason) when the toolchain
    cannot do it here (recorded `unsupported`); any other exception is recorded `failed`.
    """

    name: str  # one of bench.spec.EXPORT_RUNTIMES[framework]
    description: str  # "torch.jit.trace + torch.jit.save, loaded with torch.jit.load"
    engine: str  # what executes the artifact, with its version: "onnxruntime 1.32.0"
    export: Callable[[Path, np.ndarray], Path]
    load: Callable[[Path], Predict]
    quantized: bool = False  # post-training dynamic-range int8: graded on accuracy, not on max diff
    settings: dict[str, Any] = field(default_factory=dict)  # opset, session options, converter flags ...
