"""The Iris MLP: Dense(16, activation) -> Dense(3) logits. Twin: impls/torch/mlp.py."""

from __future__ import annotations

import keras

from bench.spec import Workload
from impls.keras.weights import LayerMap


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    inp = keras.Input((k["in_features"],), name="x")
    h = keras.layers.Dense(k["hidden"], activation=k["activation"], name="fc1")(inp)
    out = keras.layers.Dense(k["num_classes"], name="fc2")(h)
    return {"net": keras.Model(inp, out, name="mlp")}


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    net = parts["net"]
    return [LayerMap("net.0", net.get_layer("fc1"), "dense"), LayerMap("net.2", net.get_layer("fc2"), "dense")]
