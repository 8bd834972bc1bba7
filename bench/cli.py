"""The command line: `fwbench list | run | overhead | report | merge | compare` (also `python -m bench`).

It parses the arguments and dispatches. What a run will do is planned in bench/planning (selection:
the workloads and backends named; preflight: what is checked before a worker starts; budget; shard;
resume: the results folder's earlier suites and what is left to run; estimate), run by bench/launching and
reported by bench/report. Bad input is one line on stderr naming the bad value and the valid ones, and
exit code 2.
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
from bench.core import backends, cache, formatting, typedjson, workloads
from bench.core.errors import UsageError
from bench.core.plan import SuitePlan
from bench.core.spec import IMAGE_FORMATS, PRECISIONS, PROFILES, RUNTIMES, SCENARIOS
from bench.launching import launch
from bench.machine import contention, env, process
from bench.planning import budget, estimate, preflight, resume, selection, shard
from bench.records import results

EXIT_USAGE = 2
EXIT_ENVIRONMENT = 1  # the machine refused (full disk, unwritable folder): results written so far stay
EXIT_FAILED_RUNS = 1  # `fwbench overhead`: some worker processes failed or timed out (each named on stderr)
# The default of --redo-contended. The test suite sets it to 0: there the contention is the other test
# worker, and waiting for it to be quiet would only stretch the suite (tests/conftest.py).
REDO_ENV = "FWBENCH_REDO_CONTENDED"
DEFAULT_MARGIN = 0.10  # --margin's: bench.core.stats.DEFAULT_MARGIN (scipy not imported here; a test checks)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return int_at_least(text, 1)


def redo_rounds(text: str) -> int:
    """--redo-contended: how many times a contended run may be run again, an integer >= 0 (0 turns the redo off)."""
    return int_at_least(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def fraction(text: str) -> float:
    """0.05 or 5%: a relative change strictly between 0 and 1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use 0.05 or 5%)") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (0.05 or 5%), got {text}")
    return value


