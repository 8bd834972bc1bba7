"""What every Keras adapter shares, on any Keras backend: building a twin, its optimizers, and its
weights in the canonical (torch) layout. Imports keras but no backend framework: the adapter module
that subclasses it selects the backend first (KERAS_BACKEND, then impls.keras.check_backend).

A model module (impls/keras/<model>.py) provides `build(workload) -> dict[str, keras.Model]` and
`layer_map(parts)` (the weight mapping), and may provide `train_step`, `predict`, `make_optimizers`,
`prepare`, `count_params`, `UNSUPPORTED = {backend: reason}` and `UNSUPPORTED_DETERMINISTIC`. A
`train_step` is written in TensorFlow (GradientTape): only the TensorFlow adapters run it, and a
model that has one (the GAN: two optimizers, alternating) is unsupported on the other Keras backends.
Every other model is trained from backend-neutral pieces, by each adapter its own way (a tape and
tf.function, jax.value_and_grad and jax.jit, torch autograd): `loss(parts, batch)` (keras.ops;
default: the classifier's cross-entropy), `TRAINED` (the part its one optimizer updates; default
"net") and `target_copies(parts, batch)` ((destination, source) variable pairs to copy after the
update, read on the host; e.g. DQN's target <- q every N steps; default none).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import keras
import numpy as np

from bench.core.spec import MIXED_PRECISIONS, Workload, cpu_has_bf16, precision_unsupported
from impls.keras import common, weights

# Keras' dtype policy per precision: float32 variables; "mixed_*" computes layers in the lower dtype
# (tf32 is a runtime flag of the backend framework, not a Keras policy).
DTYPE_POLICIES = {"fp32": "float32", "tf32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


class KerasTwin:
    name: ClassVar[str]
    framework: ClassVar[str]
    deterministic: bool = False
    device: str = "cpu"
    precision: str = "fp32"  # bench.core.spec.PRECISIONS (BackendOptions.precision, set by each adapter)
    runs_tf_steps: ClassVar[bool] = False  # whether the model modules' TensorFlow `train_step`s can run here
    # Whether the adapter's step scales the loss (`optimizer.scale_loss`) so that a LossScaleOptimizer can
    # unscale the gradients: float16 needs it.
    loss_scaling: ClassVar[bool] = True

    def scope(self) -> AbstractContextManager[Any]:
        """Where variables are created (the TensorFlow adapters place them on a device)."""
        return nullcontext()

    def build_twin(self, workload: Workload, init: Mapping[str, np.ndarray] | None) -> None:
        """The model's parts, their layer maps and optimizers, with `init` loaded; NotImplementedError
        with the reason where this backend cannot train the model."""
        self.workload = workload
        self.mod = importlib.import_module(f"impls.keras.{workload.model}")
        reason = getattr(self.mod, "UNSUPPORTED", {}).get(self.name)
        if self.deterministic and not reason:
            reason = getattr(self.mod, "UNSUPPORTED_DETERMINISTIC", {}).get(self.name)
        if not reason and hasattr(self.mod, "train_step") and not self.runs_tf_steps:
            reason = (
                f"model {workload.model!r} trains through its own step, written in TensorFlow "
                f"(impls/keras/{workload.model}.py train_step); there is no keras.ops version of it yet"
            )
        reason = reason or self.precision_unsupported()
        if reason:
            raise NotImplementedError(reason)
        keras.config.set_dtype_policy(DTYPE_POLICIES[self.precision])  # before any layer is made
        with self.scope():
            self.parts = self.mod.build(workload)
            self.maps = self.mod.layer_map(self.parts)
            if init is not None:
                self.set_weights(init)
            make_opts = getattr(self.mod, "make_optimizers", None)
            if make_opts is not None:
                self.optimizers = make_opts(self.parts, workload.optimizer)
            else:
                opt = common.make_optimizer(workload.optimizer)
                if self.precision == "fp16":  # dynamic loss scaling, as Keras' mixed-precision guide does
                    opt = keras.optimizers.LossScaleOptimizer(opt)
                opt.build(self.parts["net"].trainable_variables)
                self.optimizers = {"net": opt}

    def precision_unsupported(self) -> str | None:
        """Why this adapter cannot train the loaded model module in `self.precision`, or None."""
        reason = precision_unsupported(self.precision, self.device)
        if reason:
            return reason
        if self.precision in MIXED_PRECISIONS and (
            hasattr(self.mod, "train_step") or hasattr(self.mod, "make_optimizers")
        ):
            return (
                f"model {self.workload.model!r} trains through its own step or optimizers "
                f"(impls/keras/{self.workload.model}.py), which have no mixed-precision ({self.precision}) path"
            )
        if self.precision == "fp16" and not self.loss_scaling:
            return f"{self.name}'s step does not scale the loss, which float16 training needs (LossScaleOptimizer)"
        return None

    def neutral_step(self) -> tuple[keras.Model, keras.optimizers.Optimizer, Callable[..., Any], Callable[..., Any]]:
        """The backend-neutral pieces of the model's step: (trained part, its optimizer, loss(parts, batch),
        target_copies(parts, batch))."""
        trained = getattr(self.mod, "TRAINED", "net")
        loss = getattr(self.mod, "loss", common.classification_train_loss)
        copies = getattr(self.mod, "target_copies", lambda parts, batch: [])
        return self.parts[trained], self.optimizers[trained], loss, copies

    def get_weights(self) -> dict[str, np.ndarray]:
        return weights.get_canonical(self.maps)

    def set_weights(self, w: Mapping[str, np.ndarray]) -> None:
        load = getattr(self.mod, "load_canonical", None)  # a model module's own loader (impls/keras/llama.py)
        if load is not None:
            load(self.parts, self.maps, w, self.workload)
            return
        weights.set_canonical(self.maps, w, models=self.parts.values())

    def num_params(self) -> int:
        count = getattr(self.mod, "count_params", None)
        if count is not None:
            return int(count(self.parts))
        return int(sum(int(np.prod(v.shape)) for m in self.parts.values() for v in m.trainable_weights))

    def speed_settings(self, threads: str, onednn: str, graph_capture: str, xla: str, update: str) -> dict[str, str]:
        """The settings that change speed, under the keys every backend uses (bench.measure.worktypes and the
        report's settings comparison): the adapter passes what its framework says; the optimizer's and the data
        layout are Keras' own. `update`: how the adapter's step applies the optimizer."""
        opts = getattr(self, "optimizers", {})
        parts = getattr(self, "parts", {})
        optimizer = "; ".join(
            f"{part}: keras.optimizers.{type(o).__name__}, {update} "
            f"({len(getattr(parts.get(part), 'trainable_variables', []))} variables)"
            for part, o in opts.items()
        )
        layout = keras.config.image_data_format()
        return {
            "threads": threads,
            "onednn": onednn,
            "optimizer_update": optimizer or "not built",
            "data_layout": "NHWC (channels last)" if layout == "channels_last" else "NCHW (channels first)",
            "graph_capture": graph_capture,
            "xla": xla,
        }

    def keras_settings(self) -> dict[str, Any]:
        return {
            "keras_version": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "data_format": keras.config.image_data_format(),
            "deterministic": self.deterministic,
            "optimizer_impl": "keras",
            "precision": self.precision,
            "dtype_policy": keras.config.dtype_policy().name,
            "loss_scale_optimizer": self.precision == "fp16",
            "cpu_bf16_instructions": cpu_has_bf16(),  # without them, bf16 on a CPU is emulated
        }
