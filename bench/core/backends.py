"""The backend interface and the list of backends.

A backend is one way of driving one framework (eager, scripted, compiled, graph, XLA). Each is
an adapter class in impls/<framework>/backend.py; this module only names them, so that the
parent process can list and validate backends without importing torch or tensorflow.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from bench.core.errors import UsageError
from bench.core.spec import BackendOptions, Workload

TIERS = ("default", "tuned")  # BackendInfo.tier
Weights = dict[str, np.ndarray]  # canonical layout: the torch twin's state_dict names and shapes


class Backend(Protocol):
    """What the harness needs from a backend. Adapters know nothing of timing, statistics or files."""

    name: ClassVar[str]
    framework: ClassVar[str]

    def __init__(self, opts: BackendOptions) -> None:
        """Apply thread, seed, determinism and device settings before the framework's first op."""

    def build(self, workload: Workload, init: Weights | None) -> None:
        """Build the twin model(s) and optimizer(s); load `init` (canonical weights) if given."""

    def prepare(self, batch: Mapping[str, np.ndarray]) -> Any:
        """Turn a numpy batch into framework tensors on the device (outside the timed step)."""

    def train_step(self, batch: Any) -> float:
        """One optimisation step. Returns the loss as a Python float: the work is complete on return."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Inference (eval mode) through the model module's `predict`: logits, samples or Q-values."""

    def get_weights(self) -> Weights: ...

    def set_weights(self, weights: Weights) -> None: ...

    def num_params(self) -> int:
        """Trainable parameters, counted the same way on both sides (see each model module)."""

    def reset_peak_memory(self) -> None: ...

    def matmul(self, n: int) -> Callable[[], float]:
        """A call doing one float32 n x n matmul on the device, finished on return (peak FLOP/s)."""

    def device_memory(self) -> dict[str, float]:
        """Device allocator statistics in MiB ({} on CPU, where the worker's RSS is the number)."""

    def settings(self) -> dict[str, Any]:
        """Versions and every flag that changes the numbers (threads, XLA, TF32, compile mode ...); under "speed"
        the settings that change speed, read from the framework, under bench.measure.worktypes.SPEED_SETTINGS' keys."""

    def profiler(self, folder: str) -> Any:
        """The profile scenario's profiler over a window of steps (bench.measure.worktypes.Profiler: start, stop
        -> the ops seen, and the framework's table of kinds), writing any files into `folder`."""


@dataclass(frozen=True)
class BackendInfo:
    """One backend: everything the rest of the suite needs to run, show and check it. Adding a backend is
    an adapter class and one entry in BACKENDS; nothing else lists backends."""

    name: str
    framework: str  # the runtime that executes the step: "torch" | "tensorflow" | "jax" (its matmul peak, installs)
    module: str  # where the adapter class lives
    cls: str
    description: str  # `fwbench list`
    label: str  # its execution mode in the report's seed table, e.g. "PyTorch eager"
    color: str  # in every plot: PyTorch backends blues, TensorFlow ones oranges
    packages: tuple[str, ...]  # importable packages it needs (`fwbench list`, preflight)
    bare: str | None = None  # module with `make_loop(workload, backend, device)`: its bare loop for `fwbench overhead`
    tier: str = (
        "tuned"  # "default": the path the framework's documentation teaches; "tuned": a faster path one opts into
    )
    # the Keras 3 backend it drives ("tensorflow", "jax", "torch"); None: native PyTorch
    keras_backend: str | None = None
    devices: tuple[str, ...] = ("cpu", "cuda")  # where it runs; a CUDA-only variant is left out of CPU suites
    # Whether the export scenario runs from it (its adapter has `export_paths`): one backend per framework,
    # the one whose model is the framework's plain model (bench.scenarios.export, impls/<framework>/export.py).
    exports: bool = False
    # The devices whose default run (`fwbench run` without --backends, the group "default") includes it: each
    # framework's documented path and the path measured fastest on that device (docs/METHODOLOGY.md, The
    # default run).
    default_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"backend {self.name}: tier {self.tier!r} is not one of {', '.join(TIERS)}")
        if self.keras_backend not in (None, *KERAS_BACKENDS):
            raise ValueError(
                f"backend {self.name}: keras_backend {self.keras_backend!r} is not one of {KERAS_BACKENDS}"
            )

    @property
    def headline(self) -> bool:
        """Whether its runs answer the headline PyTorch-vs-TensorFlow question: native PyTorch, and Keras on
        TensorFlow (how TensorFlow is driven). Keras on JAX and on PyTorch have the Keras 3 backend table."""
        return self.keras_backend in (None, "tensorflow")

    def missing(self) -> list[str]:
        """Its packages that are not importable here."""
        return [p for p in self.packages if importlib.util.find_spec(p) is None]

    def installed(self) -> bool:
        return not self.missing()

    def runs_on(self, device: str) -> bool:
        return device in self.devices

    def load(self) -> type[Backend]:
        return getattr(importlib.import_module(self.module), self.cls)

    def make(self, opts: BackendOptions) -> Backend:
        """The adapter, constructed (imports its framework: workers and tests only)."""
        return self.load()(opts)

    def bare_loop(self) -> Any:
        """The bare loop's `make_loop` (imports the framework: workers only)."""
        if self.bare is None:
            raise UsageError(f"backend {self.name!r} has no bare loop, so `fwbench overhead` cannot check it")
        return importlib.import_module(self.bare).make_loop


KERAS_BACKENDS = ("tensorflow", "jax", "torch")  # as impls.keras.KERAS_BACKENDS (not imported: it is the impls side)
TORCH = ("torch",)
TENSORFLOW = ("tensorflow", "keras")
KERAS_JAX = ("jax", "keras")
KERAS_TORCH = ("torch", "keras")

