"""ONNX Runtime, the one engine both frameworks' ONNX files run in (the export scenario's onnx-torch and
onnx-tf columns): one way to open a session, with the same options for either file, and one way to
quantise a file (dynamic-range int8). Framework-neutral: imports neither torch nor tensorflow.

Loading an ONNX file trusts it no more than a data file: ONNX Runtime executes only its own operators
(no Python, no pickle). The files loaded are the run's own exports (docs/FAILURE_MODES.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


def missing() -> str | None:
    """Why ONNX Runtime cannot be used here, or None."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"onnxruntime is not installed ({e}); install the export extra: pip install -e '.[export]'"
    return None


def session_options(threads: int) -> Any:
    """The session options every ONNX file gets, whichever framework wrote it."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so


def providers(device: str) -> list[str]:
    """CUDA where asked and available in this onnxruntime build, else the CPU provider."""
    import onnxruntime as ort

    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def load(path: Path, threads: int, device: str = "cpu") -> tuple[Predict, dict[str, Any]]:
    """An ONNX file as a numpy -> float32 numpy predict over its first input and output, and the
    session's settings (for the record)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), sess_options=session_options(threads), providers=providers(device))
    name_in, name_out = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    dtype = np.int64 if "int64" in sess.get_inputs()[0].type else np.float32
    if "int32" in sess.get_inputs()[0].type:
        dtype = np.int32

    def predict(x: np.ndarray) -> np.ndarray:
        out = sess.run([name_out], {name_in: np.ascontiguousarray(x, dtype=dtype)})[0]
        return np.asarray(out, dtype=np.float32)

    settings = {
        "engine": f"onnxruntime {ort.__version__}",
        "providers": sess.get_providers(),
        "intra_op_threads": threads,
        "inter_op_threads": 1,
        "execution_mode": "sequential",
        "graph_optimization_level": "ORT_ENABLE_ALL",
    }
    return predict, settings


def quantize_dynamic(src: Path, dst: Path) -> Path:
    """Post-training dynamic-range int8 quantisation of an ONNX file (weights int8, activations
    quantised at run time), by onnxruntime's own tool."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    return dst
