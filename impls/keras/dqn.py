"""The CartPole DQN, keras twin of impls/torch/dqn.py.

q and target: Dense(H, act) -> Dense(H, act) -> Dense(actions). Only q trains (target.trainable is
False; only q is counted). The loss, in keras.ops (the same on every Keras backend):
    y    = reward + discount * max_a target(next_obs)[a]      (stop_gradient)
    loss = mean Huber(q(obs)[action] - y), delta 1
then one optimizer step on q (`TRAINED`), then target <- q when the batch's `sync_target` flag is
set (`target_copies`, read on the host after the step, as the torch twin branches in Python on the
same flag). Each adapter builds its step from these (impls/keras/base.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from bench.core.spec import OptimizerSpec, Workload
from impls.keras.common import make_optimizer
from impls.keras.weights import LayerMap

HUBER_DELTA = 1.0  # the same constant in impls/torch/dqn.py
TRAINED = "q"  # the part the optimizer updates


def q_network(workload: Workload, name: str) -> keras.Model:
    k = workload.model_kwargs
    obs = keras.Input((k["obs_dim"],), name="obs")
    h = keras.layers.Dense(k["hidden"], activation=k["activation"], name="fc1")(obs)
    h = keras.layers.Dense(k["hidden"], activation=k["activation"], name="fc2")(h)
    return keras.Model(obs, keras.layers.Dense(k["num_actions"], name="fc3")(h), name=name)


def build(workload: Workload) -> dict[str, keras.Model]:
    q, target = q_network(workload, "q"), q_network(workload, "target")
    target.set_weights(q.get_weights())
    target.trainable = False
    return {"q": q, "target": target}


def layer_map(parts: Mapping[str, keras.Model]) -> list[LayerMap]:
    return [
        LayerMap(f"{part}.{index}", parts[part].get_layer(layer), "dense")
        for part in ("q", "target")
        for index, layer in ((0, "fc1"), (2, "fc2"), (4, "fc3"))
    ]


def make_optimizers(parts: Mapping[str, keras.Model], spec: OptimizerSpec) -> dict[str, keras.optimizers.Optimizer]:
    opt = make_optimizer(spec)
    opt.build(parts["q"].trainable_variables)
    return {"q": opt}


def count_params(parts: Mapping[str, keras.Model]) -> int:
    return int(sum(int(np.prod(v.shape)) for v in parts["q"].trainable_weights))


def huber(error: Any, delta: float) -> Any:
    """Mean Huber loss: 0.5 e^2 where |e| <= delta, delta (|e| - 0.5 delta) beyond (torch's smooth_l1 at beta 1)."""
    abs_error = ops.abs(error)
    quadratic = ops.minimum(abs_error, delta)
    return ops.mean(0.5 * ops.square(quadratic) + delta * (abs_error - quadratic))


def loss(parts: Mapping[str, keras.Model], batch: Mapping[str, Any]) -> Any:
    q, target = parts["q"], parts["target"]
    y = ops.stop_gradient(
        batch["reward"] + batch["discount"] * ops.max(target(batch["next_obs"], training=False), axis=1)
    )
    q_all = q(batch["obs"], training=True)
    q_taken = ops.take_along_axis(q_all, ops.expand_dims(ops.cast(batch["action"], "int32"), 1), axis=1)[:, 0]
    return huber(q_taken - y, HUBER_DELTA)


def target_copies(parts: Mapping[str, keras.Model], batch: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """(target variable, q variable) pairs when the batch says to sync, else none (read on the host)."""
    if not bool(batch["sync_target"]):
        return []
    return list(zip(parts["target"].weights, parts["q"].weights, strict=True))


def predict(parts: Mapping[str, keras.Model], obs: Any) -> Any:
    return parts["q"](obs, training=False)
