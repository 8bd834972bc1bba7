"""A fresh process doing one job: `python -m bench.worker JOB.json OUT.json`.

JOB.json is one tagged job document (bench.core.spec.job_document: {"job": KIND, ...}); the worker does
that job and writes one JSON document to OUT.json:
- "run" (bench.core.spec.RunConfig): one measured run of one scenario (bench.scenarios.SCENARIOS: the
  `measure` of bench/scenarios/<scenario>.py) -> a bench.records.results.Result;
- "export-init" (ExportInitJob): each workload's torch-twin initial weights per seed, in canonical
  layout, which every backend loads under `--init shared` -> {"written": [...], "errors": {...}};
- "peak" (PeakJob): the framework's float32 matmul rate -> {"gflops_best": ...};
- "overhead" (OverheadJob): harness and bare-loop blocks for `fwbench overhead`.

The launcher (bench/launching/launch.py, `run_job`) starts one per job, so that torch and tensorflow never
share a process and memory peaks never mix. Thread counts come in through the environment (set
by the launcher before the interpreter starts) and through the backend's constructor
(BackendOptions, applied before the framework's first op). This module never imports pandas.
"""

from __future__ import annotations

import gc
import itertools
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench import scenarios
from bench.core import backends, workloads
from bench.core.files import atomic_write_npz
from bench.core.spec import (
    MULTI_PROCESS_SCENARIOS,
    PEAK_MATMUL_N,
    BackendOptions,
    ExportInitJob,
    OverheadJob,
    PeakJob,
    RunConfig,
    init_weights_name,
    read_job,
)
from bench.core.typedjson import atomic_write_json, parse_json
from bench.machine import contention
from bench.machine.process import die_with_parent
from bench.measure import harness, tasks


def export_init(job: ExportInitJob) -> dict[str, Any]:
    """For each seed and workload, the torch twin's initial weights (canonical layout) as
    <folder>/<workload>-seed<seed>.npz; a workload whose build fails is in "errors" ("workload/seed":
    why) and the others go on."""
    info = backends.get("torch-eager")
    written: list[str] = []
    errors: dict[str, str] = {}
    for seed, name in itertools.product(job.seeds, job.workloads):
        out = Path(job.folder) / init_weights_name(name, seed)
        try:
            backend = info.make(BackendOptions("cpu", 1, 1, seed))  # seeds torch: each export starts from the seed
            backend.build(workloads.get(name), None)
            w = backend.get_weights()
        except Exception as e:  # recorded for the launcher; the other workloads go on
            errors[f"{name}/{seed}"] = f"{type(e).__name__}: {e}"
            continue
        atomic_write_npz(out, w)
        written.append(str(out))
    return {"written": written, "errors": errors}


def matmul_peak(job: PeakJob) -> dict[str, Any]:
    """The framework's float32 matmul rate on this machine: the best of 20 timed calls after 3 warm-ups."""
    n = PEAK_MATMUL_N[job.options.device]
    backend = backends.get(job.backend).make(job.options)
    call = backend.matmul(n)
    harness.time_calls(call, 3)
    times_ms = harness.time_calls(call, 20)
    gflop = 2.0 * n**3 / 1e9
    return {
        "backend": job.backend,
        "n": n,
        "gflops_best": gflop / (min(times_ms) / 1e3),
        "gflops_median": gflop / (float(np.median(times_ms)) / 1e3),
    }


class FirstSteps:
    """A classification task cut to its first `steps_per_epoch` batches per epoch (overhead blocks)."""

    def __init__(self, task: tasks.Task, steps_per_epoch: int) -> None:
        self.task = task
        self.workload = task.workload
        self.batches_ahead = task.batches_ahead
        self.steps_per_epoch = steps_per_epoch

    def batches(self, epoch: int, backend: Any) -> Any:
        return itertools.islice(self.task.batches(epoch, backend), self.steps_per_epoch)

    def evaluate(self, backend: Any) -> dict[str, float]:
        return self.task.evaluate(backend)


OVERHEAD_BLOCK_STEPS = 48  # steps per block: long enough that a block mean is stable, short enough to alternate often


