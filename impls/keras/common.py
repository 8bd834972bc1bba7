"""Pieces shared by the keras twins on every Keras backend: optimizers, the classification loss and
predict. Backend-neutral (keras.ops only): the training steps that use them live in each adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from bench.core.spec import OptimizerSpec


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


def classification_loss(y: Any, logits: Any) -> Any:
    """Mean cross-entropy on logits (from_logits=True), in keras.ops: the same on TF, JAX and PyTorch. In
    float32 whatever the compute dtype (mixed precision), as torch.autocast runs cross_entropy."""
    logits = keras.ops.cast(logits, "float32")
    return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def classification_train_loss(parts: Mapping[str, keras.Model], batch: Mapping[str, Any]) -> Any:
    """The default `loss(parts, batch)` of a model module: the classifier's training loss on a batch."""
    return classification_loss(batch["y"], parts["net"](batch["x"], training=True))


def classification_predict(parts: Mapping[str, keras.Model], x: Any) -> Any:
    return parts["net"](x, training=False)
