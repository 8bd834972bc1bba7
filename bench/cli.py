"""The command line: `fwbench list | run | report | compare` (also `python -m bench`).

Bad input is one line on stderr naming the bad value and the valid ones, and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# report, compare and pbjson pull in pandas, scipy.stats and matplotlib (about 1 s of imports): they are imported
# where they are used, so that `fwbench list` and bad input answer at once.
from bench.core import backends, data, formatting, typedjson, workloads
from bench.core.errors import UsageError
from bench.core.plan import FAULT_ENV, SuitePlan, check_device, parse_faults
from bench.core.spec import IMAGE_FORMATS, PRECISIONS, PROFILES, RUNTIMES, SCALES, SCENARIOS
from bench.launching import launch
from bench.machine import contention, env
from bench.planning import estimate, shard
from bench.records import results

EXIT_USAGE = 2
EXIT_ENVIRONMENT = 1  # the machine refused (full disk, unwritable folder): results written so far stay
EXIT_FAILED_RUNS = 1  # `fwbench overhead`: some worker processes failed or timed out (each named on stderr)
# The default of --redo-contended. The test suite sets it to 0: there the contention is the other test
# worker, and waiting for it to be quiet would only stretch the suite (tests/conftest.py).
REDO_ENV = "FWBENCH_REDO_CONTENDED"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def names(values: Sequence[str] | None, valid: Sequence[str], what: str) -> tuple[str, ...]:
    """Comma- or space-separated names; 'all' (or nothing) means every valid one."""
    if not values:
        return tuple(valid)
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    if out == ["all"]:
        return tuple(valid)
    if not out:
        raise UsageError(f"no {what} named; valid: {', '.join(valid)}")
    for x in out:
        if x not in valid:
            raise UsageError(f"unknown {what} {x!r}; valid: {', '.join(valid)}")
    return tuple(dict.fromkeys(out))


def int_at_least(text: str, minimum: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}")
    return v


def positive_int(text: str) -> int:
    return int_at_least(text, 1)


def count(text: str) -> int:
    """An integer >= 0 (0 turns the thing off)."""
    return int_at_least(text, 0)


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def build_parser() -> Parser:
    p = Parser(prog="fwbench", description="PyTorch vs TensorFlow, measured: train twin models, compare them.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    sub.add_parser("list", help="workloads, backends, and whether each backend's framework is installed")

    r = sub.add_parser("run", help="run workloads x backends (one process each), write results and the report")
    r.add_argument("--workloads", nargs="+", metavar="NAME", help=f"default: all ({', '.join(workloads.WORKLOADS)})")
    r.add_argument(
        "--backends",
        nargs="+",
        metavar="NAME",
        help=f"backends ({', '.join(backends.BACKENDS)}) or groups: "
        + "; ".join(f"{k}: {v}" for k, v in backends.GROUPS.items())
        + " (default: the group default)",
    )
    r.add_argument(
        "--scale",
        nargs="+",
        metavar="SCALE",
        help="which workload sizes: small (default: trains to its target in minutes on a CPU), base (ResNet-18/50, "
        "BERT-base, a 2x512 LSTM: the published reference sizes; on a CPU run them with --steps), or both",
    )
    r.add_argument(
        "--precision",
        nargs="+",
        metavar="NAME",
        help=f"numeric precisions, each a run of every cell: {', '.join(PRECISIONS)} (default fp32: strict float32, "
        "TF32 off); one a backend or device cannot run is an unsupported cell with its reason",
    )
    r.add_argument(
        "--steps",
        type=positive_int,
        help="a step budget instead of the profile's epochs: steady-state speed and memory, no evaluation or target",
    )
    r.add_argument(
        "--scenario",
        nargs="+",
        metavar="NAME",
        help=f"what each cell measures: {', '.join(SCENARIOS)} (default train; comma or space separated): infer "
        "times each backend's own inference path after training, export each export path in its runtime, "
        "distributed data-parallel training over --workers processes, pipeline each framework's input pipeline "
        "(DataLoader, tf.data) reading the image workloads' files, alone and feeding training",
    )
    r.add_argument(
        "--runtimes",
        nargs="+",
        metavar="NAME",
        help=f"the export scenario's runtimes (default all): {', '.join(RUNTIMES)}",
    )
    r.add_argument(
        "--keep-artifacts",
        metavar="DIR",
        help="keep the export scenario's exported files under DIR/RUN_ID/ (default: deleted after each run)",
    )
    r.add_argument(
        "--workers",
        nargs="+",
        type=positive_int,
        metavar="N",
        help="the distributed scenario's process counts per node, each a cell (default 1; e.g. --workers 1 2)",
    )
    r.add_argument(
        "--nodes",
        nargs="+",
        type=positive_int,
        metavar="N",
        help="the distributed scenario's node counts, each a cell with each --workers (default 1): N launchers, one "
        "per node, each starting --workers ranks (a world of N x workers); on this host over loopback",
    )
    r.add_argument(
        "--image-format",
        default="png",
        help=f"pipeline: the format the image files are written in: {', '.join(IMAGE_FORMATS)} (default png)",
    )
    r.add_argument(
        "--image-dir",
        metavar="DIR",
        help="pipeline: read DIR's class folders of images (DIR/<class>/<name>.png or .jpg) instead of writing the "
        "workload's dataset as files",
    )
    r.add_argument(
        "--scaling",
        default="weak",
        help="distributed: weak (default: each worker keeps the workload's batch) or strong (the global batch is "
        "the workload's, split across the workers)",
    )
    r.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    r.add_argument(
        "--shard",
        metavar="K/N",
        help="run part K of N of the plan (run i goes to shard i mod N + 1), under the run id --run-id gives, into "
        "runs/RUN_ID.shard-K-of-N.json; `fwbench merge` joins the parts. Default: a Slurm job array's task "
        "(SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT), else the whole plan",
    )
    r.add_argument("--run-id", metavar="ID", help="the run id (shards of one plan share one; default: a new one)")
    r.add_argument(
        "--budget",
        type=positive_float,
        metavar="MINUTES",
        help="fit the plan to this many minutes, estimated from this machine's earlier runs: leaves out backends "
        "(a framework's documented path beside its tuned one first), then the costliest workloads, and says what",
    )
    r.add_argument("--profile", default="quick", help=f"{' or '.join(PROFILES)} (default quick)")
    r.add_argument("--repeats", type=positive_int, help="processes per (workload, backend), interleaved")
    r.add_argument(
        "--init",
        default="shared",
        help="shared (default: every backend starts from the torch twin's "
        "initial weights) or native (each framework's own initialisers)",
    )
    r.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="intra-op threads for both frameworks (default: the usable CPUs found idle over half a second before "
        "the suite, at least 1: a thread whose core another process takes slows torch down 25-100x)",
    )
    r.add_argument("--interop-threads", type=positive_int, default=1, help="inter-op threads for both (default 1)")
    r.add_argument("--seed", type=int, default=0, help="the first training seed, and the data's seed (default 0)")
    r.add_argument(
        "--seeds",
        type=positive_int,
        help="training seeds per (workload, backend): seed, seed+1, ... each with its own initial weights, batch "
        "order and dropout (shared by every backend), interleaved like repeats (default: the profile's)",
    )
    r.add_argument("--deterministic", action="store_true", help="deterministic kernels in both frameworks")
    r.add_argument("--time-limit", type=positive_float, help="seconds per run before it is killed (default: profile's)")
    r.add_argument("--epochs", type=positive_int, help="override every workload's epoch budget (smoke runs)")
    r.add_argument("--data-dir", help="folder with real datasets (CIFAR-10 binary, aclImdb, WAV folders)")
    r.add_argument("--out", default="results", help="results folder (default: results)")
    r.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run: only its missing runs are made")
    r.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: also redo the runs that failed, timed out or ran out of memory (a crashed rank, a "
        "flaky node); their failure records stay in the file beside the new runs",
    )
    r.add_argument(
        "--redo-contended",
        type=count,
        default=os.environ.get(REDO_ENV, str(launch.REDO_ROUNDS)),
        metavar="N",
        help="run a contended run again at the end of the suite, once the machine is quiet, up to N times "
        f"(default ${REDO_ENV} or {launch.REDO_ROUNDS}; 0: keep contended runs as they are). The replaced records "
        "stay in the file, under 'redone'",
    )

    o = sub.add_parser("overhead", help="harness vs a bare training loop, per backend: the harness's distortion")
    o.add_argument("--workloads", nargs="+", metavar="NAME", help="default: mlp-iris cnn-cifar10 lstm-sentiment")
    o.add_argument("--backends", nargs="+", metavar="NAME", help="default: all installed")
    o.add_argument(
        "--repeats", type=positive_int, default=2, help="worker processes per (workload, backend) (default 2)"
    )
    o.add_argument("--blocks", type=positive_int, default=10, help="harness/bare block pairs per process (default 10)")
    o.add_argument("--threads", type=positive_int, default=None, help="default: the idle CPUs, as for run")
    o.add_argument("--device", default="cpu")
    o.add_argument(
        "--time-limit", type=positive_float, help="seconds per worker process before it is killed (default: 300)"
    )
    o.add_argument("--out", default="results", help="writes OUT/overhead/<id>.json")

    rep = sub.add_parser("report", help="render REPORT.md from results files")
    rep.add_argument("results", nargs="*", help="results files or folders (default: the newest run under --out)")
    rep.add_argument("--out", default="results", help="folder for REPORT.md (default: results)")
    rep.add_argument(
        "--history",
        nargs="+",
        metavar="PATH",
        help="earlier results files or folders, for the trend plot only (default without RESULTS: every run under --out)",
    )

    mg = sub.add_parser("merge", help="join the shards of one plan (`fwbench run --shard K/N`) into one suite")
    mg.add_argument(
        "out", metavar="OUT", help="results folder of the merged suite (OUT/runs/RUN_ID.json, OUT/REPORT.md)"
    )
    mg.add_argument("files", nargs="+", metavar="FILE", help="the shards' results files")
    cmp = sub.add_parser("compare", help="regressions of CURRENT against BASELINE (exit 1 on regression)")
    cmp.add_argument("baseline", help="results file or folder (per device model: see docs/REPORTS.md)")
    cmp.add_argument("current", help="results file or folder")
    cmp.add_argument(
        "--threshold",
        type=fraction,
        default=0.05,
        help="minimum relative change that counts, as 0.05 or 5%% (default 5%%); doubled for step time with < 3 runs",
    )
    cmp.add_argument("--all", action="store_true", help="list unchanged comparisons too")
    cmp.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    return p


def fraction(text: str) -> float:
    """0.05 or 5%: a relative change strictly between 0 and 1."""
    try:
        v = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use 0.05 or 5%)") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (0.05 or 5%), got {text}")
    return v


def cmd_list() -> int:
    print("workloads:")
    for w in workloads.WORKLOADS.values():
        print(f"  {w.name:<18} {w.description}")
    print("backends:")
    name_width = max(len(b.name) for b in backends.BACKENDS.values())
    width = max(len(b.description) for b in backends.BACKENDS.values())
    for b in backends.BACKENDS.values():
        state = "installed" if b.installed() else f"NOT installed ({', '.join(b.missing())} missing)"
        if b.devices != ("cpu", "cuda"):
            state += f" ({', '.join(b.devices)} only)"
        print(f"  {b.name:<{name_width}}  {b.description:<{width}}  {state}")
    return 0


def cuda_available() -> bool:
    """Whether NVML sees a GPU: checked in the parent without importing either framework."""
    from bench.machine.env import gpus

    return bool(gpus())


def preflight(plan: SuitePlan) -> None:
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
    if plan.device == "cuda" and not cuda_available():
        raise UsageError("--device cuda: no CUDA GPU found (NVML sees none); use --device cpu")
    if "distributed" in plan.scenarios:
        check_workers(plan)
    if plan.image_dir is not None and "pipeline" not in plan.scenarios:
        raise UsageError("--image-dir is read by the pipeline scenario only: add --scenario pipeline")
    if "pipeline" in plan.scenarios and plan.image_dir is not None:
        from bench.interfaces.pipeline_spec import check_image_dir

        check_image_dir(plan.image_dir, plan.image_format)
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


def default_threads(given: int | None) -> tuple[contention.IdleCpus, str]:
    """--threads, or else the CPUs found idle over half a second (bench.machine.contention.idle_cpus), said on stderr
    when that is fewer than the usable CPUs. Returns the choice and how it was made, for the plan."""
    if given:
        cpus = len(contention.usable_cpus())
        return contention.IdleCpus(cpus, None, given), "--threads"
    idle = contention.idle_cpus()
    if idle.threads < idle.cpus:
        print(f"fwbench: {idle.describe()}; pass --threads to choose", file=sys.stderr)
    return idle, f"measured: {idle.describe()}"


def with_data_found(plan: SuitePlan) -> SuitePlan:
    """With --data-dir: the plan without the workloads whose dataset reads a folder and has no files in
    this one (named on stderr); every workload if there is no --data-dir. Nothing left: UsageError."""
    if plan.data_dir is None or not Path(plan.data_dir).is_dir():
        return plan  # preflight names a missing folder
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


def out_folder(text: str) -> Path:
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {text!r} is a file, not a folder")
    return out


def raise_interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(signum)


def chosen_shard(a: argparse.Namespace, resumed: results.Suite | None) -> tuple[shard.Shard | None, str]:
    """(the shard to run or None, the run id the shards share or ""): --shard and --run-id, else a Slurm job
    array's variables (said on stderr), else the whole plan under a new id."""
    if resumed is not None:
        return (shard.parse(resumed.shard, resumed.run_id) if resumed.shard else None), resumed.run_id
    run_id = a.run_id or ""
    if run_id and (Path(run_id).name != run_id or run_id.startswith(".") or not run_id.isprintable()):
        raise UsageError(f"--run-id {run_id!r}: a file name without folders (letters, digits, - and _)")
    part = shard.parse(a.shard) if a.shard else None
    if part is None and (found := shard.from_environment(os.environ)) is not None:
        part, env_id = found
        run_id = run_id or env_id
        print(f"fwbench: running shard {part} of the plan, from the {part.source} task's index", file=sys.stderr)
    if part is not None and not run_id:
        raise UsageError(f"--shard {part}: give --run-id ID, the same on every shard, so that their files merge")
    return part, run_id


