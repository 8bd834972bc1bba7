"""The MLP: Dense(width, activation) per hidden layer (fc1, fc2, ...), then Dense(num_classes) logits.
Twin: impls/torch/mlp.py.

`model_kwargs["hidden"]` is one width (mlp-iris: fc1, fc2) or a list of widths, one hidden layer each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from bench.core.spec import Workload
from impls.keras.weights import LayerMap


def widths(k: Mapping[str, Any]) -> list[int]:
    """[in_features, *hidden, num_classes]; `hidden` is an int (one hidden layer) or a list of ints."""
    hidden = k["hidden"]
    return [k["in_features"], *([hidden] if isinstance(hidden, int) else hidden), k["num_classes"]]


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    dims = widths(k)
    inp = keras.Input((dims[0],), name="x")
    h = inp
    for i, width in enumerate(dims[1:-1], start=1):
        h = keras.layers.Dense(width, activation=k["activation"], name=f"fc{i}")(h)
    out = keras.layers.Dense(dims[-1], name=f"fc{len(dims) - 1}")(h)
    return {"net": keras.Model(inp, out, name="mlp")}


def torch_children(dense: list[Any]) -> list[Any]:
    """The torch twin's nn.Sequential children, in order, for these Dense layers: each hidden Dense is
    two children there (Linear, then the activation, a module of its own), the logits Dense one."""
    return [child for layer in dense[:-1] for child in (layer, "activation")] + dense[-1:]


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    dense = [layer for layer in parts["net"].layers if isinstance(layer, keras.layers.Dense)]
    # nn.Sequential names a child by its position: the canonical prefix of each Linear is its index.
    return [
        LayerMap(f"net.{i}", child, "dense")
        for i, child in enumerate(torch_children(dense))
        if isinstance(child, keras.layers.Dense)
    ]
