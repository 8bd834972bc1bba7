"""The Keras side of the infer and export scenarios (impls/keras/export.py, the adapters' infer_fn), checked on
untrained models by tests/export_probe_keras.py in worker processes: this process imports neither torch nor
tensorflow, and each Keras backend needs its own process. The two probes run side by side (two cores).

- every TensorFlow export path of mlp-iris and lstm-sentiment exports, loads and answers as predict does:
  float32 paths within 1e-4 with the same accuracy, int8 ones with an accuracy near predict's;
- infer_fn answers as predict does on Keras-on-TensorFlow and Keras-on-JAX;
- a truncated artifact fails at load or at its first call, with a one-line message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from bench.core.spec import EXPORT_RUNTIMES
from tests.conftest import REPO, install_hint

pytestmark = [pytest.mark.slow, pytest.mark.keras]

WORKLOADS = ("mlp-iris", "lstm-sentiment")
TRUNCATED = ("savedmodel", "tflite", "onnx-tf-int8")  # one of each kind of file: SavedModel, flatbuffer, ONNX
FP32_TOL = 1e-4
INT8_ACCURACY_GAP = 0.1  # untrained models near chance: a few of iris' 30 test rows may flip
needs_export = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tf2onnx", "onnxruntime", "ai_edge_litert")),
    reason="the export extra is not installed: pip install -e '.[export]'",
)


def probe(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "export_probe_keras.py"), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(p: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-4000:]
    return json.loads(out)


@pytest.fixture(scope="module")
def probes() -> dict[str, dict[str, Any]]:
    """Both probes started before either is waited on."""
    running = {"keras": probe("--backend", "keras", "--workloads", *WORKLOADS, "--truncate", *TRUNCATED)}
    if importlib.util.find_spec("jax") is not None:
        running["keras-jax"] = probe("--backend", "keras-jax", "--workloads", *WORKLOADS, "--no-export")
    return {name: result(p) for name, p in running.items()}


@needs_export
@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_tensorflow_path_answers_as_predict(probes: dict[str, dict[str, Any]], workload: str) -> None:
    rec = probes["keras"]["workloads"][workload]
    assert rec["path_order"] == list(EXPORT_RUNTIMES["tensorflow"])
    for name, path in rec["paths"].items():
        assert path["status"] == "ok", f"{workload} {name}: {path.get('error')}\n{path.get('trace', '')}"
        assert path["dtype"] == "float32" and path["shape_ok"], (workload, name)
        assert path["size_bytes"] > 0 and path["export_s"] > 0
        assert path["quantized"] == name.endswith("-int8")
        if path["quantized"]:
            assert abs(path["accuracy"] - path["predict_accuracy"]) <= INT8_ACCURACY_GAP, (workload, name, path)
        else:
            assert path["max_diff"] < FP32_TOL and path["batch1_max_diff"] < FP32_TOL, (workload, name, path)
            assert path["accuracy"] == path["predict_accuracy"] and path["agreement"] == 1.0, (workload, name, path)
    assert rec["paths"]["tflite"]["settings"]["rnn_unrolled"] == (workload == "lstm-sentiment")


@needs_export
def test_a_truncated_artifact_fails_with_one_line(probes: dict[str, dict[str, Any]]) -> None:
    truncated = probes["keras"]["workloads"][WORKLOADS[0]]["truncated"]
    assert sorted(truncated) == sorted(TRUNCATED)
    for name, rec in truncated.items():
        assert rec["raised"], f"{name}: a half file loaded and answered"
        assert rec["error"] and not rec["multiline"], (name, rec)


@pytest.mark.parametrize("backend", ["keras", pytest.param("keras-jax", marks=pytest.mark.jax)])
def test_infer_fn_answers_as_predict(probes: dict[str, dict[str, Any]], backend: str) -> None:
    if backend not in probes:
        pytest.skip(str(install_hint(backend)))
    doc = probes[backend]
    assert doc["modules"].count("torch") == 0, "a Keras-on-TensorFlow/JAX probe imported torch"
    for workload in WORKLOADS:
        infer = doc["workloads"][workload]["infer"]
        assert infer["dtype"] == "float32" and infer["shape_ok"], (backend, workload)
        assert infer["max_diff"] < 1e-5 and infer["batch1_max_diff"] < 1e-5, (backend, workload, infer)