def earlier_suites(out: Path) -> list[results.Suite]:
    """The results folder's suites, for the estimates; one that cannot be read is skipped (it only loses
    its times)."""
    found = []
    for p in sorted((out / "runs").glob("*.json")):
        try:
            found.append(results.load(p))
        except UsageError:
            continue
    return found


def fit_plan(plan: SuitePlan, past: dict[estimate.HistoryKey, list[float]], budget_min: float) -> SuitePlan:
    """--budget: the plan fitted to the minutes given, said on stderr, and recorded in the plan."""
    fitted, left_out, cost = estimate.fit_to_budget(plan, past, budget_min * 60)
    said = f"fwbench: --budget {budget_min:g} min: " + (f"left out {'; '.join(left_out)}; " if left_out else "")
    if cost.total_s <= budget_min * 60:
        said += f"the plan fits (about {estimate.minutes(cost.total_s)})"
    else:
        said += (
            f"about {estimate.minutes(cost.total_s)}, over the budget: one workload and one backend per "
            "framework at the runs a verdict needs is as small as it goes (--steps N to go smaller)"
        )
    print(said, file=sys.stderr)
    return dataclasses.replace(fitted, budget_s=budget_min * 60, left_out=tuple(left_out))


def describe_runs(plan: SuitePlan, todo: int) -> str:
    """'72 runs (8 workloads x 3 backends x 3 seeds)': what the plan multiplies out to."""
    factors = [
        (len(plan.workloads), "workload"),
        (len(plan.backends), "backend"),
        (plan.seeds, "seed"),
        (plan.repeats, "repeat"),
        (len(plan.scenarios), "scenario"),
        (len(plan.precisions), "precision"),
    ]
    shown = " x ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in factors if n > 1 or what == "workload")
    total = len(plan.runs())
    left = f"{todo} of {total} runs to do" if todo != total else f"{total} run{'s' if total != 1 else ''}"
    return f"{left} ({shown})"


