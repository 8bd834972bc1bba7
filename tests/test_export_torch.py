"""The PyTorch export paths (impls/torch/export.py) and inference path (TorchEager.infer_fn): each artifact
answers what `predict` answers, and a damaged artifact fails at load with one line.

The probe (tests/export_probe.py) runs in a subprocess, since this process imports no framework: it
trains mlp-iris and lstm-sentiment for their quick-profile epochs (so that the int8 accuracy means
something), exports every torch path, loads it, compares it with `predict` over the inference set and
at batch 1, then cuts each artifact to half and loads it again.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest

from bench.core.spec import EXPORT_RUNTIMES
from tests.conftest import REPO

WORKLOADS = ("mlp-iris", "lstm-sentiment")
FP32_PATHS = ("torchscript", "torch-export", "onnx-torch")
TOLERANCE = 1e-4  # float32 artifacts against predict (seen: <= 1e-6)
INT8_ACCURACY_DROP = 0.1  # dynamic-range int8 against float32 (seen: one iris flower of 30)
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")

pytestmark = [pytest.mark.slow, pytest.mark.torch]


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "tests.export_probe",
        "torch-eager",
        "--workloads",
        *WORKLOADS,
        "--truncate",
        "--train",
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def onnx_installed() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in ONNX_PACKAGES)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_path_in_the_spec_order(probe: dict[str, Any], workload: str) -> None:
    result = probe["workloads"][workload]
    assert result["order"] == list(EXPORT_RUNTIMES["torch"])
    assert result["trained_epochs"] >= 1


@pytest.mark.parametrize("workload", WORKLOADS)
def test_infer_fn_answers_as_predict(probe: dict[str, Any], workload: str) -> None:
    result = probe["workloads"][workload]
    assert result["infer"]["max_diff"] < TOLERANCE and result["infer"]["batch1"] < TOLERANCE
    assert result["infer"]["accuracy"] == result["reference_accuracy"]
    assert result["infer"]["dtype"] == "float32"


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("name", FP32_PATHS)
def test_float32_artifacts_answer_as_predict(probe: dict[str, Any], workload: str, name: str) -> None:
    result = probe["workloads"][workload]
    path = result["paths"][name]
    if name.startswith("onnx") and not onnx_installed():
        assert path["status"] == "unsupported" and "pip install -e '.[export]'" in path["error"]["message"]
        return
    assert path["status"] == "ok", path.get("error")
    assert path["max_diff"] < TOLERANCE and path["batch1"] < TOLERANCE, path
    assert path["accuracy"] == result["reference_accuracy"]
    assert path["dtype"] == "float32" and path["finite"]
    assert len(path["files"]) == 1 and path["bytes"] > 0  # one file: no external data for a small model


@pytest.mark.parametrize("workload", WORKLOADS)
def test_int8_artifact_keeps_the_accuracy(probe: dict[str, Any], workload: str) -> None:
    if not onnx_installed():
        pytest.skip("the export extra (onnx, onnxscript, onnxruntime) is not installed: pip install -e '.[export]'")
    result = probe["workloads"][workload]
    path = result["paths"]["onnx-torch-int8"]
    assert path["status"] == "ok", path.get("error")
    assert path["finite"] and path["settings"]["precision"] == "int8"
    assert result["reference_accuracy"] > 0.7  # trained: the comparison means something
    assert path["accuracy"] >= result["reference_accuracy"] - INT8_ACCURACY_DROP
    assert path["files"] == ["model.int8.onnx"]  # the float32 intermediate is not left in the folder


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("name", EXPORT_RUNTIMES["torch"])
def test_a_truncated_artifact_fails_at_load_in_one_line(probe: dict[str, Any], workload: str, name: str) -> None:
    path = probe["workloads"][workload]["paths"][name]
    if path["status"] == "unsupported":
        pytest.skip(path["error"]["message"])
    damaged = path["truncated"]
    assert damaged["raised"], f"{name}: an artifact cut to half loaded and ran"
    assert damaged["type"] == "ArtifactError" and damaged["lines"] == 1
    assert damaged["message"].startswith(f"{name}: cannot load ")
