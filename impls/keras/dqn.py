"""The CartPole DQN, keras twin of impls/torch/dqn.py.

q and target: Dense(H, act) -> Dense(H, act) -> Dense(actions). Only q trains (target.trainable is
False; only q is counted). The step, traced by tf.function:
    y    = reward + discount * max_a target(next_obs)[a]      (stop_gradient)
    loss = mean Huber(q(obs)[action] - y), delta 1
then one optimizer step on q, then target <- q inside tf.cond(sync_target) (the torch twin branches
in Python on the same flag).
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from bench.spec import OptimizerSpec, Workload
from impls.keras.common import make_optimizer
from impls.keras.weights import LayerMap

HUBER_DELTA = 1.0  # the same constant in impls/torch/dqn.py


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
    return int(sum(int(v.shape.num_elements()) for v in parts["q"].trainable_weights))


def huber(error: tf.Tensor, delta: float) -> tf.Tensor:
    """Mean Huber loss: 0.5 e^2 where |e| <= delta, delta (|e| - 0.5 delta) beyond (torch's smooth_l1 at beta 1)."""
    abs_error = tf.abs(error)
    quadratic = tf.minimum(abs_error, delta)
    return tf.reduce_mean(0.5 * tf.square(quadratic) + delta * (abs_error - quadratic))


def train_step(
    parts: Mapping[str, keras.Model],
    optimizers: Mapping[str, keras.optimizers.Optimizer],
    batch: Mapping[str, tf.Tensor],
) -> tf.Tensor:
    q, target = parts["q"], parts["target"]
    y = tf.stop_gradient(
        batch["reward"] + batch["discount"] * tf.reduce_max(target(batch["next_obs"], training=False), axis=1)
    )
    with tf.GradientTape() as tape:
        q_taken = tf.gather(q(batch["obs"], training=True), batch["action"], axis=1, batch_dims=1)
        loss = huber(q_taken - y, HUBER_DELTA)
    grads = tape.gradient(loss, q.trainable_variables)
    optimizers["q"].apply_gradients(zip(grads, q.trainable_variables))

    def sync() -> tf.Tensor:
        for t, s in zip(target.weights, q.weights, strict=True):
            t.assign(s)
        return tf.constant(True)

    tf.cond(batch["sync_target"], sync, lambda: tf.constant(False))
    return loss


def predict(parts: Mapping[str, keras.Model], obs: tf.Tensor) -> tf.Tensor:
    return parts["q"](obs, training=False)
