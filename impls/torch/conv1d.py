"""The waveform classifier: [Conv1d('valid', stride) -> activation -> MaxPool1d] per conv layer
(pool size 1 = no pooling), global average pooling over time, Linear(num_classes) logits.
Twin: impls/keras/conv1d.py.

Input arrives (N, L, 1), channels last (the shared numpy layout); `prepare` transposes it to
torch's (N, 1, L) outside the timed step. Module names (conv1, fc, ...) are the canonical weight names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from torch import nn

from bench.spec import Workload
from impls.torch.common import activation


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 1
    convs = zip(k["channels"], k["kernel_sizes"], k["strides"], k["pool_sizes"], strict=True)
    for i, (out_channels, kernel, stride, pool) in enumerate(convs, start=1):
        layers[f"conv{i}"] = nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding="valid")
        layers[f"act{i}"] = activation(k["activation"])
        if pool > 1:
            layers[f"pool{i}"] = nn.MaxPool1d(pool)
        in_channels = out_channels
    layers["gap"] = nn.AdaptiveAvgPool1d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(in_channels, k["num_classes"])
    return {"net": nn.Sequential(layers)}


def prepare(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(N, L, 1) -> (N, 1, L) for the waveforms; other entries unchanged."""
    return {name: v.transpose(0, 2, 1) if name == "x" else v for name, v in batch.items()}
