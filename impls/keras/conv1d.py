"""The waveform classifier: [Conv1D(stride, activation) -> MaxPooling1D] per conv layer (pool size 1 =
no pooling), then a head: GlobalAveragePooling1D ("gap", the default) or Flatten ("flatten"), and
Dense(num_classes) logits, channels last. Twin: impls/torch/conv1d.py.

model_kwargs `padding` ("valid" default, or "same") and `head` ("gap" default, or "flatten"). The Dense
after Flatten sees (L, C)-ordered features where torch sees (C, L): its weight mapping reorders the rows
("cl" of the dense rule, read from the flattened feature map's shape).
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

PADDINGS = ("valid", "same")
HEADS = ("gap", "flatten")


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    padding, head = k.get("padding", "valid"), k.get("head", "gap")
    if padding not in PADDINGS or head not in HEADS:
        raise ValueError(f"conv1d: padding {padding!r} (one of {PADDINGS}), head {head!r} (one of {HEADS})")
    inp = keras.Input((k["in_samples"], 1), name="x")
    h = inp
    convs = zip(k["channels"], k["kernel_sizes"], k["strides"], k["pool_sizes"], strict=True)
    for i, (channels, kernel, stride, pool) in enumerate(convs, start=1):
        h = keras.layers.Conv1D(
            channels, kernel, strides=stride, padding=padding, activation=k["activation"], name=f"conv{i}"
        )(h)
        if pool > 1:
            h = keras.layers.MaxPooling1D(pool, name=f"pool{i}")(h)
    if head == "gap":
        h = keras.layers.GlobalAveragePooling1D(name="gap")(h)
    else:
        h = keras.layers.Flatten(name="flatten")(h)  # (N, L, C) -> (N, L * C), length-major
    out = keras.layers.Dense(k["num_classes"], name="fc")(h)
    return {"net": keras.Model(inp, out, name="conv1d")}


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    net = parts["net"]
    convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv1D)]
    names = {layer.name for layer in net.layers}
    extra = {}
    if "flatten" in names:
        _, length, channels = net.get_layer("flatten").input.shape
        extra = {"cl": (channels, length)}
    # The canonical prefixes are torch's module names, which the keras layers share (conv1, ..., fc).
    return [
        *(LayerMap(f"net.{c.name}", c, "conv") for c in convs),
        LayerMap("net.fc", net.get_layer("fc"), "dense", extra=extra),
    ]