BACKENDS: dict[str, BackendInfo] = {
    b.name: b
    for b in (
        BackendInfo(
            "torch-eager", "torch", "impls.torch.backend", "TorchEager", "PyTorch eager mode",
            "PyTorch eager", "#1f77b4", TORCH, "impls.torch.bare", tier="default", exports=True,
            default_on=("cpu", "cuda"),
        ),
        BackendInfo(
            "torchscript", "torch", "impls.torch.backend", "TorchScript", "torch.jit.script (deprecated upstream)",
            "TorchScript (graph)", "#74add1", TORCH, "impls.torch.bare",
        ),
        BackendInfo(
            "torch-compile", "torch", "impls.torch.backend", "TorchCompile", "torch.compile, default mode, inductor",
            "torch.compile (compiled)", "#08306b", TORCH, "impls.torch.bare",
        ),
        BackendInfo(
            "torch-compile-step", "torch", "impls.torch.backend", "TorchCompileStep",
            "torch.compile of the whole step: forward, loss, backward, optimizer", "torch.compile, whole step",
            "#4292c6", TORCH, "impls.torch.bare", default_on=("cuda",),
        ),
        BackendInfo(
            "torch-compile-step-autotune", "torch", "impls.torch.backend", "TorchCompileStepAutotune",
            "torch.compile of the whole step, mode max-autotune (kernel autotuning, CUDA graphs)",
            "torch.compile, whole step, max-autotune", "#2171b5", TORCH, "impls.torch.bare", devices=("cuda",),
        ),
        BackendInfo(
            "torch-compile-step-cudagraphs", "torch", "impls.torch.backend", "TorchCompileStepCudaGraphs",
            "torch.compile of the whole step, mode reduce-overhead (CUDA graphs)",
            "torch.compile, whole step, CUDA graphs", "#6baed6", TORCH, "impls.torch.bare", devices=("cuda",),
        ),
        BackendInfo(
            "keras-fit", "tensorflow", "impls.keras.backend", "KerasFit",
            "Keras 3 on TensorFlow, Model.compile + train_on_batch (Keras' defaults)", "Keras fit (default)",
            "#e6550d", TENSORFLOW, "impls.keras.bare", tier="default", keras_backend="tensorflow",
            default_on=("cpu", "cuda"),
        ),
        BackendInfo(
            "keras-eager", "tensorflow", "impls.keras.backend", "KerasEager",
            "Keras 3 on TensorFlow, train_on_batch with run_eagerly=True", "TensorFlow eager (optional)",
            "#fdd0a2", TENSORFLOW, "impls.keras.bare", tier="default", keras_backend="tensorflow",
        ),
        BackendInfo(
            "keras", "tensorflow", "impls.keras.backend", "KerasGraph", "Keras 3 on TensorFlow, tf.function step",
            "Keras tf.function (graph)", "#fd8d3c", TENSORFLOW, "impls.keras.bare", keras_backend="tensorflow",
            default_on=("cpu",),
            exports=True,
        ),
        BackendInfo(
            "keras-xla", "tensorflow", "impls.keras.backend", "KerasXLA",
            "Keras 3 on TensorFlow, tf.function(jit_compile=True)", "Keras + XLA (compiled)", "#a63603", TENSORFLOW,
            "impls.keras.bare", keras_backend="tensorflow", default_on=("cuda",),
        ),
        BackendInfo(
            "keras-jax", "jax", "impls.keras.jax_backend", "KerasJax",
            "Keras 3 on JAX, stateless step under jax.jit (the Keras guide's JAX loop)", "Keras on JAX (jax.jit)",
            "#31a354", KERAS_JAX, "impls.keras.bare_jax", tier="default", keras_backend="jax",
        ),
        BackendInfo(
            "keras-torch", "torch", "impls.keras.torch_backend", "KerasTorch",
            "Keras 3 on PyTorch, torch autograd + Keras optimizer (the Keras guide's PyTorch loop)",
            "Keras on PyTorch (eager)", "#756bb1", KERAS_TORCH, "impls.keras.bare_torch", tier="default",
            keras_backend="torch",
        ),
    )
}  # fmt: skip

FRAMEWORK_OF = {"torch": "PyTorch", "tensorflow": "TensorFlow", "jax": "JAX"}


# Named groups for --backends, each derived from the entries above (README, "Backends"): what a group holds
# changes when an entry does, never by editing a list here.
GROUPS = {
    "default": "the default run on the device: each framework's documented path and its fastest measured there",
    "all": "every backend that runs on the device",
    "pytorch": "native PyTorch: eager, TorchScript, torch.compile",
    "tensorflow": "Keras 3 on TensorFlow: fit, the optional eager mode, tf.function, XLA",
    "keras3": "Keras 3 on each of its backends (TensorFlow, JAX, PyTorch): the Keras 3 side table",
}


def group(name: str, device: str) -> tuple[str, ...]:
    """The backends of a group (GROUPS) that run on `device`."""
    on = [b for b in BACKENDS.values() if b.runs_on(device)]
    if name == "default":
        return tuple(b.name for b in on if device in b.default_on)
    if name == "all":
        return tuple(b.name for b in on)
    if name == "pytorch":
        return tuple(b.name for b in on if b.framework == "torch" and b.keras_backend is None)
    if name == "tensorflow":
        return tuple(b.name for b in on if b.keras_backend == "tensorflow")
    if name == "keras3":
        return tuple(b.name for b in on if b.keras_backend is not None)
    raise UsageError(f"unknown backend group {name!r}; valid: {', '.join(GROUPS)}")


def get(name: str) -> BackendInfo:
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
    return BACKENDS[name]
