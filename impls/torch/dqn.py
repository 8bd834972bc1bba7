"""The CartPole DQN, torch twin of impls/keras/dqn.py.

q and target: Linear(obs, H) -> act -> Linear(H, H) -> act -> Linear(H, actions) Q-values. Only q
trains (the target's parameters do not require grad and are not counted). One training step on a
replay minibatch (made by bench.measure.tasks.DqnTask):
    y    = reward + discount * max_a target(next_obs)[a]      (no gradient; discount = gamma * (1 - terminated))
    loss = mean Huber(q(obs)[action] - y), delta 1            (F.smooth_l1_loss with beta 1)
then one optimizer step on q, then, when the batch's `sync_target` flag is set, target <- q.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from bench.core.spec import OptimizerSpec, Workload
from impls.torch.common import activation, make_optimizer

HUBER_DELTA = 1.0  # the same constant in impls/keras/dqn.py


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    q = nn.Sequential(
        nn.Linear(k["obs_dim"], k["hidden"]),
        activation(k["activation"]),
        nn.Linear(k["hidden"], k["hidden"]),
        activation(k["activation"]),
        nn.Linear(k["hidden"], k["num_actions"]),
    )
    target = copy.deepcopy(q).requires_grad_(False)
    return {"q": q, "target": target}


def make_optimizers(
    parts: Mapping[str, nn.Module], spec: OptimizerSpec, device: str
) -> dict[str, torch.optim.Optimizer]:
    return {"q": make_optimizer(spec, parts["q"].parameters(), device)}


def count_params(raw_parts: Mapping[str, nn.Module]) -> int:
    """The trained network only: the target is a copy of it."""
    return sum(p.numel() for p in raw_parts["q"].parameters())


def train_step(
    parts: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer], batch: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    sync = bool(batch["sync_target"])  # read first: on CUDA the one-byte copy waits for no queued compute
    q, target = parts["q"], parts["target"]
    with torch.no_grad():
        y = batch["reward"] + batch["discount"] * target(batch["next_obs"]).max(dim=1).values
    q_taken = q(batch["obs"]).gather(1, batch["action"].unsqueeze(1)).squeeze(1)
    loss = F.smooth_l1_loss(q_taken, y, beta=HUBER_DELTA)
    opt = optimizers["q"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sync:
        with torch.no_grad():
            for t, s in zip(target.parameters(), q.parameters(), strict=True):
                t.copy_(s)
    return loss


def predict(parts: Mapping[str, nn.Module], obs: torch.Tensor) -> torch.Tensor:
    """Q-values of the online network (acting and evaluation)."""
    return parts["q"](obs)
