"""A bare Keras/TensorFlow training loop, as a user would write it: the overhead check's reference.

No adapter, no harness: the twin model, a Keras optimizer and a plain `@tf.function` step
(GradientTape, apply_gradients, `float(loss)`) over pre-made tensors, called without a device
scope as a user would (the model's variables are placed at build). The overhead check times each
call of the returned step with the harness's clock (two clock reads).
Classification workloads only (the overhead check runs on those).
"""

from __future__ import annotations

import importlib
import os

os.environ["KERAS_BACKEND"] = "tensorflow"

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from bench.spec import Workload
from impls.keras import common

JIT = {"keras": False, "keras-xla": True}


def make_step(
    workload: Workload, backend: str, batches: Sequence[dict[str, np.ndarray]], device: str
) -> Callable[[int], None]:
    """Returns step(i): one training step on batches[i], finished (float(loss)) on return."""
    mod = importlib.import_module(f"impls.keras.{workload.model}")
    tf_device = "/GPU:0" if device == "cuda" else "/CPU:0"
    with tf.device(tf_device):
        model = mod.build(workload)["net"]
        opt = common.make_optimizer(workload.optimizer)
        opt.build(model.trainable_variables)
        prepare = getattr(mod, "prepare", lambda b: b)
        data = [(tf.constant(p["x"]), tf.constant(p["y"])) for p in map(prepare, batches)]

    @tf.function(jit_compile=JIT[backend])
    def train(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    def step(i: int) -> None:
        float(train(*data[i]))

    return step
