"""The MLP: Linear -> activation per hidden layer, then Linear(num_classes) logits. Twin: impls/keras/mlp.py.

`model_kwargs["hidden"]` is one width (mlp-iris: 4 -> 16 -> 3) or a list of widths, one hidden layer each
([32, 32]: 4 -> 32 -> 32 -> 3). The nn.Sequential names its children by position (Linear, activation,
Linear, ..., Linear), so the canonical weight names are net.0, net.2, net.4, ...: the keras twin's layer
map derives them by the same rule.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from torch import nn

from bench.core.spec import Workload
from impls.torch.common import activation


def widths(k: Mapping[str, Any]) -> list[int]:
    """[in_features, *hidden, num_classes]; `hidden` is an int (one hidden layer) or a list of ints."""
    hidden = k["hidden"]
    return [k["in_features"], *([hidden] if isinstance(hidden, int) else hidden), k["num_classes"]]


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    dims = widths(k)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(dims) - 2:  # every layer but the logits
            layers.append(activation(k["activation"]))
    return {"net": nn.Sequential(*layers)}
