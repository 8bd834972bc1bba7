"""What can be checked before a worker starts, in the parent, without importing either framework: the
backends are installed and run on the device, the distributed worlds fit this host, the folders given
hold what they should; and the plan's settings that depend on this machine (the threads, the workloads
whose data --data-dir has). A check that fails is a UsageError naming the bad value; a choice made for the
user is one line on stderr.

The pipeline scenario's --image-dir is read through its interface (bench.interfaces.pipeline_spec), a
layer above planning: the CLI checks it between `check_runs_here` and `check_folders`."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

from bench.core import backends, data, workloads
from bench.core.errors import UsageError
from bench.core.plan import SuitePlan
from bench.machine import contention


def cuda_available() -> bool:
    """Whether NVML sees a GPU: checked in the parent without importing either framework."""
    from bench.machine.env import gpus

    return bool(gpus())


def check_runs_here(plan: SuitePlan) -> None:
    """Every backend runs on the device and is installed, every workload's own packages are (Workload.packages),
    the device is there, the distributed scenario's worlds fit this host (check_workers), --image-dir comes with
    the pipeline scenario, and the profile scenario's trace readers are installed (check_profilers)."""
    for b in plan.backends:
        info = backends.get(b)
        if not info.runs_on(plan.device):
            here = [x.name for x in backends.BACKENDS.values() if x.runs_on(plan.device)]
            raise UsageError(
                f"backend {b!r} runs on {', '.join(info.devices)} only, not --device {plan.device}; "
                f"valid there: {', '.join(here)}"
            )
        if not info.installed():
            raise UsageError(
                f"backend {b!r} needs {', '.join(info.missing())}, not installed (pip install -e '.[cpu,jax]')"
            )
    for w in plan.workloads:
        spec = workloads.get(w)
        if spec.missing_packages():
            raise UsageError(
                f"workload {w!r} needs {', '.join(spec.missing_packages())}, not installed "
                f"(pip install -e '.[{spec.extra}]'; README, Installing the frameworks)"
            )
    if plan.device == "cuda" and not cuda_available():
        raise UsageError("--device cuda: no CUDA GPU found (NVML sees none); use --device cpu")
    if "distributed" in plan.scenarios:
        check_workers(plan)
    if "profile" in plan.scenarios:
        check_profilers(plan)
    if plan.image_dir is not None and "pipeline" not in plan.scenarios:
        raise UsageError("--image-dir is read by the pipeline scenario only: add --scenario pipeline")


# What the profile scenario needs beside a backend's own packages, by the framework that runs its step: XProf reads
# TensorFlow's and JAX's traces (impls/keras/profiling.py); torch.profiler comes with torch.
PROFILE_PACKAGES = {"tensorflow": ("xprof",), "jax": ("xprof",)}


def check_profilers(plan: SuitePlan) -> None:
    """The profile scenario's readers of each backend's trace are installed."""
    for b in plan.backends:
        framework = backends.get(b).framework
        missing = [p for p in PROFILE_PACKAGES.get(framework, ()) if importlib.util.find_spec(p) is None]
        if missing:
            raise UsageError(
                f"--scenario profile reads {b}'s trace with {', '.join(missing)}, not installed (pip install -e '.[cpu]')"
            )


def check_folders(plan: SuitePlan) -> None:
    """--keep-artifacts is not a file, and --data-dir is a folder whose datasets read (each read in the
    parent, numpy only)."""
    if (
        plan.keep_artifacts is not None
        and Path(plan.keep_artifacts).exists()
        and not Path(plan.keep_artifacts).is_dir()
    ):
        raise UsageError(f"--keep-artifacts {plan.keep_artifacts!r} is a file, not a folder")
    if plan.data_dir is not None:
        if not Path(plan.data_dir).is_dir():
            raise UsageError(f"--data-dir {plan.data_dir!r} is not a folder")
        datasets = dict.fromkeys(workloads.get(w).dataset for w in plan.workloads)
        for name in (d for d in datasets if data.files_found(d, plan.data_dir)):  # folder datasets found there
            try:  # read (and so validate) each dataset in the parent, numpy only
                data.load(name, plan.seed, plan.data_dir)
            except (OSError, ValueError) as e:  # loaders raise UsageError for what they check
                raise UsageError(f"--data-dir {plan.data_dir}: reading the {name} data failed: {e}") from None


def check_workers(plan: SuitePlan) -> None:
    """The distributed scenario's world sizes (nodes x workers, every node on this host) against what this host
    can run: one process per usable CPU on a CPU, one per visible GPU on cuda."""
    if plan.device == "cuda":
        from bench.machine.env import gpus

        most, what = len(gpus()), "GPUs"
    else:
        most, what = len(contention.usable_cpus()), "usable CPUs"
    over = [(k, n) for k in plan.nodes for n in plan.workers if k * n > most]
    if over:
        k, n = over[0]
        if k == 1:
            raise UsageError(f"--workers {n}: this host has {most} {what}, so at most --workers {most}")
        raise UsageError(
            f"--nodes {k} x --workers {n}: {k * n} processes; this host, which runs every node, has {most} {what}"
        )


def warn_base_scale_on_cpu(plan: SuitePlan) -> None:
    """A line on stderr where base-scale workloads would train for the profile's epochs on a CPU: hours."""
    base = [w for w in plan.workloads if workloads.get(w).scale == "base"]
    if base and plan.device == "cpu" and plan.steps is None:
        print(
            f"fwbench: {', '.join(base)}: base scale on a cpu takes seconds to tens of seconds a step, the "
            "profile's epochs hours; --steps N measures the steady state on a budget",
            file=sys.stderr,
        )


def default_threads(given: int | None) -> tuple[contention.IdleCpus, str]:
    """--threads, or else the CPUs found idle over half a second (bench.machine.contention.idle_cpus), said on stderr
    when that is fewer than the usable CPUs. Returns the choice and how it was made, for the plan."""
    if given:
        cpus = len(contention.usable_cpus())
        return contention.IdleCpus(cpus, None, given), "--threads"
    idle = contention.idle_cpus()
    if idle.fewer_than_idle_allows:
        print(f"fwbench: {idle.describe()}; pass --threads to choose", file=sys.stderr)
    return idle, f"measured: {idle.describe()}"


def with_data_found(plan: SuitePlan) -> SuitePlan:
    """With --data-dir: the plan without the workloads whose dataset reads a folder and has no files in
    this one (named on stderr); every workload if there is no --data-dir. Nothing left: UsageError."""
    if plan.data_dir is None or not Path(plan.data_dir).is_dir():
        return plan  # check_folders names a missing folder
    missing: dict[str, list[str]] = {}
    for w in plan.workloads:
        name = workloads.get(w).dataset
        if data.files_found(name, plan.data_dir) is False:
            missing.setdefault(name, []).append(w)
    if not missing:
        return plan
    kept = tuple(w for w in plan.workloads if not any(w in ws for ws in missing.values()))
    what = "; ".join(f"no {name} files, so not {', '.join(ws)}" for name, ws in missing.items())
    if not kept:
        raise UsageError(f"--data-dir {plan.data_dir}: {what}: nothing left to run")
    print(f"fwbench: --data-dir {plan.data_dir}: {what}; running {', '.join(kept)}", file=sys.stderr)
    return dataclasses.replace(plan, workloads=kept)