def chosen_backends(given: Sequence[str] | None, device: str) -> tuple[str, ...]:
    """--backends: names and group names (bench.core.backends.GROUPS), in order; none given is the group
    "default". A group brings its installed backends that run on the device, and says on stderr which it
    left out; a backend named by itself must be installed (preflight says so otherwise)."""
    values = [x.strip() for v in (given or ["default"]) for x in v.split(",") if x.strip()]
    if not values:
        raise UsageError(f"no backend named; valid: {', '.join([*backends.BACKENDS, *backends.GROUPS])}")
    out: list[str] = []
    for v in values:
        if v in backends.GROUPS:
            members = backends.group(v, device)
            missing = [b for b in members if not backends.get(b).installed()]
            if missing:
                print(f"fwbench: --backends {v}: not installed here, left out: {', '.join(missing)}", file=sys.stderr)
            out += [b for b in members if b not in missing]
        elif v in backends.BACKENDS:
            out.append(v)
        else:
            raise UsageError(
                f"unknown backend {v!r}; valid: {', '.join(backends.BACKENDS)}, or a group: {', '.join(backends.GROUPS)}"
            )
    if not out:
        raise UsageError(f"no backend of {' '.join(values)} is installed: pip install -e '.[cpu]'")
    return tuple(dict.fromkeys(out))


