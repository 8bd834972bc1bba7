"""The "distributed" scenario: data-parallel training of one cell on each framework's own engine.

Two halves, both framework-neutral (no torch, no tensorflow here):

- The coordinator (`train`), run by an fwbench worker: it checks that the cell can run, launches
  `cfg.nodes` x `cfg.workers` ranks (torch: a `torchrun` per node starting `impls.torch.distributed`, DDP;
  Keras on TensorFlow: one `impls.keras.distributed` process per rank with its own TF_CONFIG,
  MultiWorkerMirroredStrategy), watches every rank, kills the whole group when one fails or the deadline
  passes, and combines the ranks' JSON files into one `Result`.
- The rank side (`run_rank`, `ShardTask`, `RankBackend`), imported by the rank programs, which bring
  their framework's engine (`RankEngine`): the same data sharding, update-equality check, fault
  injection and timing loop (bench.measure.harness) in both frameworks.

Nodes: `workers` is the processes per node, and the world is `nodes * workers` ranks; node i holds the
global ranks i*workers .. (i+1)*workers - 1. Every node runs on this host, over loopback (127.0.0.1, a
port each): torch starts one torchrun per node, `--nnodes N --node-rank i --nproc-per-node W` with the
static rendezvous on node 0's 127.0.0.1 port (torchrun honours --node-rank only there: its c10d rendezvous
orders the nodes by host name and pid, which would not fix which ranks a node holds); Keras starts each
node's W processes from that node's turn of the launch loop, every one with the TF_CONFIG listing all N*W
workers, node by node. The launcher string of the record says which. On real hosts the same commands run
one per host, as `launch_torch` and `launch_keras` build them for node i: torch, on host i,
`python -m torch.distributed.run --nnodes N --node-rank i --nproc-per-node W --master-addr HOST0
--master-port PORT -m impls.torch.distributed RANK_JOB.json`; Keras, on host i, W processes
`python -m impls.keras.distributed RANK_JOB.json` each with TF_CONFIG listing every host's workers
(HOST:PORT) and its global index; RANK_JOB.json's `out_dir` a folder every host shares (the ranks write
rank<r>.json there for `combine`). fwbench itself starts every node here: the loopback path is the one
it runs and tests.

Sharding: every global batch of `world * b` rows is taken from the usual seeded batch order
(bench.core.data.batch_order over the training split, with the global batch as the batch size); rank r
trains on rows [r*b, (r+1)*b). Weak scaling keeps the workload's batch per rank (b = batch_size), strong
scaling keeps the workload's batch as the global one (b = batch_size / world). A global batch larger
than the training split (full-batch workloads under weak scaling) is capped at the split, rounded down
to a multiple of the world size, and the record says so. The update check compares the world's first
step with one process on the same global batch, whatever the nodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bench import REPO
from bench.core import backends, data, flops, workloads
from bench.core.spec import PROFILES, BackendOptions, OptimizerSpec, RunConfig, Workload, job_document, read_job
from bench.core.typedjson import atomic_write_json, parse_json
from bench.machine.memory import peak_rss_mib, rss_mib
from bench.measure import harness, tasks
from bench.records import results

# The backends with a distributed path: their rank program, engine and launcher.
RANK_PROGRAMS: Mapping[str, str] = {"torch-eager": "impls.torch.distributed", "keras": "impls.keras.distributed"}
ENGINES: Mapping[str, str] = {
    "torch-eager": "torch DistributedDataParallel",
    "keras": "tf.distribute.MultiWorkerMirroredStrategy",
}
LOOPBACK = "127.0.0.1"  # every node's address: all of them run on this host
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
POLL_S = 0.1
KILL_WAIT_S = 10.0
STDERR_TAIL = 6


def deadline_s(cfg: RunConfig) -> float:
    """How long the ranks may run: the run's time limit (at which the launcher kills this worker; the
    profile's unless --time-limit) less a margin for imports before it and combining after it."""
    limit = cfg.time_limit_s or PROFILES[cfg.profile].time_limit_s
    return max(10.0, limit - max(15.0, 0.05 * limit))


