"""What the distributed scenario's coordinator and its rank programs agree on (impls/<framework>/distributed.py).

Framework-neutral (no torch, no tensorflow): the coordinator (bench/scenarios/distributed.py) writes one RankJob
file for a cell and starts `cfg.nodes` x `cfg.workers` ranks on it; each rank program brings its framework's
distributed engine (a RankEngine) to the one rank loop (bench.measure.rank_training.rank_main), which writes
rank<r>.json into the job's `out_dir` for the coordinator to combine. Here too: the world's size, the ranks'
deadline, the faults a rank injects and the update-equality check's rule and tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bench.core.spec import PROFILES, BackendOptions, RunConfig, Workload, job_document, read_job
from bench.core.typedjson import parse_json

# RunConfig.fault values this scenario injects: "crash" (rank 1 SIGKILLs itself at FAULT_STEP), "hang" (rank 1
# sleeps for ever there), "raise" (rank 1 raises there), and the update check's mutant MUTANT_FAULT.
MUTANT_FAULT = "no-average"
FAULTS = ("crash", "hang", "raise", MUTANT_FAULT)
FAULT_RANK = 1
FAULT_STEP = 3
# The update-equality check: max |w_distributed - w_single| after one step, absolute. The step is plain SGD
# with learning rate 1 (UPDATE_LR), so the weights move by the gradient itself: float32 gradients of the same
# rows summed in another order differ by ~1e-7 relative, far below 1e-5, while a sum taken for a mean (or a
# mean over the shard for one over the global batch) moves them by the gradient's own size (~1e-2..1).
UPDATE_TOL = 1e-5
UPDATE_LR = 1.0
UPDATE_RULE = (
    "one SGD step (learning rate 1, no momentum: the weights move by the gradient itself; an adaptive "
    "optimizer such as Adam normalises the gradient's scale away and would hide a sum taken for a mean) "
    "from the initial weights, the forward in inference mode (dropout off, BatchNorm on its running "
    "statistics, so that a shard's rows do not depend on the other rows), on one fixed global batch: "
    "N ranks each on its shard vs one process (rank 0, not distributed) on the whole batch"
)


def deadline_s(cfg: RunConfig) -> float:
    """How long the ranks may run: the run's time limit (at which the launcher kills the coordinator's worker; the
    profile's unless --time-limit) less a margin for imports before it and combining after it."""
    limit = cfg.time_limit_s or PROFILES[cfg.profile].time_limit_s
    return max(10.0, limit - max(15.0, 0.05 * limit))


def world_size(cfg: RunConfig) -> int:
    """The cell's ranks: `workers` processes on each of `nodes` nodes."""
    return cfg.nodes * cfg.workers


@dataclass(frozen=True)
class RankJob:
    """What every rank of a cell reads (a JSON file in the cell's folder, named on its command line)."""

    cfg: RunConfig
    threads: int  # intra-op threads per rank
    interop_threads: int
    out_dir: str  # rank<r>.json, rank<r>.stderr, rank<r>.pid, rank<r>.phase

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": job_document(self.cfg),
            "threads": self.threads,
            "interop_threads": self.interop_threads,
            "out_dir": self.out_dir,
        }

    @classmethod
    def read(cls, path: str | Path) -> RankJob:
        d = parse_json(Path(path).read_text())
        cfg = read_job(d["config"])
        if not isinstance(cfg, RunConfig):
            raise ValueError(f"{path}: the rank job's config is a {cfg.kind!r} job, not a run")
        return cls(cfg, int(d["threads"]), int(d["interop_threads"]), str(d["out_dir"]))

    def options(self, device: str | None = None) -> BackendOptions:
        c = self.cfg
        return BackendOptions(device or c.device, self.threads, self.interop_threads, c.seed, c.deterministic, "fp32")


class RankEngine(Protocol):
    """What a rank program brings: its framework's distributed engine."""

    def build(self, workload: Workload, init: Mapping[str, np.ndarray] | None, check: bool, global_batch: int) -> Any:
        """A distributed adapter (bench.core.backends.Backend), built from `init`; `check`: for the update check
        (the forward in inference mode); `global_batch`: the rows of one step over all ranks."""

    def reference(self, workload: Workload, init: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray]) -> Any:
        """Weights after one step of a plain, not distributed, copy on the whole batch (the check's model)."""

    def barrier(self) -> None: ...

    def settings(self) -> dict[str, Any]:
        """engine, and the engine's own figures (allreduce_share or why there is none)."""