def chosen_workloads(named: Sequence[str] | None, scale: Sequence[str] | None) -> tuple[str, ...]:
    """--workloads and --scale: the named workloads (each of a scale asked for, when --scale is given), or
    every workload of the scales asked for (default: small)."""
    scales = names(scale, SCALES, "scale") if scale else None
    if named:
        chosen = names(named, list(workloads.WORKLOADS), "workload")
        for w in chosen:
            if scales and workloads.get(w).scale not in scales:
                here = [x.name for x in workloads.WORKLOADS.values() if x.scale in scales]
                raise UsageError(
                    f"workload {w!r} is of scale {workloads.get(w).scale}, not --scale {' '.join(scales)}; "
                    f"valid there: {', '.join(here)}"
                )
        return chosen
    return tuple(w.name for w in workloads.WORKLOADS.values() if w.scale in (scales or ("small",)))


def cmd_run(a: argparse.Namespace, argv: Sequence[str]) -> int:
    out = out_folder(a.out)
    if a.resume:
        defaults = vars(build_parser().parse_args(["run"]))
        given = sorted(
            k
            for k, v in vars(a).items()
            if k not in ("resume", "out", "retry_failed", "redo_contended") and v != defaults.get(k)
        )
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UsageError(f"--resume continues the run's own plan: drop {flags}")
        if Path(a.resume).name != a.resume or a.resume.startswith(".") or a.resume.endswith(".json"):
            raise UsageError(
                f"--resume {a.resume!r}: expected a run id (the name of a file under {out / 'runs'} without .json), "
                "with --out naming the results folder"
            )
        path = results.run_path(out, a.resume)
        if not path.exists():
            raise UsageError(f"--resume {a.resume!r}: no such run under {out / 'runs'}")
        suite = results.load(path)
        if suite.plan is None:
            raise UsageError(f"{path}: converted from {suite.source.tool if suite.source else '?'}: nothing to resume")
        plan = suite.plan
        try:
            plan.check_registered()
        except UsageError as e:
            raise UsageError(f"{path}: its plan cannot be resumed: {e}") from None
        preflight(plan)
    else:
        if a.retry_failed:
            raise UsageError("--retry-failed redoes the failed runs of an earlier run: give it with --resume RUN_ID")
        if a.profile not in PROFILES:
            raise UsageError(f"unknown profile {a.profile!r}; valid: {', '.join(PROFILES)}")
        profile = PROFILES[a.profile]
        check_device(a.device)  # before the default backends, which are those that run on it
        chosen = chosen_backends(a.backends, a.device)
        plan = SuitePlan(
            workloads=chosen_workloads(a.workloads, a.scale),
            backends=chosen,
            device=a.device,
            profile=a.profile,
            repeats=a.repeats or profile.repeats,
            seeds=a.seeds or profile.seeds,
            seed=a.seed,
            init=a.init,
            threads=a.threads or len(contention.usable_cpus()),  # checked first; measured below unless given
            interop_threads=a.interop_threads,
            deterministic=a.deterministic,
            time_limit_s=a.time_limit or profile.time_limit_s,
            data_dir=a.data_dir,
            epochs_override=a.epochs,
            fault=parse_faults(os.environ.get(FAULT_ENV, "")) or None,  # testing hook
            precisions=names(a.precision, PRECISIONS, "precision") if a.precision else ("fp32",),
            steps=a.steps,
            scenarios=names(a.scenario, SCENARIOS, "scenario") if a.scenario else ("train",),
            runtimes=names(a.runtimes, RUNTIMES, "runtime") if a.runtimes else (),
            keep_artifacts=a.keep_artifacts,
            workers=tuple(dict.fromkeys(a.workers)) if a.workers else (1,),
            nodes=tuple(dict.fromkeys(a.nodes)) if a.nodes else (1,),
            scaling=a.scaling,
            image_format=a.image_format,
            image_dir=str(Path(a.image_dir).resolve()) if a.image_dir else None,
        )
        plan.check_registered()
        plan = with_data_found(plan)
        preflight(plan)
        base = [w for w in plan.workloads if workloads.get(w).scale == "base"]
        if base and plan.device == "cpu" and plan.steps is None:
            print(
                f"fwbench: {', '.join(base)}: base scale on a cpu takes seconds to tens of seconds a step, the "
                "profile's epochs hours; --steps N measures the steady state on a budget",
                file=sys.stderr,
            )
        if not a.threads:  # the input is valid: now spend half a second measuring the idle CPUs
            idle, source = default_threads(None)
            plan = dataclasses.replace(plan, threads=idle.threads, threads_source=source)
        suite = None
    past = estimate.history(earlier_suites(out), env.cpu_model())
    if a.budget is not None:
        plan = fit_plan(plan, past, a.budget)
    part, run_id = chosen_shard(a, suite)
    todo = launch.todo_runs(plan, suite, a.retry_failed, part)
    planned = estimate.estimate(plan, todo, past)
    of_shard = f" (shard {part} from {part.source})" if part else ""
    print(f"fwbench: plan: {describe_runs(plan, len(todo))}{of_shard}, {planned.describe()}", file=sys.stderr)
    from bench.launching.progress import Progress

    run_id = suite.run_id if suite else run_id or launch.new_run_id()
    previous = signal.signal(signal.SIGTERM, raise_interrupt)  # `kill`: clean up like Ctrl-C
    # Ctrl-C stops the suite even where SIGINT came in ignored (a shell's background job, a CI runner, a test
    # process): Python leaves an inherited SIG_IGN as it is, and the run would go on to the end.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with Progress(len(todo), planned.per_run_s) as progress:
            path = launch.run_suite(
                plan,
                out,
                ["fwbench", *argv],
                progress=progress.update,
                resumed=suite,
                run_id=run_id,
                retry_failed=a.retry_failed,
                redo_rounds=a.redo_contended,
                notify=progress.say,
                shard=part,
            )
    except KeyboardInterrupt as e:
        signum = e.args[0] if e.args and isinstance(e.args[0], int) else signal.SIGINT
        saved = results.run_path(out, run_id)
        print(
            f"fwbench: interrupted; {saved} keeps every completed run: finish with "
            f"`fwbench run --resume {run_id} --out {out}`"
            if saved.exists()
            else "fwbench: interrupted before the first run; nothing was saved",
            file=sys.stderr,
        )
        return 128 + signum
    except OSError as e:  # a full disk mid-suite: the file keeps every run saved before it
        saved = results.run_path(out, run_id)
        hint = f"; {saved} keeps every saved run: finish with `fwbench run --resume {run_id} --out {out}`"
        print(f"fwbench: error: {e}" + (hint if saved.exists() else ""), file=sys.stderr)
        return EXIT_ENVIRONMENT
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    from bench.report import document

    suite = results.load(path)
    if not suite.results and part is not None:  # more shards than runs: this one's part is empty, and that is fine
        print(
            f"results: {path}\nfwbench: shard {part} holds none of the plan's {len(plan.runs())} runs (more shards "
            "than runs): its results file is written, empty, for the merge; no report"
        )
        return 0
    own, written = document.write_run(suite, out, history=document.load_history(sorted((out / "runs").glob("*.json"))))
    answered = {r.key(plan.seed) for r in suite.results if r.status in ("ok", "unsupported")}  # a retry that worked
    bad = [r for r in suite.results if r.status not in ("ok", "unsupported") and r.key(plan.seed) not in answered]
    answer = document.summary_of(written.read_text())
    if answer:  # the answer first, then where the files are
        print(f"\n{answer}\n")
    print(f"results: {path}\nreport:  {written} (this run's own, kept: {own})")
    if bad:
        print(f"{len(bad)} run(s) did not finish: " + ", ".join(f"{r.workload}/{r.backend}: {r.status}" for r in bad))
    if suite.redone:
        print(f"{len(suite.redone)} contended run(s) were run again once the machine was quiet (kept under 'redone')")
    contended = [r for r in suite.results if r.contended]
    if contended:
        print(
            f"warning: {len(contended)} of {len(suite.results)} run(s) were contended (other processes took cores "
            f"they asked for), so their step times are not trusted and no ratio involving them is starred: "
            + ", ".join(f"{r.workload}/{r.backend} seed {r.seed} #{r.repeat}" for r in contended[:8])
            + (" ..." if len(contended) > 8 else "")
            + ". "
            + contention.advice(plan.threads),
            file=sys.stderr,
        )
    return 0


