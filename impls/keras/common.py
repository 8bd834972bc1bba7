"""Pieces shared by the keras twins: optimizers and the default (classification) step."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from bench.spec import OptimizerSpec


def make_optimizer(spec: OptimizerSpec) -> keras.optimizers.Optimizer:
    """Every constant from the spec. Keras Adam adds eps to sqrt(v) before bias correction
    (torch after): with eps explicit on both sides the difference is documented, not hidden."""
    if spec.name == "adam":
        return keras.optimizers.Adam(learning_rate=spec.lr, beta_1=spec.beta1, beta_2=spec.beta2, epsilon=spec.eps)
    if spec.name == "adamw":
        return keras.optimizers.AdamW(
            learning_rate=spec.lr,
            beta_1=spec.beta1,
            beta_2=spec.beta2,
            epsilon=spec.eps,
            weight_decay=spec.weight_decay,
        )
    return keras.optimizers.SGD(learning_rate=spec.lr, momentum=spec.momentum)


def classification_step(
    parts: Mapping[str, keras.Model],
    optimizers: Mapping[str, keras.optimizers.Optimizer],
    batch: Mapping[str, tf.Tensor],
) -> tf.Tensor:
    """Cross-entropy on logits (from_logits=True), one optimizer step. Traced by tf.function."""
    net = parts["net"]
    with tf.GradientTape() as tape:
        logits = net(batch["x"], training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(batch["y"], logits, from_logits=True))
    grads = tape.gradient(loss, net.trainable_variables)
    optimizers["net"].apply_gradients(zip(grads, net.trainable_variables))
    return loss


def classification_predict(parts: Mapping[str, keras.Model], x: tf.Tensor) -> tf.Tensor:
    return parts["net"](x, training=False)
