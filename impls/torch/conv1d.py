"""The waveform classifier: [Conv1d(stride) -> activation -> MaxPool1d] per conv layer (pool size 1 = no
pooling), then a head: global average pooling over time ("gap", the default) or the last feature map
flattened ("flatten"), and Linear(num_classes) logits. Twin: impls/keras/conv1d.py.

model_kwargs: `padding` is "valid" (the default) or "same" as Keras (and TensorFlow, XLA) pad: output
length ceil(L / stride), total padding max((out - 1) * stride + kernel - L, 0), the odd one on the right.
torch's own padding="same" refuses strides above 1, so an asymmetric or strided 'same' pads with a
ZeroPad1d module (pad{i}, no weights) before a 'valid' conv. `head` is "gap" or "flatten".

Input arrives (N, L, 1), channels last (the shared numpy layout); `prepare` transposes it to
torch's (N, 1, L) outside the timed step. Module names (conv1, fc, ...) are the canonical weight names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from torch import nn

from bench.core.spec import Workload
from impls.torch.common import activation

PADDINGS = ("valid", "same")
HEADS = ("gap", "flatten")


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """(left, right) zeros of Keras' 'same' on an input of `length` steps."""
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    padding, head = k.get("padding", "valid"), k.get("head", "gap")
    if padding not in PADDINGS or head not in HEADS:
        raise ValueError(f"conv1d: padding {padding!r} (one of {PADDINGS}), head {head!r} (one of {HEADS})")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels, length = 1, k["in_samples"]
    convs = zip(k["channels"], k["kernel_sizes"], k["strides"], k["pool_sizes"], strict=True)
    for i, (out_channels, kernel, stride, pool) in enumerate(convs, start=1):
        pad: int | str = "valid"
        if padding == "same":
            left, right = same_padding(length, kernel, stride)
            if left == right:
                pad = left  # symmetric: inside the conv
            else:
                layers[f"pad{i}"] = nn.ZeroPad1d((left, right))
            length += left + right
        layers[f"conv{i}"] = nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=pad)
        layers[f"act{i}"] = activation(k["activation"])
        length = (length - kernel) // stride + 1
        if pool > 1:
            layers[f"pool{i}"] = nn.MaxPool1d(pool)
            length //= pool
        in_channels = out_channels
    if head == "gap":
        layers["gap"] = nn.AdaptiveAvgPool1d(1)
        length = 1
    layers["flatten"] = nn.Flatten()  # (N, C, L) -> (N, C * L), channel-major
    layers["fc"] = nn.Linear(in_channels * length, k["num_classes"])
    return {"net": nn.Sequential(layers)}


def prepare(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(N, L, 1) -> (N, 1, L) for the waveforms; other entries unchanged."""
    return {name: v.transpose(0, 2, 1) if name == "x" else v for name, v in batch.items()}
