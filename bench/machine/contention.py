"""What CPU a run actually got: the worker's CPU time and everyone else's, over the training window.

A verdict is only as good as the CPU time behind it. On a shared machine (a CI runner, a laptop
with a browser open) another process can take a core the run asked for, and a framework whose
thread pool spins at barriers (torch's OpenMP) then slows down by one to two orders of magnitude
while one that yields (TensorFlow's Eigen pool) barely moves: the "verdict" would be the machine's.
So every run records, over its training window (the harness's loop: steps and evaluations):

- the worker's own CPU time (all its threads, and the processes it starts, such as torch.compile's
  C++ compiler; psutil), and that share of wall time x threads;
- the busy time of the CPUs this process may run on (/proc/stat, per CPU, Linux) minus the
  worker's own: what *other* processes and the kernel used, in cores;
- the steal time of those CPUs (a hypervisor giving the vCPU to another guest), in cores.

A run is `contended` when the cores it asked for were not free: others' busy cores plus steal
exceed the CPUs it could use minus its threads by more than CONTENDED_SLACK_CORES plus the
counters' reading error over the window (a clock tick at each end of each CPU: 0.04 cores over one
second on 2 CPUs). A window so short that the reading error reaches a whole core (under 40 ms on
2 CPUs: mlp-iris trains in about that) is `None`, unknown. With 2 threads on 2 CPUs, one other
busy process (1 core) makes a run contended; with 1 thread on 2
CPUs it does not (that core was not asked for). Where /proc/stat is missing the run's share of
its own CPU time is still recorded, and `contended` is None (unknown), never False.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

CONTENDED_SLACK_CORES = 0.3  # others' average use beyond the unrequested cores that still counts as idle
PROC_STAT = Path("/proc/stat")
# /proc/stat columns after the cpu name: user nice system idle iowait irq softirq steal guest guest_nice
BUSY_COLUMNS = (0, 1, 2, 5, 6)  # user, nice, system, irq, softirq (guest time is already inside user)
STEAL_COLUMN = 7
TICK_S = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01  # /proc/stat's unit


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Snapshot:
    """CPU counters at one instant. Seconds."""

    process_cpu_s: float
    busy_s: float | None  # the usable CPUs' busy time, every process (None: no /proc/stat)
    steal_s: float | None


def cpu_counters(cpus: list[int]) -> tuple[float, float] | None:
    """(busy s, steal s) summed over `cpus`, from /proc/stat; None where it cannot be read."""
    try:
        lines = PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    wanted = {f"cpu{i}" for i in cpus}
    busy = steal = 0
    seen = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if name in wanted:
            cols = [int(x) for x in rest.split()]
            busy += sum(cols[i] for i in BUSY_COLUMNS)
            steal += cols[STEAL_COLUMN] if len(cols) > STEAL_COLUMN else 0
            seen += 1
    if seen != len(wanted):
        return None
    return busy / tick, steal / tick


def tree_cpu_s() -> float:
    """CPU time of this process and its descendants, live or reaped: the run's own work includes what it
    starts (torch.compile's C++ compiler and compile workers)."""
    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:  # ended between listing and reading: its time is in its parent's children_*
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def snapshot() -> Snapshot:
    counters = cpu_counters(usable_cpus())
    busy, steal = counters if counters else (None, None)
    return Snapshot(tree_cpu_s(), busy, steal)


@dataclass(frozen=True)
class CpuUsage:
    """What one run got over its training window. Cores are averages over the window."""

    wall_s: float
    threads: int  # intra-op threads the run asked for
    cpus: int  # CPUs this process may run on
    process_cpu_s: float  # the worker's CPU time (all threads, and its child processes)
    received_share: float  # process_cpu_s / (wall_s x min(threads, cpus)); may exceed 1 (helper threads)
    others_cores: float | None  # other processes' and the kernel's busy cores on the usable CPUs
    steal_cores: float | None  # hypervisor steal on the usable CPUs
    contended: bool | None  # None: unknown (no /proc/stat, or a window too short to resolve a core)
    reason: str  # why contended, in words ("" when not), or why unknown
    # /proc/stat's reading error over this window, in cores: a clock tick at each end of each CPU
    resolution_cores: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def usage(start: Snapshot, end: Snapshot, wall_s: float, threads: int, cpus: int | None = None) -> CpuUsage:
    """The window between two snapshots, `wall_s` long (measured by the harness's clock)."""
    cpus = cpus or len(usable_cpus())
    wall = max(wall_s, 1e-9)
    own = end.process_cpu_s - start.process_cpu_s
    asked = min(threads, cpus)
    others = steal = None
    contended: bool | None = None
    reason = ""
    if start.busy_s is not None and end.busy_s is not None and start.steal_s is not None and end.steal_s is not None:
        others = max(0.0, (end.busy_s - start.busy_s - own) / wall)
        steal = max(0.0, (end.steal_s - start.steal_s) / wall)
        spare = cpus - asked  # cores the run did not ask for: others may use them freely
        excess = others + steal - spare
        resolution = 2 * cpus * TICK_S / wall
        if resolution >= 1.0:  # a window of a few ticks cannot tell one busy core from none
            reason = f"a {wall_s * 1e3:.0f} ms window is too short for /proc/stat's {TICK_S * 1e3:.0f} ms ticks"
        else:
            contended = excess > CONTENDED_SLACK_CORES + resolution
            if contended:
                reason = (
                    f"other processes used {others:.2f} cores and steal took {steal:.2f} of {cpus} CPUs "
                    f"while the run asked for {asked} thread(s): {excess:.2f} of its cores were taken"
                )
        return CpuUsage(wall_s, threads, cpus, own, own / (wall * asked), others, steal, contended, reason, resolution)
    return CpuUsage(wall_s, threads, cpus, own, own / (wall * asked), others, steal, contended, reason)


@dataclass(frozen=True)
class IdleCpus:
    """The usable CPUs not busy with other work, sampled over `sample_s` before a suite starts."""

    cpus: int
    busy_cores: float | None  # every process's busy time plus steal, averaged (None: no /proc/stat)
    threads: int  # the default: max(1, floor(cpus - busy_cores + CONTENDED_SLACK_CORES) - SYSTEM_CORES), see idle_cpus

    def describe(self) -> str:
        if self.busy_cores is None:
            return f"{self.threads} thread(s): all {self.cpus} usable CPUs (no /proc/stat to see other work)"
        idle = max(0.0, self.cpus - self.busy_cores)  # busy time can exceed the CPUs by sampling error
        kept = f", {SYSTEM_CORES} left to the launcher and the system" if self.cpus > 1 else ""
        return (
            f"{self.threads} thread(s): {idle:.1f} of {self.cpus} usable CPUs were idle "
            f"(other work used {self.busy_cores:.2f} cores) when the suite started{kept}"
        )

    @property
    def fewer_than_idle_allows(self) -> bool:
        """Whether other work made the default smaller than an idle machine's."""
        return self.threads < max(1, self.cpus - SYSTEM_CORES * (self.cpus > 1))


def advice(threads: int) -> str:
    """What to do about contended runs, one rule wherever it is said (the end of `fwbench run`, the report):
    fewer threads only where there are fewer to have."""
    if threads > 1:
        return (
            f"Rerun when the machine is idle, or with --threads {threads - 1} so that the other work keeps a core "
            "of its own (docs/METHODOLOGY.md, Contention)."
        )
    return "Rerun when the machine is idle: at 1 thread a run cannot give up a core (docs/METHODOLOGY.md, Contention)."


def idle_cpus(sample_s: float = 0.5) -> IdleCpus:
    """How many threads a run can have without sharing its cores: measured, not assumed (see the module
    docstring and docs/METHODOLOGY.md: torch's OpenMP pool slows down 25-100x when one of its threads'
    cores is taken, so the default is the idle cores, not all of them). Half a second: /proc/stat counts in
    1/100 s ticks, so 50 ticks a CPU, and the sample's reading error (a tick at each end, each CPU) stays
    under 0.05 cores a CPU, well inside CONTENDED_SLACK_CORES; every run measures its own window anyway."""
    import time

    cpus = usable_cpus()
    before = cpu_counters(cpus)
    time.sleep(sample_s)
    after = cpu_counters(cpus)
    if before is None or after is None:
        return IdleCpus(len(cpus), None, len(cpus))
    busy = max(0.0, (after[0] - before[0] + after[1] - before[1]) / sample_s)
    idle = min(len(cpus), int(len(cpus) - busy + CONTENDED_SLACK_CORES))
    return IdleCpus(len(cpus), busy, max(1, idle - SYSTEM_CORES * (len(cpus) > 1)))


# Cores a default run leaves to the launcher and the system where there are two or more: a worker whose threads
# share their cores with them ran in two or three speed modes from process to process on the 2-CPU VM (log SD of
# per-run medians 0.11 at 2 threads, 0.04 at 1; docs/METHODOLOGY.md, "Noise between runs").
SYSTEM_CORES = 1
WORKER_CPUS_ENV = "FWBENCH_WORKER_CPUS"  # the launcher's choice of CPUs for a one-process worker: "0" or "0,1"


def worker_cpus(threads: int) -> tuple[int, ...]:
    """The CPUs a one-process worker with `threads` threads is pinned to: the first `threads` usable ones, where
    there are more (the rest stay with the launcher and the system); () where it gets every usable CPU anyway."""
    cpus = usable_cpus()
    return tuple(cpus[:threads]) if threads < len(cpus) else ()


def pin_worker(environ: Mapping[str, str]) -> tuple[int, ...]:
    """Pin this process (and the threads and processes it starts from now on) to the CPUs the launcher chose
    (WORKER_CPUS_ENV); called by the worker before any framework is imported. Returns them, () when none."""
    given = environ.get(WORKER_CPUS_ENV, "")
    cpus = tuple(int(c) for c in given.split(",") if c)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    return cpus


def quiet_for(threads: int, idle: IdleCpus) -> bool:
    """Whether a run asking for `threads` would find its cores free, by the rule `usage` judges runs with."""
    if idle.busy_cores is None:
        return True  # nothing to see: the runs themselves say None (unknown)
    return idle.busy_cores - (idle.cpus - min(threads, idle.cpus)) <= CONTENDED_SLACK_CORES


QUIET_SAMPLES = 3  # consecutive one-second samples that must all be quiet: a burst of other work is not an end


def wait_until_quiet(threads: int, timeout_s: float, sample_s: float = 1.0) -> tuple[bool, float]:
    """Sample the CPUs until a run at `threads` would be uncontended in QUIET_SAMPLES samples in a row, for at
    most `timeout_s`: (quiet, waited s). What the redo of contended runs (bench.launching.launch.redo_contended) waits on."""
    import time

    start = time.monotonic()
    quiet = 0
    while True:
        quiet = quiet + 1 if quiet_for(threads, idle_cpus(sample_s)) else 0
        if quiet >= QUIET_SAMPLES:
            return True, time.monotonic() - start
        if time.monotonic() - start >= timeout_s:
            return False, time.monotonic() - start
