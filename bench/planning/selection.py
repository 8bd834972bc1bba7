"""What the command line picks: the workloads (by name and scale), the backends (by name and group), any other
list of registered names (precisions, scenarios, runtimes), and from them the plan that the flags of
`fwbench run` (plan_from_flags) or `fwbench overhead` (overhead_plan) ask for. A bad name or value is a
UsageError naming the valid ones. Only the registries are imported: no framework."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.core import backends, workloads
from bench.core.errors import UsageError
from bench.core.plan import FAULT_ENV, SuitePlan, check_device, parse_faults
from bench.core.spec import PRECISIONS, PROFILES, RUNTIMES, SCALES, SCENARIOS
from bench.machine import contention


def parse_names(values: Sequence[str] | None, valid: Sequence[str], what: str) -> tuple[str, ...]:
    """Comma- or space-separated names; 'all' (or nothing) means every valid one."""
    if not values:
        return tuple(valid)
    out: list[str] = []
    for value in values:
        out.extend(x.strip() for x in value.split(",") if x.strip())
    if out == ["all"]:
        return tuple(valid)
    if not out:
        raise UsageError(f"no {what} named; valid: {', '.join(valid)}")
    for x in out:
        if x not in valid:
            raise UsageError(f"unknown {what} {x!r}; valid: {', '.join(valid)}")
    return tuple(dict.fromkeys(out))


def chosen_backends(given: Sequence[str] | None, device: str) -> tuple[str, ...]:
    """--backends: names and group names (bench.core.backends.GROUPS), in order; none given is the group
    "default". A group brings its installed backends that run on the device, and says on stderr which it
    left out; a backend named by itself must be installed (bench.planning.preflight says so otherwise)."""
    values = [x.strip() for v in (given or ["default"]) for x in v.split(",") if x.strip()]
    if not values:
        raise UsageError(f"no backend named; valid: {', '.join([*backends.BACKENDS, *backends.GROUPS])}")
    out: list[str] = []
    for value in values:
        if value in backends.GROUPS:
            members = backends.group(value, device)
            missing = [b for b in members if not backends.get(b).installed()]
            if missing:
                print(
                    f"fwbench: --backends {value}: not installed here, left out: {', '.join(missing)}", file=sys.stderr
                )
            out += [b for b in members if b not in missing]
        elif value in backends.BACKENDS:
            out.append(value)
        else:
            raise UsageError(
                f"unknown backend {value!r}; valid: {', '.join(backends.BACKENDS)}, "
                f"or a group: {', '.join(backends.GROUPS)}"
            )
    if not out:
        raise UsageError(f"no backend of {' '.join(values)} is installed: pip install -e '.[cpu]'")
    return tuple(dict.fromkeys(out))


def chosen_workloads(named: Sequence[str] | None, scale: Sequence[str] | None) -> tuple[str, ...]:
    """--workloads and --scale: the named workloads (each of a scale asked for, when --scale is given), or
    every workload of the scales asked for (default: small) that runs by default (Workload.default_run)."""
    scales = parse_names(scale, SCALES, "scale") if scale else None
    if named:
        chosen = parse_names(named, list(workloads.WORKLOADS), "workload")
        for w in chosen:
            if scales and workloads.get(w).scale not in scales:
                here = [x.name for x in workloads.WORKLOADS.values() if x.scale in scales]
                raise UsageError(
                    f"workload {w!r} is of scale {workloads.get(w).scale}, not --scale {' '.join(scales)}; "
                    f"valid there: {', '.join(here)}"
                )
        return chosen
    return tuple(w.name for w in workloads.WORKLOADS.values() if w.scale in (scales or ("small",)) and w.default_run)


def plan_from_flags(args: argparse.Namespace) -> SuitePlan:
    """The plan the flags of `fwbench run` ask for (SuitePlan checks the values); the threads are the usable
    CPUs until the CLI measures the idle ones (bench.planning.preflight.default_threads)."""
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; valid: {', '.join(PROFILES)}")
    profile = PROFILES[args.profile]
    check_device(args.device)  # before the default backends, which are those that run on it
    chosen = chosen_backends(args.backends, args.device)
    return SuitePlan(
        workloads=chosen_workloads(args.workloads, args.scale),
        backends=chosen,
        device=args.device,
        profile=args.profile,
        repeats=args.repeats or profile.repeats,
        seeds=args.seeds or profile.seeds,
        seed=args.seed,
        init=args.init,
        threads=args.threads or len(contention.usable_cpus()),  # checked first; measured later unless given
        interop_threads=args.interop_threads,
        deterministic=args.deterministic,
        time_limit_s=args.time_limit or profile.time_limit_s,
        data_dir=args.data_dir,
        epochs_override=args.epochs,
        fault=parse_faults(os.environ.get(FAULT_ENV, "")) or None,  # testing hook
        precisions=parse_names(args.precision, PRECISIONS, "precision") if args.precision else ("fp32",),
        steps=args.steps,
        scenarios=parse_names(args.scenario, SCENARIOS, "scenario") if args.scenario else ("train",),
        runtimes=parse_names(args.runtimes, RUNTIMES, "runtime") if args.runtimes else (),
        keep_artifacts=args.keep_artifacts,
        workers=tuple(dict.fromkeys(args.workers)) if args.workers else (1,),
        nodes=tuple(dict.fromkeys(args.nodes)) if args.nodes else (1,),
        scaling=args.scaling,
        image_format=args.image_format,
        image_dir=str(Path(args.image_dir).resolve()) if args.image_dir else None,
    )


OVERHEAD_WORKLOADS = ("mlp-iris", "cnn-cifar10", "lstm-sentiment")


def overhead_workloads(named: Sequence[str] | None) -> tuple[str, ...]:
    """`fwbench overhead --workloads`: the classification workloads named, or OVERHEAD_WORKLOADS."""
    default = [w for w in OVERHEAD_WORKLOADS if w in workloads.WORKLOADS]
    chosen = parse_names(named, list(workloads.WORKLOADS), "workload") if named else tuple(default)
    not_supervised = [w for w in chosen if workloads.get(w).task != "classify"]
    if not_supervised:
        raise UsageError(f"overhead runs classification workloads only; not: {', '.join(not_supervised)}")
    return chosen


def overhead_plan(args: argparse.Namespace, chosen: tuple[str, ...]) -> SuitePlan:
    """The backends named (or every installed one with a bare loop) on the chosen workloads."""
    check_device(args.device)
    with_bare = [b.name for b in backends.BACKENDS.values() if b.bare is not None]
    if args.backends:
        picked = parse_names(args.backends, list(backends.BACKENDS), "backend")
        lacking = [b for b in picked if b not in with_bare]
        if lacking:
            raise UsageError(f"no bare loop to compare with for {', '.join(lacking)}; valid: {', '.join(with_bare)}")
    else:
        picked = tuple(b for b in with_bare if backends.get(b).installed() and backends.get(b).runs_on(args.device))
    return SuitePlan(
        workloads=chosen, backends=picked, device=args.device, profile="quick", repeats=args.repeats, seed=0,
        init="native", threads=args.threads or len(contention.usable_cpus()), interop_threads=1, deterministic=False,
        time_limit_s=args.time_limit or PROFILES["quick"].time_limit_s,
    )  # fmt: skip
