"""A bare PyTorch training loop, as a user would write it: the overhead check's reference.

No adapter, no harness: the twin model, an optimizer, and
`zero_grad / forward / cross_entropy / backward / step / loss.item()` over pre-made tensors, and
an evaluation of the test set between epochs. The overhead check times each call of the returned
step with the harness's clock (two clock reads); the evaluation is untimed, as in the harness.
Classification workloads only (the overhead check runs on those).
"""

from __future__ import annotations

import importlib
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


def make_loop(
    workload: Workload,
    backend: str,
    batches: Sequence[dict[str, np.ndarray]],
    test_x: np.ndarray,
    eval_batch: int,
    device: str,
) -> tuple[Callable[[int], None], Callable[[], np.ndarray]]:
    """Returns step(i), one training step on batches[i], finished (loss.item()) on return, and
    evaluate(), the predicted classes of test_x (eval mode, no_grad; in chunks of eval_batch, as the
    task evaluates)."""
    mod = importlib.import_module(f"impls.torch.{workload.model}")
    net = mod.build(workload)["net"].to(device)
    prepare = getattr(mod, "prepare", lambda b: b)
    model = TRANSFORMS[backend](net)
    opt = common.make_optimizer(workload.optimizer, model.parameters(), device)
    data = [
        tuple(torch.from_numpy(np.ascontiguousarray(prepare(b)[k])).to(device) for k in ("x", "y")) for b in batches
    ]
    test = [
        torch.from_numpy(np.ascontiguousarray(prepare({"x": test_x[i : i + eval_batch]})["x"])).to(device)
        for i in range(0, len(test_x), eval_batch)
    ]

    def step(i: int) -> None:
        x, y = data[i]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    def evaluate() -> np.ndarray:
        model.eval()
        with torch.no_grad():
            classes = [model(x).argmax(dim=1).cpu().numpy() for x in test]
        model.train()
        return np.concatenate(classes)

    return step, evaluate
