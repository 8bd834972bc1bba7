"""One rank of a Keras-on-TensorFlow data-parallel cell: tf.distribute.MultiWorkerMirroredStrategy.

Started by bench.scenarios.distributed_launch.launch_keras, one process per rank, each with TF_CONFIG naming the whole
cluster (every node's workers, 127.0.0.1 ports) and its own global index: `python -m impls.keras.distributed
JOB.json`. The strategy
uses RING collectives on a CPU and NCCL on a GPU (one GPU per process). The training loop is the
custom-loop pattern of TensorFlow's distributed-training guide: `strategy.run` of the replica step inside
a tf.function, the per-example loss averaged over the GLOBAL batch (tf.nn.compute_average_loss), and the
Keras optimizer summing the replicas' gradients (its own all-reduce under the strategy). The check's
mutant (fault "no-average") averages the loss over the replica's shard instead, so that the summed
gradients come out `workers` times too large, which the update-equality check must catch.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"  # before keras is imported anywhere in this process

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from bench.core.spec import BackendOptions, Workload
from bench.interfaces import ranks
from bench.measure import rank_training


def make_strategy(device: str) -> tf.distribute.Strategy:
    """The strategy, made before any other TensorFlow op (its collectives need the runtime unstarted)."""
    impl = (
        tf.distribute.experimental.CommunicationImplementation.NCCL
        if device == "cuda"
        else tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(implementation=impl)
    )


def configure_runtime(opts: BackendOptions) -> None:
    """What KerasGraph would set, set before the strategy starts the runtime (then it finds them set)."""
    tf.config.threading.set_intra_op_parallelism_threads(opts.threads)
    tf.config.threading.set_inter_op_parallelism_threads(opts.interop_threads)
    for g in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(g, True)


from impls.keras import common  # noqa: E402  (after KERAS_BACKEND)
from impls.keras.backend import KerasGraph  # noqa: E402


class KerasStrategy(KerasGraph):
    """The keras adapter with its variables made under `strategy` and its step run by it: the model and
    optimizer are the adapter's own (build_twin), the step is the strategy's custom-loop step."""

    name: ClassVar[str] = "keras"

    def __init__(
        self,
        opts: BackendOptions,
        strategy: tf.distribute.Strategy,
        global_batch: int,
        mutant: bool,
        inference_forward: bool,
    ) -> None:
        super().__init__(opts)
        self.strategy = strategy
        self.global_batch = global_batch
        self.mutant = mutant
        self.inference_forward = inference_forward

    def scope(self) -> AbstractContextManager[Any]:
        return self.strategy.scope()

    def build(self, workload: Workload, init: dict[str, np.ndarray] | None) -> None:
        self.build_twin(workload, init)
        net, opt, _, self.copies = self.neutral_step()
        strategy, global_batch, mutant = self.strategy, self.global_batch, self.mutant
        training = not self.inference_forward

        def replica_step(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
            with tf.GradientTape() as tape:
                logits = tf.cast(net(batch["x"], training=training), tf.float32)
                per_example = tf.keras.losses.sparse_categorical_crossentropy(batch["y"], logits, from_logits=True)
                if mutant:  # the check's mutant: the shard's mean, not the global batch's
                    loss = tf.reduce_mean(per_example)
                else:
                    loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            grads = tape.gradient(loss, net.trainable_variables)
            opt.apply_gradients(zip(grads, net.trainable_variables, strict=True))
            return loss

        def step(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
            per_replica = strategy.run(replica_step, args=(batch,))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)  # the global mean loss

        predict = getattr(self.mod, "predict", common.classification_predict)
        parts = self.parts
        self._step = tf.function(step)
        self._predict = tf.function(lambda x: predict(parts, x), reduce_retracing=True)
        self._prepare = getattr(self.mod, "prepare", None)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "compile": "tf.function(strategy.run(step))"}


class KerasEngine:
    """bench.interfaces.ranks.RankEngine for Keras on TensorFlow: MultiWorkerMirroredStrategy ranks, the
    same step under the default (one-process) strategy as the reference, an all-reduce as the barrier."""

    def __init__(self, job: ranks.RankJob, rank: int, world: int) -> None:
        self.job, self.rank, self.world = job, rank, world
        self.opts = job.options()
        configure_runtime(self.opts)
        self.strategy = make_strategy(job.cfg.device)
        if self.strategy.num_replicas_in_sync != world:
            raise RuntimeError(f"the strategy has {self.strategy.num_replicas_in_sync} replicas, expected {world}")
        strategy = self.strategy

        def one() -> tf.Tensor:
            return tf.constant(1.0)

        def barrier() -> tf.Tensor:
            return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(one), axis=None)

        self._barrier = tf.function(barrier)

    def build(self, workload: Workload, init: Mapping[str, np.ndarray] | None, check: bool, global_batch: int) -> Any:
        b = KerasStrategy(
            self.opts,
            self.strategy,
            global_batch,
            self.job.cfg.fault == ranks.MUTANT_FAULT,
            inference_forward=check,
        )
        b.build(workload, dict(init) if init is not None else None)
        return b

    def reference(self, workload: Workload, init: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray]) -> Any:
        ref = KerasStrategy(self.opts, tf.distribute.get_strategy(), len(batch["y"]), False, inference_forward=True)
        ref.build(workload, dict(init))
        ref.train_step(ref.prepare(batch))
        return ref.get_weights()

    def barrier(self) -> None:
        self._barrier()

    def settings(self) -> dict[str, Any]:
        impl = "NCCL" if self.job.cfg.device == "cuda" else "RING"
        return {
            "engine": f"tf.distribute.MultiWorkerMirroredStrategy ({impl})",
            "collective_implementation": impl,
            "replicas_in_sync": self.strategy.num_replicas_in_sync,
            "loss_reduction": "tf.nn.compute_average_loss(per_example, global_batch_size=global batch)",
            "allreduce_share": None,
            "allreduce_share_note": (
                "not measured: the all-reduce runs inside the step's graph and TensorFlow exposes its time "
                "only through the profiler, which would perturb the timed steps"
            ),
        }


def main(argv: list[str]) -> int:
    tf_config = json.loads(os.environ["TF_CONFIG"])
    rank, world = int(tf_config["task"]["index"]), len(tf_config["cluster"]["worker"])

    return rank_training.rank_main(argv, rank, world, KerasEngine)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
