"""The plan of a suite run: which runs, with which settings. Part of the spec layer: frozen, typed,
stored in every results file (`Suite.plan`), and read back by `fwbench run --resume`.

Only the registries are imported (no framework), so the launcher can check a plan before any
worker starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from bench.core import backends, workloads
from bench.core.errors import UsageError
from bench.core.spec import (
    IMAGE_DATASETS,
    IMAGE_FORMATS,
    PRECISIONS,
    PROFILES,
    RUNTIMES,
    SCALINGS,
    SCENARIOS,
    RunConfig,
    RunKey,
)
from bench.core.typedjson import typed_fields

# bench.measure.run_support.inject: the failure-isolation tests. "truncate-artifact": the export scenario cuts each artifact
# in half between export and load (bench.scenarios.export); "no-average": distributed ranks sum gradients (bench.scenarios.distributed).
FAULTS = ("crash", "hang", "raise", "oom", "diverge", "truncate-artifact", "no-average")
FAULT_ENV = "FWBENCH_FAULT"  # testing hook read by the CLI: "workload/backend[#repeat]=fault,..."
MAX_SEED = 2**32 - 1  # PYTHONHASHSEED's and scikit-learn's limit
# --max-runs (bench.core.sequential, whose levels are tuned up to MAX_RUNS_LIMIT runs a side); the default run's cap
DEFAULT_MAX_RUNS = 8
MAX_RUNS_LIMIT = 20


DEVICES = ("cpu", "cuda")


def check_device(device: str) -> None:
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")


@dataclass(frozen=True)
class SuitePlan:
    """What `fwbench run` was asked to do. Checked on construction (UsageError naming the bad value);
    whether its workloads and backends still exist is `check_registered`, so that a results file of a
    workload since renamed still reads."""

    workloads: tuple[str, ...]
    backends: tuple[str, ...]
    device: str
    profile: str
    repeats: int
    seed: int
    init: str  # "shared" | "native"
    threads: int
    interop_threads: int
    deterministic: bool
    time_limit_s: float
    data_dir: str | None = None
    epochs_override: int | None = None
    fault: dict[str, str] | None = None  # "workload/backend" or "workload/backend#repeat" -> fault (tests only)
    seeds: int = 1  # training seeds seed, seed+1, ...: each its own initial weights, batch order and dropout
    threads_source: str = (
        "--threads"  # how `threads` was chosen: given, or measured (bench.machine.contention.idle_cpus)
    )
    scenarios: tuple[str, ...] = ("train",)  # what each (workload, backend, seed, repeat) measures (spec.SCENARIOS)
    precisions: tuple[str, ...] = ("fp32",)  # spec.PRECISIONS: each run is made in each
    steps: int | None = None  # --steps: a step budget instead of the profile's epochs (speed and memory only)
    runtimes: tuple[str, ...] = ()  # --runtimes: the export scenario's runtimes (spec.RUNTIMES; empty: all)
    keep_artifacts: str | None = None  # --keep-artifacts: keep the export scenario's files under this folder
    workers: tuple[int, ...] = (1,)  # --workers: the distributed scenario's process counts per node, each a cell
    nodes: tuple[int, ...] = (1,)  # --nodes: the distributed scenario's node counts, each a cell with each --workers
    scaling: str = "weak"  # --scaling: the distributed scenario's batch rule (spec.SCALINGS)
    image_format: str = "png"  # --image-format: the pipeline scenario's image files (spec.IMAGE_FORMATS)
    image_dir: str | None = None  # --image-dir: the pipeline scenario reads these class folders of images
    budget_s: float | None = (
        None  # --budget, in seconds: the plan was fitted to it (bench.planning.estimate.fit_to_budget)
    )
    left_out: tuple[str, ...] = ()  # what fitting it to the budget left out, in words
    # --max-runs: after the planned runs, runs are added to each open comparison up to this many a side, and every
    # answer of the run is judged at the sequential rule's level (bench.core.sequential); 0: off
    max_runs: int = 0
    # the CPUs each one-process worker is pinned to (the first `threads` usable CPUs, where there are more than
    # `threads`: the launcher and the system keep the others; bench.machine.contention.pin_worker); (): not pinned
    worker_cpus: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.workloads or not self.backends:
            raise UsageError("no workload or no backend chosen: nothing to run")
        if len(set(self.workloads)) < len(self.workloads) or len(set(self.backends)) < len(self.backends):
            raise UsageError("a workload or backend is named twice: each run would be made twice")
        for sc in self.scenarios or ("",):
            if sc not in SCENARIOS:
                raise UsageError(f"unknown scenario {sc!r}; valid: {', '.join(SCENARIOS)}")
        for rt in self.runtimes:
            if rt not in RUNTIMES:
                raise UsageError(f"unknown runtime {rt!r}; valid: {', '.join(RUNTIMES)}")
        for flag, counts in (("--workers", self.workers), ("--nodes", self.nodes)):
            if not counts or any(n < 1 for n in counts):
                raise UsageError(f"{flag} must be >= 1, got {' '.join(map(str, counts)) or 'nothing'}")
        if self.scaling not in SCALINGS:
            raise UsageError(f"unknown scaling {self.scaling!r}; valid: {', '.join(SCALINGS)}")
        if self.image_format not in IMAGE_FORMATS:
            raise UsageError(f"unknown image format {self.image_format!r}; valid: {', '.join(IMAGE_FORMATS)}")
        for p in self.precisions or ("",):
            if p not in PRECISIONS:
                raise UsageError(f"unknown precision {p!r}; valid: {', '.join(PRECISIONS)}")
        if self.steps is not None and self.steps < 1:
            raise UsageError(f"--steps must be >= 1, got {self.steps}")
        if self.steps is not None and self.epochs_override is not None:
            raise UsageError("--steps and --epochs both set a training budget: give one")
        if self.profile not in PROFILES:
            raise UsageError(f"unknown profile {self.profile!r}; valid: {', '.join(PROFILES)}")
        check_device(self.device)
        if self.init not in ("shared", "native"):
            raise UsageError(f"unknown init {self.init!r}; valid: shared, native")
        for name in ("repeats", "seeds", "threads", "interop_threads"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.budget_s is not None and not 0 < self.budget_s < math.inf:
            raise UsageError(f"--budget must be a finite number of minutes > 0, got {self.budget_s / 60:g}")
        if self.max_runs and not self.repeats * self.seeds <= self.max_runs <= MAX_RUNS_LIMIT:
            raise UsageError(
                f"--max-runs must be between the planned runs a side ({self.repeats * self.seeds}: --seeds x "
                f"--repeats) and {MAX_RUNS_LIMIT}, or 0 (off), got {self.max_runs}"
            )
        if not 0 < self.time_limit_s < math.inf:
            raise UsageError(f"--time-limit must be a finite number of seconds > 0, got {self.time_limit_s}")
        if self.epochs_override is not None and self.epochs_override < 1:
            raise UsageError(f"--epochs must be >= 1, got {self.epochs_override}")
        if not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"--seed must be in 0..{MAX_SEED}, got {self.seed}")
        if self.seed + self.seeds - 1 > MAX_SEED:
            raise UsageError(f"--seed {self.seed} with --seeds {self.seeds} goes past the largest seed, {MAX_SEED}")
        for key, fault in (self.fault or {}).items():
            target, _, repeat = key.partition("#")
            workload, _, backend = target.partition("/")
            planned = workload in self.workloads and backend in self.backends and (not repeat or repeat.isdigit())
            if not planned or fault not in FAULTS:
                raise UsageError(
                    f"fault {key}={fault}: expected WORKLOAD/BACKEND[#REPEAT]=FAULT naming a planned run, "
                    f"FAULT one of {', '.join(FAULTS)}"
                )

    def check_registered(self) -> None:
        """UsageError unless every workload and backend of the plan is in its registry (before running)."""
        for w in self.workloads:
            workloads.get(w)
        for b in self.backends:
            backends.get(b)
        serving = [w for w in self.scenarios if w in ("infer", "export")]
        lacking = [w for w in self.workloads if serving and not workloads.get(w).inference]
        if lacking:
            have = [w.name for w in workloads.WORKLOADS.values() if w.inference]
            raise UsageError(
                f"workload {lacking[0]!r} has no forward model to serve, so no {serving[0]} scenario; "
                f"valid: {', '.join(have)}"
            )

        images = [w.name for w in workloads.WORKLOADS.values() if w.dataset in IMAGE_DATASETS]
        files = [w for w in self.workloads if "pipeline" in self.scenarios and w not in images]
        if files:
            raise UsageError(
                f"workload {files[0]!r} has no image files to read, so no pipeline scenario; valid: {', '.join(images)}"
            )

    def seed_values(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def runs(self) -> list[RunKey]:
        """The interleaved order: repeat-major, then seed, then scenario, then workload, then precision, then
        node count and worker count (the distributed scenario's; 1 elsewhere), then backend, so that drift of a
        shared machine hits every backend, precision and seed alike.

        Within each block (one repeat, seed, scenario, workload, precision, node and worker count) the backends
        run in a seeded random order (`backend_order`), a new one in each block, so that a carry-over from one
        run to the next (the second run of a block slower, say) falls on every backend alike instead of always
        on the same one (tests/test_order.py). The order is a pure function of the plan, which every results
        file stores: `fwbench run --resume` and `--shard K/N` recompute the same order, and anyone can recompute
        it from a results file with `SuitePlan.from_dict(doc["plan"]).runs()`. Each Result's `started_at` shows
        the order the runs were made in."""
        return [
            RunKey(w, b, s, r, sc, p, n, nodes)
            for r in range(self.repeats)
            for s in self.seed_values()
            for sc in self.scenarios
            for w in self.workloads
            for p in self.precisions
            for nodes in (self.nodes if sc == "distributed" else (1,))
            for n in (self.workers if sc == "distributed" else (1,))
            for b in self.backend_order(r, s, sc, w, p, nodes, n)
        ]

    def backend_order(
        self, repeat: int, seed: int, scenario: str, workload: str, precision: str, nodes: int, workers: int
    ) -> tuple[str, ...]:
        """The backends of one block of `runs` in their seeded order: sorted by the SHA-256 of
        "PLAN_SEED|REPEAT|SEED|SCENARIO|WORKLOAD|PRECISION|NODES|WORKERS|BACKEND" (hex digest, as text), a
        uniformly random permutation for each block that depends on nothing but the plan (no library's random
        stream, which may change between versions: shards on different machines agree)."""
        block = f"{self.seed}|{repeat}|{seed}|{scenario}|{workload}|{precision}|{nodes}|{workers}"
        return tuple(sorted(self.backends, key=lambda b: hashlib.sha256(f"{block}|{b}".encode()).hexdigest()))

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        for name in ("workloads", "backends", "scenarios", "precisions", "runtimes", "workers", "nodes", "left_out"):
            d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "plan") -> SuitePlan:
        """A plan read back from a results file: every field type-checked (ValueError), then validated (UsageError)."""
        return cls(**typed_fields(cls, d, where))

    def fault_for(self, workload: str, backend: str, repeat: int) -> str | None:
        faults = self.fault or {}
        return faults.get(f"{workload}/{backend}#{repeat}", faults.get(f"{workload}/{backend}"))

    def run_config(self, run_id: str, key: RunKey, init_path: str | None) -> RunConfig:
        """The worker job of one run of this plan. What is the run's own is given here: its id, its key's
        workload, backend, seed, repeat, scenario, precision, workers and nodes, its initial weights' file, the
        fault injected into it, and the plan's seed as the data seed. Every other RunConfig field is the plan's
        field of the same name (device, profile, init, threads, time_limit_s, ...): a RunConfig field that is
        neither is an AttributeError here, never a silent default."""
        per_run: dict[str, Any] = {
            "run_id": run_id,
            "workload": key.workload,
            "backend": key.backend,
            "seed": key.seed,
            "repeat": key.repeat,
            "scenario": key.scenario,
            "precision": key.precision,
            "workers": key.workers,
            "nodes": key.nodes,
            "init_path": init_path,
            "fault": self.fault_for(key.workload, key.backend, key.repeat),
            "data_seed": self.seed,
        }
        from_plan = {f.name: getattr(self, f.name) for f in dataclasses.fields(RunConfig) if f.name not in per_run}
        return RunConfig(**per_run, **from_plan)


def parse_faults(text: str) -> dict[str, str]:
    """The FWBENCH_FAULT testing hook: comma-separated WORKLOAD/BACKEND[#REPEAT]=FAULT (checked by SuitePlan)."""
    faults: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key, sep, fault = entry.partition("=")
        if not sep:
            raise UsageError(f"{FAULT_ENV}: {entry!r} is not WORKLOAD/BACKEND[#REPEAT]=FAULT")
        faults[key.strip()] = fault.strip()
    return faults
