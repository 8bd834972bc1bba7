"""Starting, watching and killing a distributed cell's ranks (the coordinator's side of bench/scenarios/distributed.py).

Every node runs on this host, over loopback (127.0.0.1, a port each): torch starts one torchrun per node
(`launch_torch`), Keras on TensorFlow one process per rank with its own TF_CONFIG (`launch_keras`). Each
process started is the leader of its own session and dies with the coordinator; `watch` waits for them
until the first failure or the deadline, `kill_group` leaves nothing of the cell behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import REPO
from bench.core.spec import RunConfig
from bench.interfaces.ranks import world_size
from bench.machine.process import die_with_parent, exit_description, kill_session, last_lines

# The backends with a distributed path: their rank program (impls/<framework>/distributed.py).
RANK_PROGRAMS: Mapping[str, str] = {"torch-eager": "impls.torch.distributed", "keras": "impls.keras.distributed"}
LOOPBACK = "127.0.0.1"  # every node's address: all of them run on this host
POLL_S = 0.1
KILL_WAIT_S = 10.0
STDERR_TAIL = 6


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
            preexec_fn=die_with_parent,  # safe here: the coordinator has one thread; survives exec
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
    """The last lines of a process's stderr file, without the frameworks' warnings ("" if unreadable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return last_lines(text, lines, keep=lambda ln: "Warning" not in ln)


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
        return Ended("failed", f"{who} failed ({label} {exit_description(code)})\n{detail}".strip(), rank)
    rank, rc = int(found.group(1)), int(found.group(2))
    return Ended(
        "failed",
        f"rank {rank} failed: {exit_description(rc)} (torchrun)\n{tail(out / f'rank{rank}.stderr')}".strip(),
        rank,
    )


def watch(group: Group, cfg: RunConfig, out: Path, started: float, limit_s: float) -> Ended:
    """Wait for every process of the group; the first one to exit non-zero, or the deadline (`limit_s`
    after `started`, on time.monotonic), ends it."""
    while True:
        codes = [p.poll() for p in group.procs]
        for i, code in enumerate(codes):
            if code not in (None, 0):
                if group.labels[i].startswith("torchrun"):
                    return torchrun_failure(out, code, world_size(cfg), group.labels[i], group.stderr[i])
                why = f"{group.labels[i]} failed: {exit_description(code)}\n{tail(group.stderr[i])}"
                return Ended("failed", why.strip(), i)
        if all(c == 0 for c in codes):
            return Ended("ok")
        if time.monotonic() > started + limit_s:
            return Ended("timeout", timeout_reason(cfg, out, limit_s))
        time.sleep(POLL_S)


def timeout_reason(cfg: RunConfig, out: Path, limit_s: float) -> str:
    where = []
    for r in range(world_size(cfg)):
        p = out / f"rank{r}.phase"
        where.append(f"rank {r}: {p.read_text() if p.exists() else 'not started'}")
    return f"the ranks exceeded the deadline of {limit_s:g} s; last seen: {'; '.join(where)}"


def kill_group(group: Group, out: Path) -> None:
    """SIGKILL every process of the group, whatever session it started: each leader still running with its
    process group, then every rank still alive by its pid file (torchrun starts its ranks in sessions of
    their own); reap the leaders and wait for the ranks. Only processes this cell started are touched: a
    leader not yet reaped, or a pid whose command line names this cell's folder (not a recycled pid)."""
    for p in group.procs:
        if p.poll() is None:
            kill_session(p.pid)
    ranks = rank_processes(out)
    for proc in ranks:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == proc.pid:  # a session leader (torchrun's ranks): its group with it
                kill_session(proc.pid)
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
