"""ResNet v1.5 (torchvision's layout and names, the stem's under stem.*): a stem, four stages of residual
blocks (BasicBlock for ResNet-18/34, Bottleneck for ResNet-50 and up, the stride on the Bottleneck's 3x3
conv), global average pool, Linear logits. Twin: impls/keras/resnet.py.

model_kwargs: `block` ("basic" | "bottleneck"), `layers` (blocks per stage, e.g. [2, 2, 2, 2] or
[3, 4, 6, 3]), `width` (channels of the first stage; doubled at each later stage), `stem` ("cifar":
conv 3x3 stride 1 -> BN -> ReLU, for 32x32 inputs; "imagenet": conv 7x7 stride 2 -> BN -> ReLU ->
max-pool 3x3 stride 2), `in_shape` (H, W, C), `num_classes`, `activation` ("relu", the ResNet's; or
"softplus", the smooth one the parity test uses: see its ParityCase in bench/core/workloads.py; both >= 0,
which the Keras twin's zero-padded max-pool relies on), `bn_momentum` (torch's convention: the weight of
the new batch statistic), `bn_eps`, `zero_init_residual` (the last BN of each block starts at gamma 0,
as torchvision's option). Convs have no bias (BN follows each), padding k // 2 on both
sides of every conv whatever its stride; a shortcut that changes the shape is a 1x1 conv with the
block's stride + BN. Initialisation as torchvision's: convs kaiming-normal (fan_out, ReLU), BN
gamma 1 beta 0, the Linear torch's default.

BatchNorm's `num_batches_tracked` counter is kept out of the state_dict (a non-persistent buffer), so
that the canonical weights are what both frameworks hold: the counter only serves momentum=None (a
cumulative average), which the spec never uses (`bn_momentum` is explicit), and Keras has no such
variable. Input arrives NHWC (the shared numpy layout); `prepare` transposes it to NCHW, outside the
timed step. Module names (stem.conv, layer1.0.bn1, layer2.0.downsample.0, fc) are the canonical names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core.spec import Workload

STEMS = ("cifar", "imagenet")
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "softplus": nn.Softplus}  # softplus: beta 1, as Keras'


class BatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d without `num_batches_tracked` in its state_dict (see the module docstring)."""

    def __init__(self, num_features: int, eps: float, momentum: float) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.register_buffer("num_batches_tracked", self.num_batches_tracked, persistent=False)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any, *args: Any) -> None:
        # A state_dict without metadata reads as version 1 (before the counter existed), for which
        # _NormBase inserts the counter into the loaded dict; that key would then be unexpected here.
        super()._load_from_state_dict(state_dict, prefix, {**local_metadata, "version": self._version}, *args)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int, bn: dict[str, float], act: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(channels, **bn)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(channels, **bn)
        self.act = ACTIVATIONS[act]()
        self.downsample = shortcut(in_channels, channels, stride, bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (the block's stride: ResNet v1.5) -> 1x1 expand (x4)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, bn: dict[str, float], act: str) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = BatchNorm2d(channels, **bn)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = BatchNorm2d(channels, **bn)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = BatchNorm2d(out_channels, **bn)
        self.act = ACTIVATIONS[act]()
        self.downsample = shortcut(in_channels, out_channels, stride, bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act(out + identity)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def shortcut(in_channels: int, out_channels: int, stride: int, bn: dict[str, float]) -> nn.Sequential | None:
    """1x1 conv with the block's stride + BN where the block changes the shape; None (identity) otherwise."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), BatchNorm2d(out_channels, **bn)
    )


class Stem(nn.Module):
    def __init__(self, kind: str, in_channels: int, width: int, bn: dict[str, float], act: str) -> None:
        super().__init__()
        if kind not in STEMS:
            raise ValueError(f"resnet stem {kind!r} is not one of {', '.join(STEMS)}")
        kernel, stride = (3, 1) if kind == "cifar" else (7, 2)
        self.conv = nn.Conv2d(in_channels, width, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = BatchNorm2d(width, **bn)
        self.act = ACTIVATIONS[act]()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1) if kind == "imagenet" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class ResNet(nn.Module):
    def __init__(self, k: Mapping[str, Any]) -> None:
        super().__init__()
        bn = {"eps": float(k["bn_eps"]), "momentum": float(k["bn_momentum"])}
        block, act = BLOCKS[k["block"]], k["activation"]
        if act not in ACTIVATIONS:
            raise ValueError(f"resnet activation {act!r} is not one of {', '.join(ACTIVATIONS)}")
        width = int(k["width"])
        self.stem = Stem(k["stem"], int(k["in_shape"][2]), width, bn, act)
        in_channels = width
        stages = []
        for i, blocks in enumerate(k["layers"]):
            channels, stride = width * 2**i, 1 if i == 0 else 2
            stage = []
            for j in range(blocks):
                stage.append(block(in_channels, channels, stride if j == 0 else 1, bn, act))
                in_channels = channels * block.expansion
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages  # torchvision's names (four stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, int(k["num_classes"]))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if k.get("zero_init_residual", False):
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)
                elif isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def build(workload: Workload) -> dict[str, nn.Module]:
    if len(workload.model_kwargs["layers"]) != 4:
        raise ValueError("resnet: `layers` needs four stages (torchvision's layer1..layer4)")
    return {"net": ResNet(workload.model_kwargs)}


def prepare(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """NHWC -> NCHW for the images; other entries unchanged."""
    return {name: v.transpose(0, 3, 1, 2) if name == "x" else v for name, v in batch.items()}
