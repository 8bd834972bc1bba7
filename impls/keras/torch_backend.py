"""keras-torch: the Keras twins on Keras 3's PyTorch backend, trained as the Keras guide for custom
training loops in PyTorch does: the Keras model called on torch tensors, `loss.backward()` through
torch autograd, then the Keras optimizer's `apply` on the variables' `.grad` under `torch.no_grad()`.
No compilation: the step runs eagerly, as that guide's does.

The torch runtime is set as native PyTorch's is (impls.torch.backend.configure: threads, seed,
determinism, TF32 off on CUDA), so that the gap to torch-eager is Keras' own cost. The step runs the
model module's backend-neutral `loss` (impls/keras/base.py); a model with only a TensorFlow-written
step (the GAN) is unsupported, with that reason.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported anywhere in this process

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, ClassVar

import keras
import numpy as np
import torch

from bench.core.spec import BackendOptions, Workload
from impls.keras import check_backend, common
from impls.keras.base import KerasTwin
from impls.torch import backend as torch_runtime

check_backend("torch")


class KerasTorch(KerasTwin):
    name: ClassVar[str] = "keras-torch"
    framework: ClassVar[str] = "torch"

    def __init__(self, opts: BackendOptions) -> None:
        torch_runtime.configure(opts)
        keras.utils.set_random_seed(opts.seed)
        self.device = opts.device
        self.deterministic = opts.deterministic
        self.precision = opts.precision  # Keras' dtype policy, not torch.autocast (impls/keras/base.py)
        # Keras on torch puts tensors on its default device (CUDA when there is one); its device scope,
        # held for this worker's life, makes that the run's device.
        self._device_scope = ExitStack()
        self._device_scope.enter_context(keras.device("cuda:0" if opts.device == "cuda" else "cpu"))

    def build(self, workload: Workload, init: dict[str, np.ndarray] | None) -> None:
        self.build_twin(workload, init)
        net, opt, loss_of, copies = self.neutral_step()
        parts, variables = self.parts, list(net.trainable_variables)
        self._predict = getattr(self.mod, "predict", common.classification_predict)

        def step(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
            loss = loss_of(parts, batch)
            net.zero_grad()
            opt.scale_loss(loss).backward()  # scaled only by a LossScaleOptimizer (fp16)
            grads = [v.value.grad for v in variables]
            with torch.no_grad():
                opt.apply(grads, variables)
                for dst, src in copies(parts, batch):  # e.g. DQN's target <- q, on the batch's flag
                    dst.assign(src.value)
            return loss

        self._step = step

    def prepare(self, batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        out = {k: keras.ops.convert_to_tensor(v) for k, v in batch.items()}
        if self.device == "cuda":
            torch.cuda.synchronize()  # the batch is resident before the step clock starts
        return out

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> float:
        return self._step(batch).item()

    def predict(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = self._predict(self.parts, self.prepare({"x": x})["x"])
        return keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))

    def infer_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """The Keras model called on torch tensors under torch.inference_mode (no autograd records, no
        version counters): this backend has no compiled inference path, as it has no compiled step."""
        parts, predict = self.parts, self._predict

        def infer(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = predict(parts, keras.ops.convert_to_tensor(x))
                return out.detach().to("cpu", torch.float32).numpy()

        return infer

    def reset_peak_memory(self) -> None:
        torch_runtime.reset_peak_memory(self.device)

    def device_memory(self) -> dict[str, float]:
        return torch_runtime.device_memory(self.device)

    def matmul(self, n: int) -> Callable[[], float]:
        return torch_runtime.matmul(n, self.device)

    def profiler(self, folder: str) -> Any:
        """torch.profiler over the profile scenario's window (impls/torch/profiling.py); `folder` is unused."""
        from impls.torch.profiling import TorchProfiler

        return TorchProfiler(self.device)

    def settings(self) -> dict[str, Any]:
        torch_speed = torch_runtime.speed_settings(self.device, None, {})
        speed = self.speed_settings(
            torch_speed["threads"], torch_speed["onednn"], "none (eager)", "off", "apply on the variables' .grad"
        )
        gpu = {k: v for k, v in torch_speed.items() if k in ("tf32", "cudnn_autotune")}
        return {
            **torch_runtime.runtime_settings(self.device),
            **self.keras_settings(),
            "compile": None,
            "speed": speed | gpu,
        }
