"""A bare PyTorch training loop, as a user would write it: the overhead check's reference.

No adapter, no harness: the twin model, an optimizer, and
`zero_grad / forward / cross_entropy / backward / step / loss.item()` over pre-made tensors. The
overhead check times each call of the returned step with the harness's clock (two clock reads).
Classification workloads only (the overhead check runs on those).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from bench.spec import Workload
from impls.torch import common

TRANSFORMS: dict[str, Callable[[torch.nn.Module], torch.nn.Module]] = {
    "torch-eager": lambda m: m,
    "torchscript": torch.jit.script,
    "torch-compile": torch.compile,
}


def make_step(
    workload: Workload, backend: str, batches: Sequence[dict[str, np.ndarray]], device: str
) -> Callable[[int], None]:
    """Returns step(i): one training step on batches[i], finished (loss.item()) on return."""
    import importlib

    mod = importlib.import_module(f"impls.torch.{workload.model}")
    net = mod.build(workload)["net"].to(device)
    prepare = getattr(mod, "prepare", lambda b: b)
    model = TRANSFORMS[backend](net)
    opt = common.make_optimizer(workload.optimizer, model.parameters(), device)
    data = [
        tuple(torch.from_numpy(np.ascontiguousarray(prepare(b)[k])).to(device) for k in ("x", "y")) for b in batches
    ]

    def step(i: int) -> None:
        x, y = data[i]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return step
