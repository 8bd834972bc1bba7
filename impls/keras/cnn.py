"""The image CNN: [Conv2D('same', activation) -> MaxPooling2D] per entry of `channels`, Flatten,
Dense(hidden, activation) -> Dense(num_classes) logits, channels last. Twin: impls/torch/cnn.py.

The Dense after Flatten sees (H, W, C)-ordered features where torch sees (C, H, W): its weight
mapping reorders the rows ("chw" of the dense rule).
"""

from __future__ import annotations

import keras

from bench.core.spec import Workload
from impls.keras.weights import LayerMap

# TF 2.21 refuses the max-pool gradient under XLA with op determinism on, even on CPU.
UNSUPPORTED_DETERMINISTIC = {
    "keras-xla": "with --deterministic, TF 2.21 has no deterministic XLA max-pool gradient "
    '("GPU MaxPool gradient ops do not yet have a deterministic XLA implementation")'
}


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    inp = keras.Input(tuple(k["in_shape"]), name="x")
    h = inp
    for i, channels in enumerate(k["channels"], start=1):
        h = keras.layers.Conv2D(
            channels, k["kernel_size"], padding=k["padding"], activation=k["activation"], name=f"conv{i}"
        )(h)
        h = keras.layers.MaxPooling2D(k["pool_size"], name=f"pool{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(k["hidden"], activation=k["activation"], name="fc1")(h)
    out = keras.layers.Dense(k["num_classes"], name="fc2")(h)
    return {"net": keras.Model(inp, out, name="cnn")}


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    net = parts["net"]
    convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D)]
    _, height, width, channels = net.get_layer("flatten").input.shape
    return [
        *(LayerMap(f"net.{c.name}", c, "conv") for c in convs),
        LayerMap("net.fc1", net.get_layer("fc1"), "dense", extra={"chw": (channels, height, width)}),
        LayerMap("net.fc2", net.get_layer("fc2"), "dense"),
    ]
