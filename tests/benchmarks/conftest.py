"""pytest-benchmark entry point: `pytest --benchmark-only` from the repository root.

Each benchmark builds a backend in the pytest process and times `train_step` with
pytest-benchmark's pedantic mode. Two frameworks in one process can crash with CUDA builds
(TF >= 2.20 loads its CUDA libraries globally, then triton from a CUDA torch crashes), so:
- benchmarks run framework by framework: all torch ones first, then all keras ones;
- a keras benchmark in a process that already imported a CUDA build of torch (or the reverse)
  is skipped with the command that runs it safely: `pytest --benchmark-only -m keras`.
CPU builds of both (this project's default install) share a process without trouble, so on a
CPU machine one `pytest --benchmark-only` prints one table with every backend on TensorFlow and PyTorch.
Keras 3 runs on one backend per process: after the Keras-on-TensorFlow benchmarks, keras-jax and
keras-torch are skipped with their command (`pytest --benchmark-only -k keras-jax`, a process of their own).
"""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

from bench.core.backends import BACKENDS


def cuda_build(framework: str) -> bool:
    """Whether the installed build of a framework is a CUDA one, read from package metadata."""
    if framework == "torch":
        try:
            version = metadata.version("torch")
            requires = metadata.requires("torch") or []
        except metadata.PackageNotFoundError:
            return False
        return "+cpu" not in version and any(r.startswith("nvidia-") for r in requires)
    try:
        metadata.version("tensorflow-cpu")
        return False
    except metadata.PackageNotFoundError:
        return True


def other_framework_loaded(framework: str) -> str | None:
    """The other framework, if it is already imported here as a CUDA build (the unsafe mix)."""
    other, module = ("tensorflow", "tensorflow") if framework == "torch" else ("torch", "torch")
    if module in sys.modules and (cuda_build(other) or cuda_build(framework)):
        return other
    return None


def keras_backend_loaded() -> str | None:
    """The backend keras runs on in this process, or None if keras is not imported."""
    if "keras" not in sys.modules:
        return None
    from keras import backend

    return backend.backend()


RANK = {None: 0, "tensorflow": 1, "jax": 2, "torch": 3}  # native torch, then Keras by backend


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Native torch benchmarks first, then Keras on TensorFlow, then the other Keras backends: each
    framework is imported once, in order."""

    def framework_rank(item: pytest.Item) -> int:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        return 0 if backend is None else RANK[BACKENDS[backend].keras_backend]

    items.sort(key=framework_rank)
