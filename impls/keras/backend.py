"""The keras backends: Keras 3 on TensorFlow, the training step as a tf.function (graph), with
and without XLA (jit_compile=True).

Also the default tier: `Model.compile` + `train_on_batch` (keras-fit), and the same run eagerly
(keras-eager). The step is an explicit tf.function over GradientTape + optimizer.apply_gradients: the same work
Keras' compiled train function does, without `fit`'s callbacks and data adapters or
`train_on_batch`'s per-call metric conversion (see docs/METHODOLOGY.md).

The model modules' interface is in impls/keras/base.py.
"""

from __future__ import annotations

import importlib
import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # before keras is imported anywhere in this process

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import numpy as np

from impls.keras import optional_imports_off

# Keras and TensorFlow import pandas, matplotlib, scikit-learn and JAX where installed, for what no run uses
# (DataFrame inputs, plotting utilities, scikit-learn wrappers, TF Lite conversion of JAX functions): about
# 2 s of every worker's start (docs/METHODOLOGY.md, "A run's fixed cost"). Off while they import, so that they
# take their "not installed" path; code that needs one later (the GAN scorer) imports it as usual.
with optional_imports_off(("pandas", "matplotlib", "sklearn", "jax")):
    import keras
    import tensorflow as tf

from bench.core.errors import UsageError
from bench.core.spec import BackendOptions, Workload
from bench.interfaces.export_spec import ExportPath
from impls.keras import check_backend, common
from impls.keras.base import KerasTwin

check_backend("tensorflow")