def build_parser() -> Parser:
    parser = Parser(prog="fwbench", description="PyTorch vs TensorFlow, measured: train twin models, compare them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sub.add_parser("list", help="workloads, backends, and whether each backend's framework is installed")
    cache_cmd = sub.add_parser("cache", help=f"list or clear the user cache (kept within {cache.bound_text()})")
    cache_cmd.add_argument("action", choices=("list", "clear"))

    run = sub.add_parser("run", help="run workloads x backends (one process each), write results and the report")
    add_run_selection_arguments(run)
    add_run_scenario_arguments(run)
    add_run_settings_arguments(run)
    add_margin_argument(run)
    add_overhead_arguments(
        sub.add_parser("overhead", help="harness vs a bare training loop, per backend: the harness's distortion")
    )
    add_report_arguments(sub.add_parser("report", help="render REPORT.md from results files"))
    add_merge_arguments(
        sub.add_parser("merge", help="join the shards of one plan (`fwbench run --shard K/N`) into one suite")
    )
    add_compare_arguments(
        sub.add_parser("compare", help="regressions of CURRENT against BASELINE (exit 1 on regression)")
    )
    return parser


def add_run_selection_arguments(run: Parser) -> None:
    """`fwbench run`: which workloads, backends, sizes, precisions, budget of steps, scenarios and runtimes."""
    run.add_argument("--workloads", nargs="+", metavar="NAME", help=f"default: all ({', '.join(workloads.WORKLOADS)})")
    run.add_argument(
        "--backends",
        nargs="+",
        metavar="NAME",
        help=f"backends ({', '.join(backends.BACKENDS)}) or groups: "
        + "; ".join(f"{k}: {v}" for k, v in backends.GROUPS.items())
        + " (default: the group default)",
    )
    run.add_argument(
        "--scale",
        nargs="+",
        metavar="SCALE",
        help="which workload sizes: small (default: trains to its target in minutes on a CPU), base (ResNet-18/50, "
        "BERT-base, a 2x512 LSTM: the published reference sizes; on a CPU run them with --steps), or both",
    )
    run.add_argument(
        "--precision",
        nargs="+",
        metavar="NAME",
        help=f"numeric precisions, each a run of every cell: {', '.join(PRECISIONS)} (default fp32: strict float32, "
        "TF32 off); one a backend or device cannot run is an unsupported cell with its reason",
    )
    run.add_argument(
        "--steps",
        type=positive_int,
        help="a step budget instead of the profile's epochs: steady-state speed and memory, no evaluation or target",
    )
    run.add_argument(
        "--scenario",
        nargs="+",
        metavar="NAME",
        help=f"what each cell measures: {', '.join(SCENARIOS)} (default train; comma or space separated): infer "
        "times each backend's own inference path after training, export each export path in its runtime, "
        "distributed data-parallel training over --workers processes, pipeline each framework's input pipeline "
        "(DataLoader, tf.data) reading the image workloads' files, alone and feeding training, profile a window of "
        "steady steps under each framework's own profiler, its time by kind of work (--steps: the window)",
    )
    run.add_argument(
        "--runtimes",
        nargs="+",
        metavar="NAME",
        help=f"the export scenario's runtimes (default all): {', '.join(RUNTIMES)}",
    )


def add_run_scenario_arguments(run: Parser) -> None:
    """`fwbench run`: the export, distributed and pipeline scenarios' own settings."""
    run.add_argument(
        "--keep-artifacts",
        metavar="DIR",
        help="keep the export scenario's exported files under DIR/RUN_ID/ (default: deleted after each run)",
    )
    run.add_argument(
        "--workers",
        nargs="+",
        type=positive_int,
        metavar="N",
        help="the distributed scenario's process counts per node, each a cell (default 1; e.g. --workers 1 2)",
    )
    run.add_argument(
        "--nodes",
        nargs="+",
        type=positive_int,
        metavar="N",
        help="the distributed scenario's node counts, each a cell with each --workers (default 1): N launchers, one "
        "per node, each starting --workers ranks (a world of N x workers); on this host over loopback",
    )
    run.add_argument(
        "--image-format",
        default="png",
        help=f"pipeline: the format the image files are written in: {', '.join(IMAGE_FORMATS)} (default png)",
    )
    run.add_argument(
        "--image-dir",
        metavar="DIR",
        help="pipeline: read DIR's class folders of images (DIR/<class>/<name>.png or .jpg) instead of writing the "
        "workload's dataset as files",
    )
    run.add_argument(
        "--scaling",
        default="weak",
        help="distributed: weak (default: each worker keeps the workload's batch) or strong (the global batch is "
        "the workload's, split across the workers)",
    )


def add_run_settings_arguments(run: Parser) -> None:
    """`fwbench run`: the device, the shard, the budget, the profile and seeds, threads, limits, folders, resume."""
    run.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    run.add_argument(
        "--shard",
        metavar="K/N",
        help="run part K of N of the plan (run i goes to shard i mod N + 1), under the run id --run-id gives, into "
        "runs/RUN_ID.shard-K-of-N.json; `fwbench merge` joins the parts. Default: a Slurm job array's task "
        "(SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT), else the whole plan",
    )
    run.add_argument("--run-id", metavar="ID", help="the run id (shards of one plan share one; default: a new one)")
    run.add_argument(
        "--budget",
        type=positive_float,
        metavar="MINUTES",
        help="fit the plan to this many minutes, estimated from this machine's earlier runs: leaves out backends "
        "(a framework's documented path beside its tuned one first), then the costliest workloads, and says what",
    )
    budget.add_max_runs_argument(run)
    run.add_argument("--profile", default="quick", help=f"{' or '.join(PROFILES)} (default quick)")
    run.add_argument("--repeats", type=positive_int, help="processes per (workload, backend), interleaved")
    run.add_argument(
        "--init",
        default="shared",
        help="shared (default: every backend starts from the torch twin's "
        "initial weights) or native (each framework's own initialisers)",
    )
    run.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="intra-op threads for both frameworks (default: the usable CPUs found idle over half a second before "
        "the suite, at least 1: a thread whose core another process takes slows torch down 25-100x)",
    )
    run.add_argument("--interop-threads", type=positive_int, default=1, help="inter-op threads for both (default 1)")
    run.add_argument("--seed", type=int, default=0, help="the first training seed, and the data's seed (default 0)")
    run.add_argument(
        "--seeds",
        type=positive_int,
        help="training seeds per (workload, backend): seed, seed+1, ... each with its own initial weights, batch "
        "order and dropout (shared by every backend), interleaved like repeats (default: the profile's)",
    )
    run.add_argument("--deterministic", action="store_true", help="deterministic kernels in both frameworks")
    run.add_argument(
        "--time-limit", type=positive_float, help="seconds per run before it is killed (default: profile's)"
    )
    run.add_argument("--epochs", type=positive_int, help="override every workload's epoch budget (smoke runs)")
    run.add_argument("--data-dir", help="folder with real datasets (CIFAR-10 binary, aclImdb, WAV folders)")
    run.add_argument("--out", default="results", help="results folder (default: results)")
    run.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run: only its missing runs are made")
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: also redo the runs that failed, timed out or ran out of memory (a crashed rank, a "
        "flaky node); their failure records stay in the file beside the new runs",
    )
    run.add_argument(
        "--redo-contended",
        type=redo_rounds,
        default=os.environ.get(REDO_ENV, str(launch.REDO_ROUNDS)),
        metavar="N",
        help="run a contended run again at the end of the suite, once the machine is quiet, up to N times "
        f"(default ${REDO_ENV} or {launch.REDO_ROUNDS}; 0: keep contended runs as they are). The replaced records "
        "stay in the file, under 'redone'",
    )


