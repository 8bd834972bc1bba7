"""A bare Keras-on-PyTorch training loop, as the Keras guide for custom loops in PyTorch writes it:
the overhead check's reference for keras-torch.

No adapter, no harness: the twin model, a Keras optimizer, and `model(x)` / loss /
`model.zero_grad()` / `loss.backward()` / `optimizer.apply(grads)` under `torch.no_grad()` /
`loss.item()`, over tensors made from the numpy batches at the start of each epoch; a plain predict of
the test set between epochs. Classification workloads only (the overhead check runs on those).
"""

from __future__ import annotations

import importlib
import os

os.environ["KERAS_BACKEND"] = "torch"

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import torch

from bench.core.spec import Workload
from impls.keras import check_backend, common

check_backend("torch")


def make_loop(
    workload: Workload, backend: Any, device: str
) -> tuple[
    Callable[[dict[str, np.ndarray]], tuple[torch.Tensor, ...]],
    Callable[[tuple[torch.Tensor, ...]], None],
    Callable[[np.ndarray], np.ndarray],
]:
    """prepare(batch), step(tensors) finished on return, predict(x): as impls/keras/bare.py."""
    model = importlib.import_module(f"impls.keras.{workload.model}").build(workload)["net"]
    opt = common.make_optimizer(workload.optimizer)
    opt.build(model.trainable_variables)

    def prepare(batch: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
        return tuple(keras.ops.convert_to_tensor(batch[k]) for k in ("x", "y"))

    def step(tensors: tuple[torch.Tensor, ...]) -> None:
        x, y = tensors
        loss = common.classification_loss(y, model(x, training=True))
        model.zero_grad()
        loss.backward()
        trainable = model.trainable_variables
        grads = [v.value.grad for v in trainable]
        with torch.no_grad():
            opt.apply(grads, trainable)
        loss.item()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return keras.ops.convert_to_numpy(model(keras.ops.convert_to_tensor(x), training=False))

    return prepare, step, predict
