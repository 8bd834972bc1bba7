"""One rank of a torch data-parallel cell: DistributedDataParallel over the torch-eager adapter.

Started by torchrun (bench.scenarios.distributed_launch.launch_torch, one torchrun per node), which gives each
process RANK (node rank x processes per node + LOCAL_RANK), LOCAL_RANK and WORLD_SIZE (nodes x processes per
node) and the rendezvous (MASTER_ADDR, MASTER_PORT): `python -m impls.torch.distributed JOB.json`.
The process group is gloo on a CPU, nccl on CUDA (one GPU per rank, cuda:LOCAL_RANK). DDP all-reduces
the gradients in buckets during backward and divides by the world size: the engine's own averaging,
which the update-equality check (bench.measure.rank_training.run_rank) compares with one process on the whole
global batch. The check's mutant (fault "no-average") replaces DDP's averaging with a communication hook
that all-reduces the sum without dividing, which the check must catch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from bench.core.spec import BackendOptions, Workload
from bench.interfaces import ranks
from bench.measure import rank_training
from impls.torch.backend import TorchEager


def sum_without_average(state, bucket):  # type: ignore[no-untyped-def]
    """The mutant's comm hook: all-reduce SUM of the bucket, not divided by the world size (DDP's default
    hook divides first). Gradients come out `world` times too large. Unannotated: DDP checks the hook's
    annotations against the classes themselves, which postponed (string) annotations are not."""
    fut = dist.all_reduce(bucket.buffer(), op=dist.ReduceOp.SUM, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


class TorchDDP(TorchEager):
    """The torch-eager adapter with each trained part wrapped in DistributedDataParallel (the optimizer,
    the step and the weights are the adapter's own; prediction runs the plain module on rank 0 alone,
    outside DDP, which would otherwise take part in collectives)."""

    name: ClassVar[str] = "torch-eager"

    def __init__(self, opts: BackendOptions, mutant: bool, inference_forward: bool) -> None:
        super().__init__(opts)
        self.mutant = mutant
        self.inference_forward = inference_forward

    def transform(self, module: nn.Module, part: str) -> nn.Module:
        if self.inference_forward:
            module.eval()  # the update check: no dropout, BatchNorm on its running statistics
        ids = [torch.cuda.current_device()] if self.device == "cuda" else None
        ddp = DistributedDataParallel(module, device_ids=ids)
        if self.mutant:
            ddp.register_comm_hook(None, sum_without_average)
        return ddp

    def predict(self, x: np.ndarray) -> np.ndarray:
        parts, self.parts = self.parts, self.raw
        try:
            return super().predict(x)  # back in train mode after it, as the adapter leaves its parts
        finally:
            self.parts = parts


class TorchEngine:
    """bench.interfaces.ranks.RankEngine for torch: DDP ranks, a plain TorchEager reference, dist.barrier."""

    def __init__(self, job: ranks.RankJob, rank: int, world: int) -> None:
        self.job, self.rank, self.world = job, rank, world
        self.device = job.cfg.device
        if self.device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
        self.pg_backend = "nccl" if self.device == "cuda" else "gloo"
        dist.init_process_group(self.pg_backend, timeout=timedelta(seconds=ranks.deadline_s(job.cfg)))
        self.opts = job.options()

    def build(self, workload: Workload, init: Mapping[str, np.ndarray] | None, check: bool, global_batch: int) -> Any:
        b = TorchDDP(self.opts, self.job.cfg.fault == ranks.MUTANT_FAULT, inference_forward=check)
        b.build(workload, dict(init) if init is not None else None)
        return b

    def reference(self, workload: Workload, init: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray]) -> Any:
        ref = TorchEager(self.opts)
        ref.build(workload, dict(init))
        for m in ref.raw.values():
            m.eval()
        ref.train_step(ref.prepare(batch))
        return ref.get_weights()

    def barrier(self) -> None:
        if self.device == "cuda":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()

    def settings(self) -> dict[str, Any]:
        return {
            "engine": f"torch DistributedDataParallel ({self.pg_backend})",
            "process_group_backend": self.pg_backend,
            "world_size": self.world,
            "ddp_bucket_cap_mib": 25,
            "allreduce_share": None,
            "allreduce_share_note": (
                "not measured: DDP overlaps its bucketed all-reduce with backward and exposes its time "
                "only through the profiler, which would perturb the timed steps"
            ),
        }

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def main(argv: list[str]) -> int:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    engine: TorchEngine | None = None

    def make(job: ranks.RankJob, r: int, w: int) -> TorchEngine:
        nonlocal engine
        engine = TorchEngine(job, r, w)
        return engine

    try:
        return rank_training.rank_main(argv, rank, world, make)
    finally:
        if engine is not None:
            engine.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
