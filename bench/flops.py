"""Analytic FLOPs per training step: one number per workload, shared by both frameworks.

Convention (the same as torch.utils.flop_counter.FlopCounterMode, which cross-checks it in
tests/test_flops.py): a multiply-add is 2 FLOPs; only matmul, convolution and attention products
are counted (elementwise ops, norms and the optimizer update are left out: they are a small
share for these models and neither framework's counter sees them). A training step is the
forward pass plus the backward pass: gradients of the weights (the forward's FLOPs again) and of
each layer's input (again), except the first layer's input, which needs no gradient.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from bench.spec import Workload


def linear_chain_train_flops(batch: int, dims: list[int]) -> float:
    """Linear layers dims[0] -> dims[1] -> ...: forward 2*B*in*out each, backward twice that,
    minus the first layer's input gradient."""
    fwd = [2.0 * batch * i * o for i, o in itertools.pairwise(dims)]
    return sum(fwd) * 3 - fwd[0]


def mlp(w: Workload, batch: int) -> float:
    k = w.model_kwargs
    return linear_chain_train_flops(batch, [k["in_features"], k["hidden"], k["num_classes"]])


# model name (Workload.model) -> FLOPs of one training step on `batch` samples
TRAIN_STEP_FLOPS: dict[str, Callable[[Workload, int], float]] = {
    "mlp": mlp,
}


def train_step_flops(w: Workload, batch: int) -> float | None:
    fn = TRAIN_STEP_FLOPS.get(w.model)
    return fn(w, batch) if fn else None