def add_overhead_arguments(overhead: Parser) -> None:
    overhead.add_argument("--workloads", nargs="+", metavar="NAME", help="default: mlp-iris cnn-cifar10 lstm-sentiment")
    overhead.add_argument("--backends", nargs="+", metavar="NAME", help="default: all installed")
    overhead.add_argument(
        "--repeats", type=positive_int, default=2, help="worker processes per (workload, backend) (default 2)"
    )
    overhead.add_argument(
        "--blocks", type=positive_int, default=10, help="harness/bare block pairs per process (default 10)"
    )
    overhead.add_argument("--threads", type=positive_int, default=None, help="default: the idle CPUs, as for run")
    overhead.add_argument("--device", default="cpu")
    overhead.add_argument(
        "--time-limit", type=positive_float, help="seconds per worker process before it is killed (default: 300)"
    )
    overhead.add_argument("--out", default="results", help="writes OUT/overhead/<id>.json")


def add_margin_argument(parser: Parser) -> None:
    """--margin: how close two sides must be shown to be for the report's answer "the same" (verdicts.py)."""
    margin_help = f'"the same" means within this fraction of the time, 0.1 or 10%% (default {DEFAULT_MARGIN:g})'
    parser.add_argument("--margin", type=fraction, default=DEFAULT_MARGIN, help=margin_help)


def add_report_arguments(report: Parser) -> None:
    report.add_argument("results", nargs="*", help="results files or folders (default: the newest run under --out)")
    report.add_argument("--out", default="results", help="folder for REPORT.md (default: results)")
    add_margin_argument(report)
    report.add_argument(
        "--history",
        nargs="+",
        metavar="PATH",
        help="earlier results files or folders, for the trend plot only (default without RESULTS: every run under --out)",
    )


def add_merge_arguments(merge: Parser) -> None:
    merge.add_argument(
        "out", metavar="OUT", help="results folder of the merged suite (OUT/runs/RUN_ID.json, OUT/REPORT.md)"
    )
    merge.add_argument("files", nargs="+", metavar="FILE", help="the shards' results files")


def add_compare_arguments(compare: Parser) -> None:
    compare.add_argument("baseline", help="results file or folder (per device model: see docs/REPORTS.md)")
    compare.add_argument("current", help="results file or folder")
    compare.add_argument(
        "--threshold",
        type=fraction,
        default=0.05,
        help="minimum relative change that counts, as 0.05 or 5%% (default 5%%)",
    )
    compare.add_argument(
        "--history",
        nargs="+",
        default=[],
        metavar="PATH",
        help="earlier results files or folders from this machine: each cell's between-run spread where a side has one run",
    )
    compare.add_argument("--all", action="store_true", help="list unchanged comparisons too")
    compare.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")


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


def out_folder(text: str) -> Path:
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {text!r} is a file, not a folder")
    return out