OVERHEAD_WORKLOADS = ("mlp-iris", "cnn-cifar10", "lstm-sentiment")


def overhead_plan(a: argparse.Namespace, chosen: tuple[str, ...]) -> SuitePlan:
    """The backends named (or every installed one with a bare loop) on the chosen workloads."""
    check_device(a.device)
    with_bare = [b.name for b in backends.BACKENDS.values() if b.bare is not None]
    if a.backends:
        picked = names(a.backends, list(backends.BACKENDS), "backend")
        lacking = [b for b in picked if b not in with_bare]
        if lacking:
            raise UsageError(f"no bare loop to compare with for {', '.join(lacking)}; valid: {', '.join(with_bare)}")
    else:
        picked = tuple(b for b in with_bare if backends.get(b).installed() and backends.get(b).runs_on(a.device))
    return SuitePlan(
        workloads=chosen, backends=picked, device=a.device, profile="quick", repeats=a.repeats, seed=0,
        init="native", threads=a.threads or len(contention.usable_cpus()), interop_threads=1, deterministic=False,
        time_limit_s=a.time_limit or PROFILES["quick"].time_limit_s,
    )  # fmt: skip


def cmd_overhead(a: argparse.Namespace) -> int:
    from bench.launching import overhead

    default = [w for w in OVERHEAD_WORKLOADS if w in workloads.WORKLOADS]
    chosen = names(a.workloads, list(workloads.WORKLOADS), "workload") if a.workloads else tuple(default)
    not_supervised = [w for w in chosen if workloads.get(w).task != "classify"]
    if not_supervised:
        raise UsageError(f"overhead runs classification workloads only; not: {', '.join(not_supervised)}")
    plan = overhead_plan(a, chosen)
    preflight(plan)
    if not a.threads:
        plan = dataclasses.replace(plan, threads=default_threads(None)[0].threads)
    rows, failures = overhead.run(plan, a.blocks, progress=lambda msg: print(f"  {msg}", file=sys.stderr))
    if rows:
        print(formatting.markdown(overhead.table(rows)))
    path = Path(a.out) / "overhead" / f"{launch.new_run_id()}.json"
    typedjson.atomic_write_json(path, overhead.to_json(rows, plan, failures))
    print(f"written: {path}")
    for f in failures:
        print(f"fwbench: overhead {f.line()}", file=sys.stderr)
    return EXIT_FAILED_RUNS if failures else 0