class KerasGraph(KerasTwin):
    name: ClassVar[str] = "keras"
    framework: ClassVar[str] = "tensorflow"
    jit_compile: ClassVar[bool] = False
    runs_tf_steps: ClassVar[bool] = True

    def __init__(self, opts: BackendOptions) -> None:
        device, deterministic = opts.device, opts.deterministic
        # Settable only before TensorFlow initialises its runtime (the first op): a second backend in
        # one process (pytest-benchmark) finds them already set.
        if tf.config.threading.get_intra_op_parallelism_threads() != opts.threads:
            tf.config.threading.set_intra_op_parallelism_threads(opts.threads)
        if tf.config.threading.get_inter_op_parallelism_threads() != opts.interop_threads:
            tf.config.threading.set_inter_op_parallelism_threads(opts.interop_threads)
        gpus = tf.config.list_physical_devices("GPU")
        if device == "cuda":
            if not gpus:
                raise UsageError("--device cuda: TensorFlow sees no GPU (is the CUDA build installed?)")
            for g in gpus:  # otherwise TF reserves all GPU memory and its peak means nothing
                if not tf.config.experimental.get_memory_growth(g):
                    tf.config.experimental.set_memory_growth(g, True)
            # as torch: TF32 only at --precision tf32 (TensorFlow's default is on)
            tf.config.experimental.enable_tensor_float_32_execution(opts.precision == "tf32")
        keras.utils.set_random_seed(opts.seed)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
        self.device = device
        self.deterministic = deterministic
        self.precision = opts.precision
        self.threads = opts.threads  # the export runtimes (LiteRT, ONNX Runtime) get the same intra-op threads
        self.tf_device = "/GPU:0" if device == "cuda" else "/CPU:0"
        # TensorFlow places ops on the GPU when there is one: a scope is needed only to keep a CPU run
        # off a visible GPU. Entering it costs 5-8 us per call, so steps skip it where it changes nothing.
        self.step_scope = device == "cpu" and bool(gpus)

    def scope(self) -> AbstractContextManager[Any]:
        return tf.device(self.tf_device)

    def build(self, workload: Workload, init: dict[str, np.ndarray] | None) -> None:
        self.build_twin(workload, init)
        predict = getattr(self.mod, "predict", common.classification_predict)
        parts, opts = self.parts, self.optimizers
        own = getattr(self.mod, "train_step", None)  # a TensorFlow-written step (the GAN's)
        if own is None:
            net, opt, loss_of, self.copies = self.neutral_step()

            def step(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
                """The model's loss under a GradientTape, one optimizer step on the trained part."""
                with tf.GradientTape() as tape:
                    loss = loss_of(parts, batch)
                    scaled = opt.scale_loss(loss)  # the loss itself unless a LossScaleOptimizer (fp16) scales it
                grads = tape.gradient(scaled, net.trainable_variables)
                opt.apply_gradients(zip(grads, net.trainable_variables))
                return loss

        else:
            self.copies = lambda parts, batch: []

            def step(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
                return own(parts, opts, batch)

        self._step = tf.function(step, jit_compile=self.jit_compile)
        self._predict = tf.function(lambda x: predict(parts, x), jit_compile=self.jit_compile, reduce_retracing=True)
        self._prepare = getattr(self.mod, "prepare", None)

    def prepare(self, batch: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
        if self._prepare is not None:
            batch = self._prepare(batch)
        if self.device != "cuda":
            return {k: tf.convert_to_tensor(v) for k, v in batch.items()}
        with tf.device(self.tf_device):  # identity: the copy to the GPU happens here, not in the step
            out = {k: tf.identity(tf.convert_to_tensor(v)) for k, v in batch.items()}
        tf.test.experimental.sync_devices()  # the batch is resident before the step clock starts
        return out

    def train_step(self, batch: Mapping[str, tf.Tensor]) -> float:
        if not self.step_scope:
            loss = float(self._step(batch))
        else:
            with tf.device(self.tf_device):
                loss = float(self._step(batch))
        for dst, src in self.copies(self.parts, batch):  # e.g. DQN's target <- q, on the batch's flag
            dst.assign(src)
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        with tf.device(self.tf_device):
            return np.asarray(self._predict(self.prepare({"x": x})["x"])).astype(np.float32, copy=False)

    def infer_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """The compiled predict (tf.function; XLA on keras-xla) called on the numpy batch: the same values as
        `predict`, without its per-call device scope where that changes nothing (as `train_step`)."""
        fn = self._predict

        def infer(x: np.ndarray) -> np.ndarray:
            return fn(x).numpy().astype(np.float32, copy=False)

        return self.placed(infer)

    def placed(self, infer: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        """`infer` itself, or under the run's device scope where a CPU run must stay off a visible GPU."""
        if not self.step_scope:
            return infer

        def infer_scoped(x: np.ndarray) -> np.ndarray:
            with tf.device(self.tf_device):
                return infer(x)

        return infer_scoped

    def export_paths(self) -> list[ExportPath]:
        """SavedModel, TF Lite and ONNX exports of the trained model's predict (impls/keras/export.py)."""
        from impls.keras import export

        return export.export_paths(self)

    def reset_peak_memory(self) -> None:
        if self.device == "cuda":
            tf.config.experimental.reset_memory_stats("GPU:0")

    def device_memory(self) -> dict[str, float]:
        if self.device != "cuda":
            return {}
        info = tf.config.experimental.get_memory_info("GPU:0")
        return {"allocator_peak_allocated_mib": info["peak"] / 1024.0**2}

    def matmul(self, n: int) -> Callable[[], float]:
        """One float32 n x n matmul per call, finished on return (the suite's measured peak)."""
        with tf.device(self.tf_device):
            a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
        mm = tf.function(lambda: tf.linalg.matmul(a, b)[0, 0])
        return lambda: float(mm())

    def profiler(self, folder: str) -> Any:
        """TensorFlow's profiler over the profile scenario's window, into `folder`, read with XProf
        (impls/keras/profiling.py)."""
        from impls.keras.profiling import TF_RULES, XprofProfiler

        return XprofProfiler(
            folder,
            lambda: tf.profiler.experimental.start(folder),
            tf.profiler.experimental.stop,
            TF_RULES,
            "TensorFlow profiler (tf.profiler.experimental), XProf framework_op_stats self time"
            + (" on the GPU" if self.device == "cuda" else ""),
            side="Device" if self.device == "cuda" else "Host",
        )

    def speed(self) -> dict[str, str]:
        """The settings that change speed, read from TensorFlow now (KerasTwin.speed_settings)."""
        graph = "tf.function(jit_compile=True)" if self.jit_compile else "tf.function of the step"
        s = self.speed_settings(
            f"{tf.config.threading.get_intra_op_parallelism_threads()} intra-op, "
            f"{tf.config.threading.get_inter_op_parallelism_threads()} inter-op",
            onednn_state(),
            graph,
            "on (jit_compile=True)" if self.jit_compile else "off",
            "one update per variable, in the compiled step",
        )
        if self.device == "cuda":
            s["tf32"] = "on" if tf.config.experimental.tensor_float_32_execution_enabled() else "off"
            s["cudnn_autotune"] = "off" if os.environ.get("TF_CUDNN_USE_AUTOTUNE", "1") == "0" else "on"
        return s

    def settings(self) -> dict[str, Any]:
        s: dict[str, Any] = {
            **self.keras_settings(),
            "speed": self.speed(),
            "tensorflow_version": tf.__version__,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "jit_compile": self.jit_compile,
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 CPU)"),
            "compile": "tf.function(jit_compile=True)" if self.jit_compile else "tf.function",
            "compile_cache": "none (XLA and graph caches are per process)",
        }
        if self.device == "cuda":
            s.update(
                tf32=tf.config.experimental.tensor_float_32_execution_enabled(),
                memory_growth=True,
                cudnn_autotune=os.environ.get("TF_CUDNN_USE_AUTOTUNE", "1") != "0",
                cuda_build=tf.sysconfig.get_build_info().get("cuda_version"),
            )
        return s


def onednn_state() -> str:
    """Whether TensorFlow runs its oneDNN kernels: the build's flag and TF_ENABLE_ONEDNN_OPTS (default on x86)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        built = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        built = None
    env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if built is False:
        return "off (not in this build)"
    if env is not None and env.strip().lower() in ("0", "false"):
        return f"off (TF_ENABLE_ONEDNN_OPTS={env})"
    return "on (TF_ENABLE_ONEDNN_OPTS" + (f"={env})" if env is not None else " unset: the x86 default)")


class KerasXLA(KerasGraph):
    name: ClassVar[str] = "keras-xla"
    jit_compile: ClassVar[bool] = True


class KerasFit(KerasGraph):
    """The path the Keras documentation teaches: `model.compile(optimizer, loss)` with Keras' own
    defaults (`jit_compile="auto"`), then one `train_on_batch` per step, so that every step is timed
    by the harness like any other backend's (`fit` over an epoch would hide the per-step times).
    Only for models trained by one optimizer on one loss: twins with their own `train_step` (the GAN,
    DQN) have no `fit` path and their cells say so."""

    name: ClassVar[str] = "keras-fit"
    run_eagerly: ClassVar[bool] = False

    def build(self, workload: Workload, init: dict[str, np.ndarray] | None) -> None:
        mod = importlib.import_module(f"impls.keras.{workload.model}")
        own = [name for name in ("train_step", "loss") if hasattr(mod, name)]
        if own:
            raise NotImplementedError(
                f"model {workload.model!r} trains through its own {own[0]} (impls/keras/{workload.model}.py); "
                "Model.fit and train_on_batch drive one model on one built-in loss"
            )
        super().build(workload, init)
        net = self.parts["net"]
        with tf.device(self.tf_device):
            net.compile(
                optimizer=self.optimizers["net"],
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                run_eagerly=self.run_eagerly,
            )  # jit_compile left at Keras' default, "auto": settings() records what it resolved to

    def train_step(self, batch: Mapping[str, tf.Tensor]) -> float:
        net = self.parts["net"]
        if not self.step_scope:
            return float(net.train_on_batch(batch["x"], batch["y"]))
        with tf.device(self.tf_device):
            return float(net.train_on_batch(batch["x"], batch["y"]))

    def infer_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """This tier's own inference call, `Model.predict_on_batch`: Keras' compiled predict function with the
        compile's settings (jit_compile "auto"; keras-eager: run_eagerly, every op from Python)."""
        net = self.parts["net"]

        def infer(x: np.ndarray) -> np.ndarray:
            return np.asarray(net.predict_on_batch(x)).astype(np.float32, copy=False)

        return self.placed(infer)

    def settings(self) -> dict[str, Any]:
        net = self.parts["net"] if hasattr(self, "parts") else None
        return {
            **super().settings(),
            "jit_compile": getattr(net, "jit_compile", None),  # what "auto" resolved to for this model
            "run_eagerly": self.run_eagerly,
            "compile": "Model.compile + train_on_batch" + (" (run_eagerly=True)" if self.run_eagerly else ""),
        }

    def speed(self) -> dict[str, str]:
        net = self.parts["net"] if hasattr(self, "parts") else None
        jit = getattr(net, "jit_compile", None)
        graph = "none (run_eagerly=True)" if self.run_eagerly else "Model.compile's train function (tf.function)"
        return super().speed() | {"graph_capture": graph, "xla": "on (jit_compile)" if jit else "off"}


class KerasEager(KerasFit):
    """TensorFlow's optional eager mode (the seed table's row): the same as keras-fit with
    `run_eagerly=True`, every op dispatched from Python."""

    name: ClassVar[str] = "keras-eager"
    run_eagerly: ClassVar[bool] = True
