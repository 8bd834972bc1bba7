"""The image CNN: [Conv2d('same') -> activation -> MaxPool2d] per entry of `channels`, Flatten,
Linear(hidden) -> activation -> Linear(num_classes) logits. Twin: impls/keras/cnn.py.

Input arrives NHWC (the shared numpy layout) and `prepare` transposes it to NCHW, torch's layout,
outside the timed step. Module names (conv1, fc1, ...) are the canonical weight names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from torch import nn

from bench.core.spec import Workload
from impls.torch.common import activation


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    height, width, in_channels = k["in_shape"]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, out_channels in enumerate(k["channels"], start=1):
        layers[f"conv{i}"] = nn.Conv2d(in_channels, out_channels, k["kernel_size"], padding=k["padding"])
        layers[f"act{i}"] = activation(k["activation"])
        layers[f"pool{i}"] = nn.MaxPool2d(k["pool_size"])
        in_channels = out_channels
        height, width = height // k["pool_size"], width // k["pool_size"]
    layers["flatten"] = nn.Flatten()
    layers["fc1"] = nn.Linear(in_channels * height * width, k["hidden"])
    layers["act_fc"] = activation(k["activation"])
    layers["fc2"] = nn.Linear(k["hidden"], k["num_classes"])
    return {"net": nn.Sequential(layers)}


def prepare(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """NHWC -> NCHW for the images; other entries unchanged."""
    return {name: v.transpose(0, 3, 1, 2) if name == "x" else v for name, v in batch.items()}
