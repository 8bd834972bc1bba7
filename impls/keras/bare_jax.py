"""A bare Keras-on-JAX training loop, as the Keras guide for custom loops in JAX writes it: the
overhead check's reference for keras-jax.

No adapter, no harness: the twin model, a Keras optimizer, the state as lists of arrays, and one
`jax.jit` step of `stateless_call` / `jax.value_and_grad` / `stateless_apply`, then `float(loss)`,
over arrays made from the numpy batches at the start of each epoch; a plain jitted predict of the
test set between epochs. Classification workloads only (the overhead check runs on those).
"""

from __future__ import annotations

import importlib
import os

os.environ["KERAS_BACKEND"] = "jax"

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from bench.core.spec import Workload
from impls.keras import check_backend, common

check_backend("jax")


def make_loop(
    workload: Workload, backend: Any, device: str
) -> tuple[
    Callable[[dict[str, np.ndarray]], tuple[jax.Array, ...]],
    Callable[[tuple[jax.Array, ...]], None],
    Callable[[np.ndarray], np.ndarray],
]:
    """prepare(batch), step(arrays) finished on return, predict(x): as impls/keras/bare.py."""
    model = importlib.import_module(f"impls.keras.{workload.model}").build(workload)["net"]
    opt = common.make_optimizer(workload.optimizer)
    opt.build(model.trainable_variables)

    def compute_loss(trainable: Any, non_trainable: Any, x: Any, y: Any) -> tuple[Any, Any]:
        logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return common.classification_loss(y, logits), non_trainable

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    @jax.jit
    def train(state: Any, x: Any, y: Any) -> tuple[Any, Any]:
        trainable, non_trainable, opt_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, opt_vars = opt.stateless_apply(opt_vars, grads, trainable)
        return loss, (trainable, non_trainable, opt_vars)

    @jax.jit
    def logits(state: Any, x: Any) -> Any:
        return model.stateless_call(state[0], state[1], x, training=False)[0]

    holder = {
        "state": (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in opt.variables],
        )
    }

    def prepare(batch: dict[str, np.ndarray]) -> tuple[jax.Array, ...]:
        return tuple(jax.numpy.asarray(batch[k]) for k in ("x", "y"))

    def step(arrays: tuple[jax.Array, ...]) -> None:
        loss, holder["state"] = train(holder["state"], *arrays)
        float(loss)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(logits(holder["state"], jax.numpy.asarray(x)))

    return prepare, step, predict
