"""What the export scenario asks of each framework's export paths (impls/<framework>/export.py).

Framework-neutral (standard library and numpy): the infer and export scenarios (bench/scenarios/infer.py,
bench/scenarios/export.py), both frameworks' export modules and the tests import it. A framework's adapter
gives its paths through `Backend.export_paths() -> list[ExportPath]`; every loaded runtime is a Predict: a
numpy batch in, float32 numpy out (the request a server gets and the answer it sends), so that one clock
measures the same work in each.
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

    name: str  # one of bench.core.spec.EXPORT_RUNTIMES[framework]
    description: str  # "torch.jit.trace + torch.jit.save, loaded with torch.jit.load"
    engine: str  # what executes the artifact, with its version: "onnxruntime 1.32.0"
    export: Callable[[Path, np.ndarray], Path]
    load: Callable[[Path], Predict]
    quantized: bool = False  # post-training dynamic-range int8: graded on accuracy, not on max diff
    settings: dict[str, Any] = field(default_factory=dict)  # opset, session options, converter flags ...


def exception_line(e: BaseException) -> str:
    """An exception as one line for a record: its type and the first line of its message (300 characters at
    most; exporters' and runtimes' errors span pages with stack traces). Not bench.core.formatting.one_line,
    which shortens a recorded reason to its last line."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}".rstrip(": ")