def cmd_merge(a: argparse.Namespace) -> int:
    """Shards in, one suite and its report out; a lost shard's runs are named (exit 0: the report says the
    suite is partial), a conflict is one line and exit 2 with nothing written."""
    from bench.report import document

    out = out_folder(a.out)
    files = [(Path(p), results.load(p)) for p in a.files]
    suites = shard.merge_by_device(files)
    paths = [results.run_path(out, s.run_id) for s in suites]
    for path in paths:
        if path.exists():
            raise UsageError(f"{path} already exists: results are never overwritten")
    for s, path in zip(suites, paths, strict=True):
        results.create(out, s)
        devices = f" ({shard.device_of(s)})" if len(suites) > 1 else ""
        print(f"merged {len(s.environment['shards'])} shard(s){devices}, {len(s.results)} runs: {path}")
    if len(suites) == 1:
        _, written = document.write_run(suites[0], out)
    else:
        written = document.write(suites, out)
    print(f"report: {written}")
    for s in suites:
        if s.missing:
            devices = f" on {shard.device_of(s)}" if len(suites) > 1 else ""
            print(
                f"fwbench merge: partial{devices}: {len(s.missing)} planned run(s) or shard(s) missing: "
                + "; ".join(s.missing[:12])
                + (" ..." if len(s.missing) > 12 else ""),
                file=sys.stderr,
            )
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from bench.records import pbjson
    from bench.report import document

    out = out_folder(a.out)
    paths = results.resolve(a.results, out)
    if not a.results:
        paths = paths[-1:]  # the newest run (run ids sort by time)
    suites = pbjson.load_all_any(paths)  # fwbench results or pytest-benchmark JSON, by content
    if a.history:
        history = document.load_history(results.resolve(a.history, out))
    else:
        history = document.load_history(sorted((out / "runs").glob("*.json"))) if not a.results else []
    written = document.write(suites, out, history=history)
    print(f"report: {written} (from {', '.join(str(p) for p in paths)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = build_parser().parse_args(argv)
        if a.command == "list":
            return cmd_list()
        if a.command == "run":
            return cmd_run(a, argv)
        if a.command == "overhead":
            return cmd_overhead(a)
        if a.command == "merge":
            return cmd_merge(a)
        if a.command == "compare":
            from bench.analysis import compare

            return compare.run(a.baseline, a.current, a.threshold, a.all, a.markdown)
        return cmd_report(a)
    except UsageError as e:
        print(f"fwbench: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # e.g. "[Errno 28] No space left on device: 'results/runs/...'"
        print(f"fwbench: error: {e}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        print("fwbench: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
