"""One rank of the distributed scenario: the update-equality check, then the workload's training on this rank's
shards through bench.measure.harness, the same in both frameworks. The rank programs
(impls/<framework>/distributed.py) call `rank_main` with their framework's engine
(bench.interfaces.ranks.RankEngine); the coordinator (bench/scenarios/distributed.py) combines what each rank
writes. Framework-neutral (no torch, no tensorflow).

Sharding: every global batch of `world * b` rows is taken from the usual seeded batch order
(bench.core.data.batch_order over the training split, with the global batch as the batch size); rank r
trains on rows [r*b, (r+1)*b). Weak scaling keeps the workload's batch per rank (b = batch_size), strong
scaling keeps the workload's batch as the global one (b = batch_size / world). A global batch larger
than the training split (full-batch workloads under weak scaling) is capped at the split, rounded down
to a multiple of the world size, and the record says so. The update check compares the world's first
step with one process on the same global batch, whatever the nodes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import data, workloads
from bench.core.spec import PROFILES, OptimizerSpec, RunConfig, Workload
from bench.core.typedjson import atomic_write_json
from bench.interfaces.ranks import (
    FAULT_RANK,
    FAULT_STEP,
    UPDATE_LR,
    UPDATE_TOL,
    RankEngine,
    RankJob,
    world_size,
)
from bench.machine.memory import peak_rss_mib, rss_mib
from bench.machine.process import die_with_parent
from bench.measure import harness, tasks
from bench.measure.run_support import inject, load_weights


def shard_sizes(cfg: RunConfig, wl: Workload, n_train: int) -> tuple[int, int, bool]:
    """(per-rank batch, global batch, capped): weak scaling keeps the workload's batch per rank, strong
    scaling splits it; a global batch above the training split is capped at the split (rounded down to a
    multiple of the world size)."""
    n = world_size(cfg)
    b = wl.batch_size if cfg.scaling == "weak" else wl.batch_size // n
    if n * b <= n_train:
        return b, n * b, False
    b = n_train // n
    if b < 1:
        raise ValueError(f"{n} ranks need at least {n} training rows; {wl.dataset} has {n_train}")
    return b, n * b, True


class ShardTask:
    """A classification task as rank `rank` of `world` sees it: each global batch from the seeded order,
    this rank's rows of it; evaluation on rank 0 only, the others waiting at `barrier` so that no rank's
    next step absorbs rank 0's evaluation."""

    predict_key = "x"
    batches_ahead = True

    def __init__(
        self, task: tasks.ClassifyTask, rank: int, world: int, b: int, global_batch: int, barrier: Callable[[], None]
    ) -> None:
        self.task, self.rank, self.world, self.b, self.global_batch = task, rank, world, b, global_batch
        self.workload = task.workload
        self.samples_per_step = b
        self.barrier = barrier

    def global_indices(self, epoch: int) -> Iterator[np.ndarray]:
        return data.batch_order(len(self.task.ds.x_train), self.global_batch, epoch, self.task.seed)

    def shard(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        mine = idx[self.rank * self.b : (self.rank + 1) * self.b]
        return {"x": self.task.ds.x_train[mine], "y": self.task.ds.y_train[mine]}

    def whole(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {"x": self.task.ds.x_train[idx], "y": self.task.ds.y_train[idx]}

    def batches(self, epoch: int, backend: Any) -> Iterator[dict[str, np.ndarray]]:
        for idx in self.global_indices(epoch):
            yield self.shard(idx)

    def evaluate(self, backend: Any) -> dict[str, float]:
        metrics = self.task.evaluate(backend) if self.rank == 0 else {self.workload.metric: math.nan}
        self.barrier()
        return metrics

    def describe(self) -> dict[str, Any]:
        return self.task.describe()

    def example_batch(self) -> dict[str, np.ndarray]:
        return self.shard(next(self.global_indices(0)))


class RankBackend:
    """A built adapter with its train_step counted, so that the injected fault strikes one rank a few
    steps into the timed training; everything else is the adapter's own."""

    def __init__(self, backend: Any, rank: int, fault: str | None) -> None:
        self.backend = backend
        self.armed = fault if rank == FAULT_RANK and fault in ("crash", "hang", "raise") else None
        self.steps = 0

    def train_step(self, batch: Any) -> float:
        if self.armed and self.steps == FAULT_STEP:
            # Rank FAULT_RANK's fault at FAULT_STEP: SIGKILL itself, sleep for ever, or raise.
            inject(self.armed, f"fwbench rank {FAULT_RANK}", signal.SIGKILL, hang_forever=True)
        self.steps += 1
        return self.backend.train_step(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


def check_workload(wl: Workload) -> Workload:
    """The workload with the update check's optimizer (bench.interfaces.ranks.UPDATE_RULE)."""
    return dataclasses.replace(wl, optimizer=OptimizerSpec("sgd", lr=UPDATE_LR))


def max_abs_diff(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    if set(a) != set(b):
        raise ValueError(f"the weights differ in names: {sorted(set(a) ^ set(b))}")
    return max((float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a if a[k].size), default=0.0)


def rank_setup(out_dir: Path, rank: int) -> None:
    """First thing a rank does: its stderr into its own file (so that the coordinator can say why it
    failed), its pid on file (so that the coordinator can kill it whatever started it), and the kernel
    told to SIGKILL it when its parent (torchrun, or the coordinator) dies (no orphan rank keeps a port or
    a core); a rank reparented already exits."""
    err = os.open(out_dir / f"rank{rank}.stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(err, 2)
    os.close(err)
    (out_dir / f"rank{rank}.pid").write_text(str(os.getpid()))
    parent = os.getppid()
    if die_with_parent() and parent == 1:  # reparented already
        sys.exit("fwbench rank: the launcher is gone")


def phase(out_dir: Path, rank: int, what: str) -> None:
    """Where a rank is (read by the coordinator only to explain a timeout)."""
    (out_dir / f"rank{rank}.phase").write_text(what)


def update_check(
    engine: RankEngine, wl: Workload, init: dict[str, np.ndarray] | None, shards: ShardTask, rank: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One step of the world from the initial weights against one process on the whole global batch
    (bench.interfaces.ranks.UPDATE_RULE): the initial weights (the engine's own where `init` is None) and, on
    rank 0, the check's figures."""
    checker = engine.build(check_workload(wl), init, True, shards.global_batch)
    if init is None:  # native init: the engine's own (rank 0's, broadcast), the same for the reference
        init = checker.get_weights()
    fixed = next(shards.global_indices(0))
    checker.train_step(checker.prepare(shards.shard(fixed)))
    check: dict[str, Any] = {}
    if rank == 0:
        ref = engine.reference(check_workload(wl), init, shards.whole(fixed))
        diff = max_abs_diff(checker.get_weights(), ref)
        check = {"update_max_abs_diff": diff, "update_tol": UPDATE_TOL, "update_ok": diff <= UPDATE_TOL}
    del checker
    engine.barrier()
    return init, check


def run_rank(job: RankJob, rank: int, world: int, engine: RankEngine) -> None:
    """One rank: the update-equality check, then the workload's training through bench.measure.harness on this
    rank's shards; writes rank<r>.json. Rank 0 also evaluates and computes the check's reference."""
    out = Path(job.out_dir)
    cfg = job.cfg
    if world != world_size(cfg):
        raise ValueError(
            f"rank {rank}: the launcher started a world of {world}, the job asks for {world_size(cfg)} "
            f"({cfg.nodes} nodes x {cfg.workers} workers)"
        )
    rss_imports = rss_mib()
    wl = workloads.get(cfg.workload)
    task = tasks.make(wl, cfg.seed, cfg.data_dir, cfg.data_seed)
    if not isinstance(task, tasks.ClassifyTask):
        raise ValueError(f"the distributed scenario trains classification workloads only, not {wl.task!r}")
    rss_data = rss_mib()
    b, global_batch, capped = shard_sizes(cfg, wl, len(task.ds.x_train))
    shards = ShardTask(task, rank, world, b, global_batch, engine.barrier)
    init = load_weights(cfg.init_path) if cfg.init == "shared" and cfg.init_path else None

    phase(out, rank, "update check")
    init, check = update_check(engine, wl, init, shards, rank)

    phase(out, rank, "training")
    backend = engine.build(wl, init, False, global_batch)
    runner = RankBackend(backend, rank, cfg.fault)
    backend.reset_peak_memory()
    epochs = cfg.epochs_override or wl.epochs_for(cfg.profile)
    engine.barrier()
    # min_steady_s=0: every rank takes the same steps (a rank that stepped on alone would wait at its all-reduce)
    m = harness.run(runner, shards, epochs, PROFILES[cfg.profile].warmup_steps, max_steps=cfg.steps, min_steady_s=0)
    phase(out, rank, "writing")
    doc: dict[str, Any] = {
        "rank": rank,
        "world": world,
        "pid": os.getpid(),
        "step_ms": [m.first_step_ms, *m.warmup_step_ms, *m.step_ms] if m.first_step_ms is not None else [],
        "steps": m.steps,
        "train_time_s": m.train_time_s,
        "final_loss": m.final_loss,
        "epoch_loss": m.epoch_loss,
        "diverged_at_step": m.diverged_at_step,
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_imports_mib": rss_imports,
        "rss_after_data_mib": rss_data,
        "per_worker_batch": b,
        "global_batch": global_batch,
        "global_batch_capped": capped,
        "settings": {**backend.settings(), **engine.settings()},
        "device_memory": backend.device_memory(),
    }
    if rank == 0:
        doc.update(
            check,
            eval_history=m.eval_history,
            metrics=m.final_metrics,
            time_to_target_s=m.time_to_target_s,
            epochs_to_target=m.epochs_to_target,
            dataset=task.describe(),
            num_params=backend.num_params(),
        )
    atomic_write_json(out / f"rank{rank}.json", doc)
    engine.barrier()  # no rank leaves (closing its connections) while another still needs them
    phase(out, rank, "done")


def rank_main(
    argv: Sequence[str], rank: int, world: int, make_engine: Callable[[RankJob, int, int], RankEngine]
) -> int:
    """A rank program's entry: `python -m impls.<framework>.distributed RANK_JOB.json`."""
    if len(argv) != 1:
        print("usage: python -m impls.<framework>.distributed RANK_JOB.json", file=sys.stderr)
        return 2
    job = RankJob.read(argv[0])
    out = Path(job.out_dir)
    rank_setup(out, rank)
    phase(out, rank, "starting the engine")
    run_rank(job, rank, world, make_engine(job, rank, world))
    return 0