def check_before_running(plan: SuitePlan) -> None:
    """Everything checkable before a worker starts, in this order: that the plan runs here
    (bench.planning.preflight.check_runs_here), the pipeline's --image-dir (read through its interface,
    bench.interfaces.pipeline_spec, which sits above planning), the folders given (preflight.check_folders)."""
    preflight.check_runs_here(plan)
    if "pipeline" in plan.scenarios and plan.image_dir is not None:
        from bench.interfaces.pipeline_spec import check_image_dir

        check_image_dir(plan.image_dir, plan.image_format)
    preflight.check_folders(plan)


def resumed_run(args: argparse.Namespace, out: Path) -> tuple[results.Suite, SuitePlan]:
    """--resume RUN_ID: the run's suite and its own plan (bench.planning.resume.resumed_suite), checked before
    running again; a flag that would change the plan is refused."""
    defaults = vars(build_parser().parse_args(["run"]))
    kept = ("resume", "out", "retry_failed", "redo_contended", "margin")  # flags that do not change the plan
    given = sorted(k for k, v in vars(args).items() if k not in kept and v != defaults.get(k))
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UsageError(f"--resume continues the run's own plan: drop {flags}")
    suite, plan = resume.resumed_suite(out, args.resume)
    check_before_running(plan)
    return suite, plan


