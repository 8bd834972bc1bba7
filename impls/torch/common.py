"""Pieces shared by the torch twins: activations, optimizers, and the default (classification) step."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.core.spec import OptimizerSpec

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "linear": nn.Identity}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def make_optimizer(spec: OptimizerSpec, params: Iterable[torch.Tensor], device: str) -> torch.optim.Optimizer:
    """Every constant from the spec. On CUDA the fused kernels (the fastest torch path) are used."""
    fused = {"fused": True} if device == "cuda" else {}
    if spec.name == "adam":
        return torch.optim.Adam(
            params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, weight_decay=0.0, **fused
        )
    if spec.name == "adamw":
        return torch.optim.AdamW(
            params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, weight_decay=spec.weight_decay, **fused
        )
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=0.0, **fused)


@dataclass(frozen=True)
class Amp:
    """Mixed precision as PyTorch's AMP recipe does it: the forward and the loss under `torch.autocast`
    with `dtype` (None: no autocast, float32), and for float16 a `GradScaler` around backward and the
    optimizer step. Float32 weights and optimizer state either way."""

    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scaler: Any = None  # torch.amp.GradScaler, fp16 only

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device_type, dtype=self.dtype) if self.dtype is not None else nullcontext()

    def backward_and_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)  # unscales; skips the step if a gradient overflowed
        self.scaler.update()


FP32 = Amp()


def classification_step(
    parts: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    batch: Mapping[str, torch.Tensor],
    amp: Amp = FP32,
) -> torch.Tensor:
    """Cross-entropy on logits, one optimizer step. Returns the loss tensor (the backend syncs)."""
    opt = optimizers["net"]
    opt.zero_grad(set_to_none=True)
    with amp.autocast():
        loss = F.cross_entropy(parts["net"](batch["x"]), batch["y"])
    amp.backward_and_step(loss, opt)
    return loss


def classification_predict(parts: Mapping[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    return parts["net"](x)


def token_ids_int64(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`prepare` for token-id models: the data's int32 ids as int64 (torch's index dtype, as Embedding wants)."""
    return {**batch, "x": batch["x"].astype(np.int64)}