def world_size(cfg: RunConfig) -> int:
    """The cell's ranks: `workers` processes on each of `nodes` nodes."""
    return cfg.nodes * cfg.workers


def launcher(cfg: RunConfig) -> str:
    """What starts the cell's ranks, in words (the record's `launcher`)."""
    n, w = cfg.nodes, cfg.workers
    if cfg.backend == "torch-eager":
        if n == 1:
            return f"torchrun (torch.distributed.run, static rendezvous on {LOOPBACK})"
        return (
            f"{n} torchrun launchers, one per node (torch.distributed.run --nnodes {n} --node-rank i "
            f"--nproc-per-node {w}, static rendezvous on node 0's {LOOPBACK} port)"
        )
    if cfg.backend == "keras":
        if n == 1:
            return f"one process per rank, each with its own TF_CONFIG ({LOOPBACK} ports)"
        return (
            f"one process per rank, {n} nodes of {w} started node by node, each with its own TF_CONFIG "
            f"listing all {n * w} workers ({LOOPBACK} ports)"
        )
    return ""


def threads_per_worker(cfg: RunConfig) -> int:
    """The cell's thread budget split between its ranks (at least one each)."""
    return max(1, cfg.threads // world_size(cfg))


def visible_gpus() -> int:
    """GPUs this process may use, without importing a framework: CUDA_VISIBLE_DEVICES, else NVML."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip()]
        return 0 if ids and ids[0].strip() == "-1" else len(ids)
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:  # no library, no driver: no GPU to use
        return 0


def unsupported_reason(cfg: RunConfig) -> str | None:
    """Why this cell cannot run distributed here (one line), or None."""
    wl = workloads.get(cfg.workload)
    if cfg.backend not in RANK_PROGRAMS:
        return (
            f"backend {cfg.backend!r} has no distributed path; the backends with one are "
            f"{', '.join(RANK_PROGRAMS)} (torch DDP, Keras on TensorFlow under MultiWorkerMirroredStrategy)"
        )
    if wl.task != "classify":
        return f"the distributed scenario trains classification workloads only; {wl.name} is a {wl.task!r} task"
    if cfg.precision != "fp32":
        return f"the distributed scenario runs in fp32 only, not {cfg.precision}"
    if cfg.fault is not None and cfg.fault not in FAULTS:
        return f"fault {cfg.fault!r} is not one of the distributed scenario's: {', '.join(FAULTS)}"
    world = world_size(cfg)
    ranks = (
        f"{cfg.workers} workers"
        if cfg.nodes == 1
        else f"{cfg.nodes} nodes x {cfg.workers} worker{'s' * (cfg.workers > 1)}"
    )
    if cfg.scaling == "strong" and wl.batch_size % world:
        return (
            f"strong scaling splits the global batch of {wl.batch_size} ({wl.name}) over the workers: "
            f"{ranks} do not divide it"
        )
    if cfg.device == "cuda":
        gpus = visible_gpus()
        if world > gpus:
            return f"{ranks} need one GPU each; {gpus} visible"
    elif world > (os.cpu_count() or 1):
        here = "" if cfg.nodes == 1 else " (every node runs on it)"
        return f"{ranks} are more processes than this host's {os.cpu_count()} CPUs{here}"
    return None


# ---------------------------------------------------------------------------------------------- rank side


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


def inject_rank_fault(fault: str | None) -> None:
    """Rank FAULT_RANK's fault at FAULT_STEP: SIGKILL itself, sleep for ever, or raise."""
    print(f"fwbench rank {FAULT_RANK}: injecting fault {fault!r}", file=sys.stderr, flush=True)
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "hang":
        while True:
            time.sleep(3600)
    elif fault == "raise":
        raise RuntimeError("injected failure")


class RankBackend:
    """A built adapter with its train_step counted, so that the injected fault strikes one rank a few
    steps into the timed training; everything else is the adapter's own."""

    def __init__(self, backend: Any, rank: int, fault: str | None) -> None:
        self.backend = backend
        self.armed = fault if rank == FAULT_RANK and fault in ("crash", "hang", "raise") else None
        self.steps = 0

    def train_step(self, batch: Any) -> float:
        if self.armed and self.steps == FAULT_STEP:
            inject_rank_fault(self.armed)
        self.steps += 1
        return self.backend.train_step(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


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


def check_workload(wl: Workload) -> Workload:
    """The workload with the update check's optimizer (UPDATE_RULE)."""
    return dataclasses.replace(wl, optimizer=OptimizerSpec("sgd", lr=UPDATE_LR))


def max_abs_diff(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    if set(a) != set(b):
        raise ValueError(f"the weights differ in names: {sorted(set(a) ^ set(b))}")
    return max((float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a if a[k].size), default=0.0)


def rank_setup(out_dir: Path, rank: int) -> None:
    """First thing a rank does: its stderr into its own file (so that the coordinator can say why it
    failed), its pid on file (so that the coordinator can kill it whatever started it), and the kernel
    told to SIGKILL it when its parent (torchrun, or the coordinator) dies."""
    err = os.open(out_dir / f"rank{rank}.stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(err, 2)
    os.close(err)
    (out_dir / f"rank{rank}.pid").write_text(str(os.getpid()))
    die_with_parent()


def die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (no orphan rank keeps a port or a core)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent == 1:  # reparented already
        sys.exit("fwbench rank: the launcher is gone")


def phase(out_dir: Path, rank: int, what: str) -> None:
    """Where a rank is (read by the coordinator only to explain a timeout)."""
    (out_dir / f"rank{rank}.phase").write_text(what)


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
    init = None
    if cfg.init == "shared" and cfg.init_path:
        with np.load(cfg.init_path, allow_pickle=False) as z:
            init = {k: z[k] for k in z.files}

    phase(out, rank, "update check")
    checker = engine.build(check_workload(wl), init, True, global_batch)
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

    phase(out, rank, "training")
    backend = engine.build(wl, init, False, global_batch)
    runner = RankBackend(backend, rank, cfg.fault)
    backend.reset_peak_memory()
    epochs = cfg.epochs_override or wl.epochs_for(cfg.profile)
    engine.barrier()
    m = harness.run(runner, shards, epochs, PROFILES[cfg.profile].warmup_steps, max_steps=cfg.steps)
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


# ---------------------------------------------------------------------------------------------- coordinator


def free_ports(k: int) -> list[int]:
    """`k` distinct free TCP ports on 127.0.0.1, asked of the kernel (bind to port 0), released at once
    for the ranks to bind."""
    socks = []
    try:
        for _ in range(k):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now (tests: nothing is left holding it). With
    SO_REUSEADDR, as servers bind: the TIME_WAIT remnants of closed connections do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def rank_env(threads: int, interop: int) -> dict[str, str]:
    """The environment every rank starts with: thread counts in place before the interpreter starts."""
    e = dict(os.environ)
    n = str(threads)
    e.update(
        OMP_NUM_THREADS=n,
        MKL_NUM_THREADS=n,
        OPENBLAS_NUM_THREADS=n,
        TF_NUM_INTRAOP_THREADS=n,
        TF_NUM_INTEROP_THREADS=str(interop),
        TF_CPP_MIN_LOG_LEVEL=e.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), e.get("PYTHONPATH", "")) if p),
    )
    e.pop("FWBENCH_LAUNCHER_PID", None)  # the ranks' parent is this coordinator (or torchrun), not the launcher
    return e


def _child_dies_with_us() -> None:  # preexec_fn: runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG survives exec


@dataclass(frozen=True)
class Group:
    """The processes started for one cell: each the leader of its own session; `labels` name them
    (a rank, or "torchrun"), `stderr` their stderr files."""

    procs: tuple[subprocess.Popen[bytes], ...]
    labels: tuple[str, ...]
    stderr: tuple[Path, ...]
    ports: tuple[int, ...]


def start(args: list[str], env: Mapping[str, str], err: Path) -> subprocess.Popen[bytes]:
    """One process of the group: its own session (killed as a group), stdout and stderr into `err`, and
    SIGKILLed by the kernel if this coordinator dies (the launcher kills it at the time limit)."""
    with open(err, "ab") as f:
        return subprocess.Popen(
            args,
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_dies_with_us,  # safe here: the coordinator has one thread
        )


def gpu_ids(env: Mapping[str, str], world: int) -> list[str]:
    """The GPUs the ranks take, in global rank order: the coordinator's CUDA_VISIBLE_DEVICES, else 0, 1, ..."""
    visible = [v.strip() for v in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return visible[:world] if visible else [str(i) for i in range(world)]


def launch_torch(cfg: RunConfig, job_path: Path, out: Path, env: Mapping[str, str]) -> Group:
    """A torchrun per node, node i with `workers` processes (global ranks i*workers ...), all meeting at the
    static rendezvous on a free port of 127.0.0.1 (node 0's); on cuda each node sees its ranks' GPUs."""
    (port,) = free_ports(1)
    n, w = cfg.nodes, cfg.workers
    gpus = gpu_ids(env, n * w) if cfg.device == "cuda" else []
    procs, labels, errs = [], [], []
    for node in range(n):
        args = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", str(n), "--node-rank", str(node),
            "--nproc-per-node", str(w), "--master-addr", LOOPBACK, "--master-port", str(port),
            "--max-restarts", "0", "--monitor-interval", "0.2", "-m", RANK_PROGRAMS["torch-eager"], str(job_path),
        ]  # fmt: skip
        e = {**env, "CUDA_VISIBLE_DEVICES": ",".join(gpus[node * w : (node + 1) * w])} if gpus else env
        err = out / ("torchrun.stderr" if n == 1 else f"torchrun-node{node}.stderr")
        procs.append(start(args, e, err))
        labels.append("torchrun" if n == 1 else f"torchrun (node {node})")
        errs.append(err)
    return Group(tuple(procs), tuple(labels), tuple(errs), (port,))


def tf_config(ports: Sequence[int], index: int) -> str:
    return json.dumps(
        {"cluster": {"worker": [f"{LOOPBACK}:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )


def launch_keras(cfg: RunConfig, job_path: Path, out: Path, env: Mapping[str, str]) -> Group:
    """One process per rank, node by node (node i's `workers` ranks are the global indices i*workers ...),
    each with the cluster of all ranks on free ports of 127.0.0.1 and its index."""
    world = world_size(cfg)
    ports = free_ports(world)
    gpus = gpu_ids(env, world) if cfg.device == "cuda" else []
    procs, errs = [], []
    for node in range(cfg.nodes):
        for r in range(node * cfg.workers, (node + 1) * cfg.workers):
            e = {**env, "TF_CONFIG": tf_config(ports, r), "FWBENCH_RANK": str(r)}
            if gpus:
                e["CUDA_VISIBLE_DEVICES"] = gpus[r]
            err = out / f"rank{r}.stderr"
            procs.append(start([sys.executable, "-m", RANK_PROGRAMS["keras"], str(job_path)], e, err))
            errs.append(err)
    return Group(tuple(procs), tuple(f"rank {r}" for r in range(world)), tuple(errs), tuple(ports))


# How each engine's ranks are started, by backend (as RANK_PROGRAMS): torchrun starts its own processes;
# tf.distribute needs one process per rank, each told the cluster through TF_CONFIG.
LAUNCH: Mapping[str, Callable[[RunConfig, Path, Path, Mapping[str, str]], Group]] = {
    "torch-eager": launch_torch,
    "keras": launch_keras,
}


@dataclass(frozen=True)
class Ended:
    """How a group ended: "ok" (every process exited 0), "failed" (one exited otherwise; which and why),
    or "timeout" (the deadline passed)."""

    status: str
    reason: str = ""
    failed_rank: int | None = None


def tail(path: Path, lines: int = STDERR_TAIL) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln for ln in text.splitlines() if ln.strip() and "Warning" not in ln]
    return "\n".join(kept[-lines:])


def how(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


TORCHRUN_ROOT = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def torchrun_failure(out: Path, code: int, world: int, label: str, err: Path) -> Ended:
    """Which rank the torchrun `label` (stderr in `err`) saw fail first (its "Root Cause" summary), with that
    rank's stderr."""
    text = err.read_text(errors="replace") if err.exists() else ""
    found = TORCHRUN_ROOT.search(text)
    if found is None:
        crashed = [r for r in range(world) if (out / f"rank{r}.pid").exists() and not (out / f"rank{r}.json").exists()]
        rank = crashed[0] if len(crashed) == 1 else None
        who = f"rank {rank}" if rank is not None else label
        detail = tail(out / f"rank{rank}.stderr") if rank is not None else tail(err)
        return Ended("failed", f"{who} failed ({label} {how(code)})\n{detail}".strip(), rank)
    rank, rc = int(found.group(1)), int(found.group(2))
    return Ended(
        "failed", f"rank {rank} failed: {how(rc)} (torchrun)\n{tail(out / f'rank{rank}.stderr')}".strip(), rank
    )


def watch(group: Group, cfg: RunConfig, out: Path, deadline: float) -> Ended:
    """Wait for every process of the group; the first one to exit non-zero, or the deadline, ends it."""
    while True:
        codes = [p.poll() for p in group.procs]
        for i, code in enumerate(codes):
            if code not in (None, 0):
                if group.labels[i].startswith("torchrun"):
                    return torchrun_failure(out, code, world_size(cfg), group.labels[i], group.stderr[i])
                return Ended("failed", f"{group.labels[i]} failed: {how(code)}\n{tail(group.stderr[i])}".strip(), i)
        if all(c == 0 for c in codes):
            return Ended("ok")
        if time.monotonic() > deadline:
            return Ended("timeout", timeout_reason(cfg, out))
        time.sleep(POLL_S)


def timeout_reason(cfg: RunConfig, out: Path) -> str:
    where = []
    for r in range(world_size(cfg)):
        p = out / f"rank{r}.phase"
        where.append(f"rank {r}: {p.read_text() if p.exists() else 'not started'}")
    return f"the ranks exceeded the deadline of {deadline_s(cfg):g} s; last seen: {'; '.join(where)}"


def kill_group(group: Group, out: Path) -> None:
    """SIGKILL every process of the group, whatever session it started: each leader still running with its
    process group, then every rank still alive by its pid file (torchrun starts its ranks in sessions of
    their own); reap the leaders and wait for the ranks. Only processes this cell started are touched: a
    leader not yet reaped, or a pid whose command line names this cell's folder (not a recycled pid)."""
    for p in group.procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
    ranks = rank_processes(out)
    for proc in ranks:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == proc.pid:  # a session leader (torchrun's ranks): its group with it
                os.killpg(proc.pid, signal.SIGKILL)
            os.kill(proc.pid, signal.SIGKILL)
    for p in group.procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=KILL_WAIT_S)
    import psutil

    psutil.wait_procs(ranks, timeout=KILL_WAIT_S)  # not our children (torchrun's are its own): polled


def rank_processes(out: Path) -> list[Any]:
    """The live ranks of the cell in `out` (psutil.Process), from their pid files, each checked to be the
    rank itself: its command line names the cell's folder."""
    import psutil

    found = []
    for f in out.glob("rank*.pid"):
        with contextlib.suppress(ValueError, OSError, psutil.Error):
            proc = psutil.Process(int(f.read_text()))
            if str(out) in " ".join(proc.cmdline()):
                found.append(proc)
    return found


def train(cfg: RunConfig) -> results.Result:
    """Scenario "distributed": `cfg.nodes` x `cfg.workers` ranks of the backend's engine train the workload;
    one Result."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    load_start = os.getloadavg()[0]
    framework = backends.get(cfg.backend).framework
    threads, interop = threads_per_worker(cfg), max(1, cfg.interop_threads // world_size(cfg))
    base = distributed_record(cfg, threads)
    reason = unsupported_reason(cfg)
    if reason:
        return results.new_result(cfg, framework, "unsupported", reason, started_at, os.getpid(), distributed=base)
    out = Path(tempfile.mkdtemp(prefix=f"fwbench-dist-{cfg.run_id}-"))
    try:
        job_path = out / "rank-job.json"
        atomic_write_json(job_path, RankJob(cfg, threads, interop, str(out)).to_dict())
        group = LAUNCH[cfg.backend](cfg, job_path, out, rank_env(threads, interop))
        try:
            ended = watch(group, cfg, out, t0 + deadline_s(cfg))
        finally:  # a failure, the deadline, or Ctrl-C: nothing of the group outlives the cell
            kill_group(group, out)
        base = dataclasses.replace(
            base,
            settings={**base.settings, "ports": list(group.ports), "cell_dir_prefix": f"fwbench-dist-{cfg.run_id}"},
        )
        if ended.status != "ok":
            rec = dataclasses.replace(base, failed_rank=ended.failed_rank)
            return results.new_result(
                cfg, framework, ended.status, ended.reason, started_at, os.getpid(), distributed=rec
            )
        missing = [r for r in range(world_size(cfg)) if not (out / f"rank{r}.json").exists()]
        if missing:
            why = f"rank {missing[0]} exited 0 without writing its result\n{tail(out / f'rank{missing[0]}.stderr')}"
            rec = dataclasses.replace(base, failed_rank=missing[0])
            return results.new_result(cfg, framework, "failed", why.strip(), started_at, os.getpid(), distributed=rec)
        docs = [parse_json((out / f"rank{r}.json").read_text()) for r in range(world_size(cfg))]
        return combine(cfg, framework, started_at, docs, base, load_start)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def distributed_record(cfg: RunConfig, threads: int) -> results.Distributed:
    return results.Distributed(
        workers=cfg.workers,
        nodes=cfg.nodes,
        scaling=cfg.scaling,
        engine=ENGINES.get(cfg.backend, ""),
        launcher=launcher(cfg),
        threads_per_worker=threads,
    )


def slowest_steps(docs: Sequence[Mapping[str, Any]]) -> list[float]:
    """Each step's time as the slowest rank's (a data-parallel step ends when its last rank does)."""
    n = min(len(d["step_ms"]) for d in docs)
    if n == 0:
        return []
    return [float(v) for v in np.max(np.array([d["step_ms"][:n] for d in docs], dtype=np.float64), axis=0)]


def combine(
    cfg: RunConfig,
    framework: str,
    started_at: str,
    docs: Sequence[Mapping[str, Any]],
    base: results.Distributed,
    load_start: float,
) -> results.Result:
    """The ranks' files as one Result: the elementwise-max step times split into first, warm-up and steady
    state by the harness's rule, rank 0's evaluation, every rank's median and peak RSS."""
    from bench.core import stats

    r0 = docs[0]
    wl = workloads.get(cfg.workload)
    steps = slowest_steps(docs)
    first, rest = (steps[0], steps[1:]) if steps else (None, [])
    k, settled = harness.settle_index(rest, PROFILES[cfg.profile].warmup_steps)
    steady = rest[k:]
    summary = stats.summarize(steady, seed=cfg.seed)
    median = summary["median_step_ms"]
    global_batch = int(r0["global_batch"])
    rank_medians = [float(np.median(d["step_ms"][1:] or d["step_ms"] or [math.nan])) for d in docs]
    peaks = [float(d["peak_rss_mib"]) for d in docs]
    settings = dict(r0["settings"])
    engine_note = settings.pop("allreduce_share_note", "")
    allreduce_share = settings.pop("allreduce_share", None)
    check = {k: r0.get(k) for k in ("update_max_abs_diff", "update_tol", "update_ok")}
    rec = dataclasses.replace(
        base,
        per_worker_batch=int(r0["per_worker_batch"]),
        global_batch=global_batch,
        engine=settings.pop("engine", base.engine),
        rank_median_step_ms=rank_medians,
        rank_peak_rss_mib=peaks,
        allreduce_share=allreduce_share,
        settings={
            **base.settings,
            **check,
            "update_rule": UPDATE_RULE,
            "allreduce_share_note": engine_note,
            "global_batch_capped": bool(r0["global_batch_capped"]),
            "step_rule": "each step's time is the slowest rank's at that step (elementwise max over ranks)",
            "memory_rule": "memory.peak_mib: the largest rank's peak RSS; total_peak_rss_mib: their sum",
            "total_peak_rss_mib": sum(peaks),
            "fault": cfg.fault,
        },
    )
    status, reason = "ok", ""
    if not check["update_ok"]:
        status = "failed"
        reason = (
            f"update-equality check failed: {world_size(cfg)} ranks vs one process on the same global batch differ by "
            f"{check['update_max_abs_diff']:.3g} > tolerance {UPDATE_TOL:g} (max abs weight difference after one step)"
        )
    elif any(d.get("diverged_at_step") is not None for d in docs):
        status, reason = "diverged", f"loss {r0['final_loss']} at step {r0.get('diverged_at_step')}"
    step_flops = flops.train_step_flops(wl, global_batch)  # the whole global batch: all ranks' work per step
    memory = results.Memory(
        kind="peak_rss",
        peak_mib=max(peaks),
        peak_rss_mib=max(peaks),
        rss_after_imports_mib=float(r0["rss_after_imports_mib"]),
        rss_after_data_mib=float(r0["rss_after_data_mib"]),
        model_share_rss_mib=max(peaks) - float(r0["rss_after_data_mib"]),
        device=dict(r0.get("device_memory") or {}),
    )
    return results.new_result(
        cfg,
        framework,
        status,
        reason,
        started_at,
        os.getpid(),
        dataset=r0.get("dataset", {}),
        settings={**settings, "threads_per_worker": base.threads_per_worker},
        metric=(r0.get("metrics") or {}).get(wl.metric),
        metrics=r0.get("metrics") or {},
        final_loss=r0.get("final_loss"),
        epoch_loss=r0.get("epoch_loss") or [],
        eval_history=r0.get("eval_history") or [],
        num_params=r0.get("num_params"),
        samples_per_step=global_batch,
        steps=int(r0["steps"]),
        first_step_ms=first,
        warmup_step_ms=rest[:k],
        step_ms=steady,
        median_step_ms=median,
        mean_step_ms=summary["mean_step_ms"],
        iqr_step_ms=summary["iqr_step_ms"],
        ci95_step_ms=summary["ci95_step_ms"],
        throughput_samples_s=global_batch / (median / 1e3) if median else None,
        train_time_s=float(r0["train_time_s"]),
        time_to_target_s=r0.get("time_to_target_s"),
        epochs_to_target=r0.get("epochs_to_target"),
        memory=memory,
        load_avg_1m=[load_start, os.getloadavg()[0]],
        flops_per_step=step_flops,
        achieved_gflops=step_flops / (median / 1e3) / 1e9 if step_flops and median else None,
        settled=settled,
        distributed=rec,
    )
