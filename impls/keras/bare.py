"""A bare Keras/TensorFlow training loop, as a user would write it: the overhead check's reference.

No adapter, no harness, no per-step clock: the twin model, a Keras optimizer and a plain
`@tf.function` step (GradientTape, apply_gradients, `float(loss)`) over pre-made tensors.
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


def make_loop(
    workload: Workload, backend: str, batches: Sequence[dict[str, np.ndarray]], device: str
) -> Callable[[int, int], None]:
    """Returns loop(start, stop): train on batches[start:stop]."""
    mod = importlib.import_module(f"impls.keras.{workload.model}")
    tf_device = "/GPU:0" if device == "cuda" else "/CPU:0"
    with tf.device(tf_device):
        model = mod.build(workload)["net"]
        opt = common.make_optimizer(workload.optimizer)
        opt.build(model.trainable_variables)
        prepare = getattr(mod, "prepare", lambda b: b)
        data = [(tf.constant(prepare(b)["x"]), tf.constant(prepare(b)["y"])) for b in batches]

    @tf.function(jit_compile=JIT[backend])
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    def loop(start: int, stop: int) -> None:
        with tf.device(tf_device):
            for x, y in data[start:stop]:
                float(step(x, y))

    return loop
