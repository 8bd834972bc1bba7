"""The Iris MLP: Linear(4, 16) -> activation -> Linear(16, 3) logits. Twin: impls/keras/mlp.py."""

from __future__ import annotations

from torch import nn

from bench.spec import Workload
from impls.torch.common import activation


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    net = nn.Sequential(
        nn.Linear(k["in_features"], k["hidden"]),
        activation(k["activation"]),
        nn.Linear(k["hidden"], k["num_classes"]),
    )
    return {"net": net}
