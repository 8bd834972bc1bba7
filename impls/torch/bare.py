"""A bare PyTorch training loop, as a user would write it: the overhead check's reference.

No adapter, no harness: the twin model, an optimizer, and
`zero_grad / forward / cross_entropy / backward / step / loss.item()` over tensors made from the
numpy batches at the start of each epoch, and a plain predict of the test set between epochs. The
overhead check times each call of the returned step with the harness's clock (two clock reads);
making tensors and evaluating are untimed, as in the harness.
Classification workloads only (the overhead check runs on those).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from bench.core.spec import Workload
from impls.torch import common
from impls.torch.backend import TorchEager


def make_loop(
    workload: Workload, backend: TorchEager, device: str
) -> tuple[
    Callable[[dict[str, np.ndarray]], tuple[torch.Tensor, ...]],
    Callable[[tuple[torch.Tensor, ...]], None],
    Callable[[np.ndarray], np.ndarray],
]:
    """Returns prepare(batch), a numpy batch as device tensors (what the user's loop does with its data,
    untimed); step(tensors), one training step, finished (loss.item()) on return; and predict(x), the
    logits of a numpy chunk (eval mode, no_grad), which the overhead check grades as the task does."""
    mod = importlib.import_module(f"impls.torch.{workload.model}")
    net = mod.build(workload)["net"].to(device)
    layout = getattr(mod, "prepare", lambda b: b)
    model = backend.transform(net, "net")  # the backend variant's module: identity, script or compile
    opt = common.make_optimizer(workload.optimizer, model.parameters(), device)

    def train(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = backend.wrap_step(lambda xy: train(*xy))  # the variant's step: as is, or compiled whole

    def prepare(batch: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
        b = layout(batch)
        return tuple(torch.from_numpy(np.ascontiguousarray(b[k])).to(device) for k in ("x", "y"))

    def step(tensors: tuple[torch.Tensor, ...]) -> None:
        run(tensors).item()

    def predict(x: np.ndarray) -> np.ndarray:
        xt = torch.from_numpy(np.ascontiguousarray(layout({"x": x})["x"])).to(device)
        model.eval()
        with torch.no_grad():
            logits = model(xt).cpu().numpy()
        model.train()
        return logits

    return prepare, step, predict