def new_plan(args: argparse.Namespace) -> SuitePlan:
    """A new run's plan (bench.planning.selection.plan_from_flags), without the workloads --data-dir has no
    data for, checked before any worker starts; without --threads, the threads are the CPUs found idle
    (measured last: the input is valid by then)."""
    if args.retry_failed:
        raise UsageError("--retry-failed redoes the failed runs of an earlier run: give it with --resume RUN_ID")
    plan = selection.plan_from_flags(args)
    plan.check_registered()
    plan = preflight.with_data_found(plan)
    check_before_running(plan)
    preflight.warn_base_scale_on_cpu(plan)
    if not args.threads:  # the input is valid: now spend half a second measuring the idle CPUs
        idle, source = preflight.default_threads(None)
        plan = dataclasses.replace(plan, threads=idle.threads, threads_source=source)
    return dataclasses.replace(plan, worker_cpus=contention.worker_cpus(plan.threads))


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`fwbench run`: the plan (a new one, or the resumed run's own), fitted to --budget and cut to this shard,
    said on stderr; then the runs, then the report. The results folder's earlier suites are read once: for
    the estimates now, and for the trend plot after the run."""
    out = out_folder(args.out)
    resumed, plan = resumed_run(args, out) if args.resume else (None, new_plan(args))
    earlier = resume.read_runs(out)
    past = estimate.history(earlier.values(), env.cpu_model())
    if args.budget is not None:
        plan = budget.fit_plan(plan, past, args.budget)
    part, run_id = shard.chosen_shard(args.shard, args.run_id, resumed, os.environ)
    plan = budget.with_max_runs(args, plan, part)
    todo = resume.todo_runs(plan, resumed, args.retry_failed, part)
    planned = estimate.estimate(plan, todo, past)
    of_shard = f" (shard {part} from {part.source})" if part else ""
    print(f"fwbench: plan: {resume.describe_runs(plan, len(todo))}{of_shard}, {planned.describe()}", file=sys.stderr)
    from bench.launching.progress import Progress

    run_id = resumed.run_id if resumed else run_id or launch.new_run_id()
    with process.interrupts_raise():
        try:
            with Progress(len(todo), planned.per_run_s) as progress:
                path = launch.run_suite(
                    plan,
                    out,
                    ["fwbench", *argv],
                    progress=progress.update,
                    resumed=resumed,
                    run_id=run_id,
                    retry_failed=args.retry_failed,
                    redo_rounds=args.redo_contended,
                    notify=progress.say,
                    shard=part,
                    margin=args.margin,
                )
        except KeyboardInterrupt as e:
            return interrupted(e, out, run_id)
        except OSError as e:  # a full disk mid-suite: the file keeps every run saved before it
            saved = results.run_path(out, run_id)
            hint = f"; {saved} keeps every saved run: finish with `fwbench run --resume {run_id} --out {out}`"
            print(f"fwbench: error: {e}" + (hint if saved.exists() else ""), file=sys.stderr)
            return EXIT_ENVIRONMENT
    return report_run(plan, out, path, part, earlier, args.margin)


def interrupted(e: KeyboardInterrupt, out: Path, run_id: str) -> int:
    """Ctrl-C or `kill` mid-suite: how to finish the run (or that nothing was saved); exit 128 + the signal."""
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


def report_run(
    plan: SuitePlan, out: Path, path: Path, part: shard.Shard | None, earlier: dict[str, results.Suite], margin: float
) -> int:
    """The finished run's report (its own, kept, and the folder's latest; the trend plot from the `earlier`
    suites read before the run, with this run's file as it is now); the answer and the files' paths on
    stdout, then what did not finish or was contended."""
    from bench.report import document

    suite = results.load(path)
    if not suite.results and part is not None:  # more shards than runs: this one's part is empty, and that is fine
        print(
            f"results: {path}\nfwbench: shard {part} holds none of the plan's {len(plan.runs())} runs (more shards "
            "than runs): its results file is written, empty, for the merge; no report"
        )
        return 0
    own, written = document.write_run(suite, out, history=resume.runs_after(earlier, path, suite), margin=margin)
    answer = document.terminal_text([suite], margin)
    if answer:  # the answer first, then where the files are
        print(f"\n{answer}\n")
    print(f"results: {path}\nreport:  {written} (this run's own, kept: {own})")
    say_what_went_wrong(plan, suite)
    return 0


def say_what_went_wrong(plan: SuitePlan, suite: results.Suite) -> None:
    """The runs that did not finish (and no retry answered), the contended runs run again, and (on stderr)
    the contended runs whose step times are not trusted."""
    answered = {r.key(plan.seed) for r in suite.results if r.status in ("ok", "unsupported")}  # a retry that worked
    bad = [r for r in suite.results if r.status not in ("ok", "unsupported") and r.key(plan.seed) not in answered]
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


def cmd_overhead(args: argparse.Namespace) -> int:
    from bench.launching import overhead

    plan = selection.overhead_plan(args, selection.overhead_workloads(args.workloads))
    check_before_running(plan)
    if not args.threads:
        plan = dataclasses.replace(plan, threads=preflight.default_threads(None)[0].threads)
    plan = dataclasses.replace(plan, worker_cpus=contention.worker_cpus(plan.threads))
    rows, failures = overhead.run(plan, args.blocks, progress=lambda msg: print(f"  {msg}", file=sys.stderr))
    if rows:
        print(formatting.markdown(overhead.table(rows)))
    path = Path(args.out) / "overhead" / f"{launch.new_run_id()}.json"
    typedjson.atomic_write_json(path, overhead.to_json(rows, plan, failures))
    print(f"written: {path}")
    for failure in failures:
        print(f"fwbench: overhead {failure.line()}", file=sys.stderr)
    return EXIT_FAILED_RUNS if failures else 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Shards in, one suite and its report out; a lost shard's runs are named (exit 0: the report says the
    suite is partial), a conflict is one line and exit 2 with nothing written."""
    from bench.report import document

    out = out_folder(args.out)
    files = [(Path(p), results.load(p)) for p in args.files]
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


def cmd_report(args: argparse.Namespace) -> int:
    from bench.records import pbjson
    from bench.report import document

    out = out_folder(args.out)
    paths = results.resolve(args.results, out)
    if not args.results:
        paths = paths[-1:]  # the newest run (run ids sort by time)
    suites = pbjson.load_all_any(paths)  # fwbench results or pytest-benchmark JSON, by content
    if args.history:
        history = document.load_history(results.resolve(args.history, out))
    else:
        history = document.load_history(sorted((out / "runs").glob("*.json"))) if not args.results else []
    written = document.write(suites, out, history=history, margin=args.margin)
    print(f"report: {written} (from {', '.join(str(p) for p in paths)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, _ = build_parser().parse_args(argv), cache.max_bytes()  # a bad $FWBENCH_CACHE_MAX_MIB: one line, exit 2
        if args.command in ("list", "cache"):
            return cmd_list() if args.command == "list" else cache.command(args.action)
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command in ("overhead", "merge"):
            return (cmd_overhead if args.command == "overhead" else cmd_merge)(args)
        if args.command == "compare":
            from bench.analysis import compare

            return compare.run(args.baseline, args.current, args.threshold, args.all, args.markdown, args.history)
        return cmd_report(args)
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
