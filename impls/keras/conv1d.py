"""The waveform classifier: [Conv1D('valid', stride, activation) -> MaxPooling1D] per conv layer
(pool size 1 = no pooling), GlobalAveragePooling1D, Dense(num_classes) logits, channels last.
Twin: impls/torch/conv1d.py.
"""

from __future__ import annotations

import keras

from bench.spec import Workload
from impls.keras.weights import LayerMap

# TF 2.21 refuses the max-pool gradient under XLA with op determinism on, even on CPU.
UNSUPPORTED_DETERMINISTIC = {
    "keras-xla": "with --deterministic, TF 2.21 has no deterministic XLA max-pool gradient "
    '("GPU MaxPool gradient ops do not yet have a deterministic XLA implementation")'
}


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    inp = keras.Input((k["in_samples"], 1), name="x")
    h = inp
    convs = zip(k["channels"], k["kernel_sizes"], k["strides"], k["pool_sizes"], strict=True)
    for i, (channels, kernel, stride, pool) in enumerate(convs, start=1):
        h = keras.layers.Conv1D(
            channels, kernel, strides=stride, padding="valid", activation=k["activation"], name=f"conv{i}"
        )(h)
        if pool > 1:
            h = keras.layers.MaxPooling1D(pool, name=f"pool{i}")(h)
    h = keras.layers.GlobalAveragePooling1D(name="gap")(h)
    out = keras.layers.Dense(k["num_classes"], name="fc")(h)
    return {"net": keras.Model(inp, out, name="conv1d")}


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    net = parts["net"]
    convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv1D)]
    return [*(LayerMap(f"net.{c.name}", c, "conv") for c in convs), LayerMap("net.fc", net.get_layer("fc"), "dense")]
