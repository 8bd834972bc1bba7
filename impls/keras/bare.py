"""A bare Keras/TensorFlow training loop, as a user would write it: the overhead check's reference.

No adapter, no harness: the twin model, a Keras optimizer and a plain `@tf.function` step
(GradientTape, apply_gradients, `float(loss)`), or for keras-fit and keras-eager `model.compile`
and `train_on_batch`, over tensors made from the numpy batches at the
start of each epoch, called without a device scope as a user would (the model's variables are
placed at build), and a plain predict of the test set between epochs. The overhead check times
each call of the returned step with the harness's clock (two clock reads); making tensors and
evaluating are untimed, as in the harness.
Classification workloads only (the overhead check runs on those).
"""

from __future__ import annotations

import importlib
import os

os.environ["KERAS_BACKEND"] = "tensorflow"

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from bench.core.spec import Workload
from impls.keras import common
from impls.keras.backend import KerasFit, KerasGraph


def make_loop(
    workload: Workload, backend: KerasGraph, device: str
) -> tuple[
    Callable[[dict[str, np.ndarray]], tuple[tf.Tensor, ...]],
    Callable[[tuple[tf.Tensor, ...]], None],
    Callable[[np.ndarray], np.ndarray],
]:
    """Returns prepare(batch), a numpy batch as tensors (what the user's loop does with its data,
    untimed); step(tensors), one training step, finished (float(loss)) on return; and predict(x), the
    logits of a numpy chunk (training=False), which the overhead check grades as the task does."""
    mod = importlib.import_module(f"impls.keras.{workload.model}")
    with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
        model = mod.build(workload)["net"]
        opt = common.make_optimizer(workload.optimizer)
        opt.build(model.trainable_variables)
    layout = getattr(mod, "prepare", lambda b: b)

    @tf.function(jit_compile=backend.jit_compile)
    def train(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(jit_compile=backend.jit_compile, reduce_retracing=True)
    def logits(x: tf.Tensor) -> tf.Tensor:
        return model(x, training=False)

    def prepare(batch: dict[str, np.ndarray]) -> tuple[tf.Tensor, ...]:
        b = layout(batch)
        return tuple(tf.convert_to_tensor(b[k]) for k in ("x", "y"))

    if isinstance(backend, KerasFit):  # the documented path: compile, then train_on_batch
        model.compile(
            optimizer=opt,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            run_eagerly=backend.run_eagerly,
        )
        train = model.train_on_batch

    def step(tensors: tuple[tf.Tensor, ...]) -> None:
        float(train(*tensors))

    def predict(x: np.ndarray) -> np.ndarray:
        return logits(tf.convert_to_tensor(layout({"x": x})["x"])).numpy()

    return prepare, step, predict
