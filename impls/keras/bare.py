"""A bare Keras/TensorFlow training loop, as a user would write it: the overhead check's reference.

No adapter, no harness: the twin model, a Keras optimizer and a plain `@tf.function` step
(GradientTape, apply_gradients, `float(loss)`) over pre-made tensors, called without a device
scope as a user would (the model's variables are placed at build), and an evaluation of the test
set between epochs. The overhead check times each call of the returned step with the harness's
clock (two clock reads); the evaluation is untimed, as in the harness.
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
    workload: Workload,
    backend: str,
    batches: Sequence[dict[str, np.ndarray]],
    test_x: np.ndarray,
    eval_batch: int,
    device: str,
) -> tuple[Callable[[int], None], Callable[[], np.ndarray]]:
    """Returns step(i), one training step on batches[i], finished (float(loss)) on return, and
    evaluate(), the predicted classes of test_x (training=False; in chunks of eval_batch, as the
    task evaluates)."""
    mod = importlib.import_module(f"impls.keras.{workload.model}")
    with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
        model = mod.build(workload)["net"]
        opt = common.make_optimizer(workload.optimizer)
        opt.build(model.trainable_variables)
        prepare = getattr(mod, "prepare", lambda b: b)
        data = [(tf.constant(p["x"]), tf.constant(p["y"])) for p in map(prepare, batches)]
        test = [tf.constant(prepare({"x": test_x[i : i + eval_batch]})["x"]) for i in range(0, len(test_x), eval_batch)]

    @tf.function(jit_compile=JIT[backend])
    def train(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(jit_compile=JIT[backend], reduce_retracing=True)
    def predict(x: tf.Tensor) -> tf.Tensor:
        return tf.argmax(model(x, training=False), axis=1)

    def step(i: int) -> None:
        float(train(*data[i]))

    def evaluate() -> np.ndarray:
        return np.concatenate([predict(x).numpy() for x in test])

    return step, evaluate