def overhead_blocks(job: OverheadJob) -> dict[str, Any]:
    """The harness and a bare loop in one process, on the same batches, in alternating blocks.

    Each block trains OVERHEAD_BLOCK_STEPS steps (whole epochs of the workload's first batches),
    evaluates the test set after each epoch, and keeps every step's time: for the harness, its own
    per-step clock (batches made and moved ahead in chunks, evaluation through the task and the
    adapter, as in a real run); for the bare loop, the same clock around each call of its step. One block of each first warms both up (tracing,
    compilation, caches); then `blocks` pairs run in ABBA order so that drift hits both alike.
    Both sides do the same untimed work between steps: each epoch's numpy batches drawn from the task
    (fresh arrays, as a shuffling loader gives) and made into tensors (the harness 32 ahead, the bare
    loop at the epoch's start) and the test set graded through
    `ClassifyTask.grade` after each epoch (the harness via the adapter's predict, the bare loop via its
    own plain predict), so that what differs is the timed step and what the harness does around it.
    `job.bare_first` builds the bare loop's model first and starts with a bare block: the launcher
    alternates it from process to process, so that neither side always gets the first-allocated
    model.
    """
    info = backends.get(job.backend)
    wl = workloads.get(job.workload)
    device, blocks, bare_first = job.options.device, job.blocks, job.bare_first
    backend = info.make(job.options)
    full = tasks.make(wl, job.options.seed)
    if not isinstance(full, tasks.ClassifyTask):
        raise ValueError(f"overhead runs classification workloads only; not: {job.workload}")
    per_epoch = min(OVERHEAD_BLOCK_STEPS, sum(1 for _ in full.batches(0, backend)))
    epochs = -(-OVERHEAD_BLOCK_STEPS // per_epoch)
    task = FirstSteps(full, per_epoch)
    steps_per_block = sum(1 for e in range(epochs) for _ in task.batches(e, backend))
    make_loop = info.bare_loop()
    if bare_first:
        bare_prepare, bare_step, bare_predict = make_loop(wl, backend, device)
        backend.build(wl, None)
    else:
        backend.build(wl, None)
        bare_prepare, bare_step, bare_predict = make_loop(wl, backend, device)

    def harness_block() -> list[float]:
        m = harness.run(backend, task, epochs, 0, min_steady_s=0)
        return [m.first_step_ms or 0.0, *m.warmup_step_ms, *m.step_ms]

    def bare_block() -> list[float]:
        times: list[float] = []
        for e in range(epochs):
            ready = [bare_prepare(b) for b in task.batches(e, backend)]  # the same numpy batches, made afresh
            times += harness.time_each(lambda i: bare_step(ready[i]), range(len(ready)))  # noqa: B023
            full.grade(bare_predict)
        return times

    harness_block()
    bare_block()
    out: dict[str, Any] = {"steps_per_block": steps_per_block, "harness_step_ms": [], "bare_step_ms": []}
    first, second = ("bare", "harness") if bare_first else ("harness", "bare")
    for i in range(blocks):
        for mode in (first, second) if i % 2 == 0 else (second, first):
            out[f"{mode}_step_ms"].append(harness_block() if mode == "harness" else bare_block())
    return out


def die_with_launcher() -> None:
    """Linux: have the kernel SIGKILL this worker when its launcher dies, even by SIGKILL, so that no
    orphan keeps training (and loading the machine under a resumed suite). No-op elsewhere."""
    launcher = os.environ.get("FWBENCH_LAUNCHER_PID")
    if launcher is None or not die_with_parent():
        return
    if os.getppid() != int(launcher):  # reparented already: the launcher died before prctl
        try:
            os.kill(int(launcher), 0)
        except ProcessLookupError:
            sys.exit("fwbench worker: the launcher is gone")


def job_output(job: Any) -> dict[str, Any]:
    """Do the job; the one document it produces (a "run": its scenario's Result, through bench.scenarios.SCENARIOS)."""
    match job:
        case RunConfig():
            return scenarios.entry(job.scenario)(job).to_dict()
        case ExportInitJob():
            return export_init(job)
        case PeakJob():
            return matmul_peak(job)
        case OverheadJob():
            return overhead_blocks(job)
    raise TypeError(f"no worker for job {job!r}")


def main(argv: list[str]) -> int:
    die_with_launcher()
    if len(argv) != 2:
        print("usage: python -m bench.worker JOB.json OUT.json (JOB: a bench.core.spec job document)", file=sys.stderr)
        return 2
    job = read_job(parse_json(Path(argv[0]).read_text()))
    if not (isinstance(job, RunConfig) and job.scenario in MULTI_PROCESS_SCENARIOS):
        contention.pin_worker(os.environ)  # before any framework starts its threads
    atomic_write_json(Path(argv[1]), job_output(job))
    # The document is written: spare the interpreter's exit its collection of every object a framework made
    # (about 1 s after torch, which the launcher waits for). Exit handlers and flushing still run.
    gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
