"""A fresh process doing one job: `python -m bench.worker JOB.json OUT.json`.

JOB.json is one tagged job document (bench.core.spec.job_document: {"job": KIND, ...}); the worker does
that job and writes one JSON document to OUT.json:
- "run" (bench.core.spec.RunConfig): one measured run of one scenario -> a bench.records.results.Result;
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

import contextlib
import gc
import itertools
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import backends, flops, stats, workloads
from bench.core.spec import PROFILES, BackendOptions, ExportInitJob, OverheadJob, PeakJob, RunConfig, read_job
from bench.core.typedjson import atomic_write_json, parse_json
from bench.machine import contention
from bench.machine.memory import NvmlSampler, peak_rss_mib, rss_mib
from bench.measure import harness, tasks
from bench.records import results


def load_weights(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def inject(fault: str | None) -> None:
    """Fault injection for the isolation tests (RunConfig.fault; "diverge" is the harness's poison_step)."""
    if fault:
        print(f"fwbench worker: injecting fault {fault!r}", file=sys.stderr, flush=True)
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif fault == "hang":
        time.sleep(3600)
    elif fault == "raise":
        raise RuntimeError("injected failure")
    elif fault == "oom":  # a real failed allocation: address space capped just above what is in use
        import resource

        import psutil

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (psutil.Process().memory_info().vms + 2**28, hard))
        np.empty(2**33, dtype=np.uint8)  # 8 GiB, never touched: fails at the mapping, takes no memory


@contextlib.contextmanager
def collected_after() -> Iterator[None]:
    """The framework's import and the model's build without Python's cyclic collector, then one full
    collection: during an import the collector walks the framework's fresh objects again and again (about
    0.5 s of torch's 3 s start, 1 s of TensorFlow's); after the one collection the timed steps start as
    after an ordinary start, every survivor in the oldest generation."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def train(cfg: RunConfig) -> results.Result:
    """Scenario "train": the workload's training budget, timed step by step, then its evaluation."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_start = os.getloadavg()[0]
    info = backends.get(cfg.backend)
    wl = workloads.get(cfg.workload)
    profile = PROFILES[cfg.profile]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        with collected_after():
            backend = info.make(cfg.backend_options())
            rss_imports = rss_mib()
            task = tasks.make(wl, cfg.seed, cfg.data_dir, cfg.data_seed)
            rss_data = rss_mib()
            init = load_weights(cfg.init_path) if cfg.init == "shared" and cfg.init_path else None
            try:
                backend.build(wl, init)
            except NotImplementedError as e:
                return results.new_result(
                    cfg,
                    info.framework,
                    "unsupported",
                    str(e),
                    started_at,
                    os.getpid(),
                    dataset=task.describe(),
                    settings=backend.settings(),
                )
        inject(cfg.fault)
        backend.reset_peak_memory()
        epochs = cfg.epochs_override or wl.epochs_for(cfg.profile)
        with NvmlSampler() if cfg.device == "cuda" else contextlib.nullcontext() as nvml:
            m = harness.run(
                backend,
                task,
                epochs,
                profile.warmup_steps,
                poison_step=3 if cfg.fault == "diverge" else None,
                max_steps=cfg.steps,
                readings=(lambda: {"energy_j": e} if (e := nvml.energy_since_start_j()) is not None else {})
                if nvml is not None
                else None,
            )
        energy_j = nvml.energy_since_start_j() if nvml is not None else None
    # Memory first: the statistics below (a bootstrap over every step) are the harness's work, not training's.
    peak = peak_rss_mib()
    device_mem = backend.device_memory()
    summary = stats.summarize(m.step_ms, seed=cfg.seed)
    median = summary["median_step_ms"]
    memory = results.Memory(
        kind="allocator_peak" if device_mem else "peak_rss",
        peak_mib=device_mem.get("allocator_peak_allocated_mib", peak) if device_mem else peak,
        peak_rss_mib=peak,
        rss_after_imports_mib=rss_imports,
        rss_after_data_mib=rss_data,
        model_share_rss_mib=peak - rss_data,
        device=device_mem,
        nvml_process_peak_mib=nvml.peak_mib if nvml is not None else None,
    )
    step_flops = flops.train_step_flops(wl, task.samples_per_step)
    seen: dict[str, None] = {}
    for w in caught:
        seen.setdefault(f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}", None)
    cpu = contention.usage(m.cpu_start, m.cpu_end, m.window_s, cfg.threads) if m.cpu_start and m.cpu_end else None
    status, reason = "ok", ""
    if m.diverged_at_step is not None:
        status, reason = "diverged", f"loss {m.final_loss} at step {m.diverged_at_step}"
    return results.new_result(
        cfg,
        info.framework,
        status,
        reason,
        started_at,
        os.getpid(),
        dataset=task.describe(),
        settings=backend.settings(),
        warnings=list(seen)[:20],
        metric=m.final_metrics.get(wl.metric),
        metrics=m.final_metrics,
        final_loss=m.final_loss,
        epoch_loss=m.epoch_loss,
        eval_history=m.eval_history,
        num_params=backend.num_params(),
        samples_per_step=task.samples_per_step,
        steps=m.steps,
        first_step_ms=m.first_step_ms,
        warmup_step_ms=m.warmup_step_ms,
        step_ms=m.step_ms,
        median_step_ms=median,
        mean_step_ms=summary["mean_step_ms"],
        iqr_step_ms=summary["iqr_step_ms"],
        ci95_step_ms=summary["ci95_step_ms"],
        throughput_samples_s=task.samples_per_step / (median / 1e3) if median else None,
        train_time_s=m.train_time_s,
        time_to_target_s=m.time_to_target_s,
        epochs_to_target=m.epochs_to_target,
        memory=memory,
        load_avg_1m=[load_start, os.getloadavg()[0]],
        flops_per_step=step_flops,
        achieved_gflops=step_flops / (median / 1e3) / 1e9 if step_flops and median else None,
        settled=m.settled,
        cpu=cpu.to_dict() if cpu else {},
        energy=energy_record(energy_j, m, task.samples_per_step, cfg.device),
    )


def energy_record(energy_j: float | None, m: harness.Measurement, samples_per_step: int, device: str) -> results.Energy:
    """The GPU's energy over the training loop (NVML), per step, per sample and to the target; on a CPU, or
    without the counter, absent with the reason."""
    if energy_j is None:
        why = "no GPU energy counter on cpu" if device != "cuda" else "NVML gave no total-energy counter"
        return results.Energy(note=why)
    at_target = next((h.get("energy_j") for h in m.eval_history if h.get("epoch") == m.epochs_to_target), None)
    return results.Energy(
        joules=energy_j,
        per_step_j=energy_j / m.steps if m.steps else None,
        per_sample_j=energy_j / (m.steps * samples_per_step) if m.steps else None,
        to_target_j=at_target,
        window_s=m.window_s,
        note="the training loop: steps, batch making and evaluations (none with --steps)",
    )


def export_init(job: ExportInitJob) -> dict[str, Any]:
    """For each seed and workload, the torch twin's initial weights (canonical layout) as
    <folder>/<workload>-seed<seed>.npz; a workload whose build fails is in "errors" ("workload/seed":
    why) and the others go on."""
    info = backends.get("torch-eager")
    written: list[str] = []
    errors: dict[str, str] = {}
    for seed, name in itertools.product(job.seeds, job.workloads):
        out = Path(job.folder) / f"{name}-seed{seed}.npz"
        try:
            backend = info.make(BackendOptions("cpu", 1, 1, seed))  # seeds torch: each export starts from the seed
            backend.build(workloads.get(name), None)
            w = backend.get_weights()
        except Exception as e:  # recorded for the launcher; the other workloads go on
            errors[f"{name}/{seed}"] = f"{type(e).__name__}: {e}"
            continue
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, **w)
        os.replace(tmp, out)
        written.append(str(out))
    return {"written": written, "errors": errors}


def matmul_peak(job: PeakJob) -> dict[str, Any]:
    """The framework's float32 matmul rate on this machine: the best of 20 timed calls after 3 warm-ups."""
    n = 4096 if job.options.device == "cuda" else 1024
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
        m = harness.run(backend, task, epochs, 0)
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
    if launcher is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != int(launcher):  # reparented already: the launcher died before prctl
        try:
            os.kill(int(launcher), 0)
        except ProcessLookupError:
            sys.exit("fwbench worker: the launcher is gone")


def scenario(name: str) -> Callable[[RunConfig], results.Result]:
    """What a "run" job measures, by its scenario (bench.core.spec.SCENARIOS): training here; inference and
    export in bench.scenarios.deploy; data-parallel training in bench.scenarios.distributed; input pipelines in bench.scenarios.pipeline."""
    if name == "train":
        return train
    if name in ("infer", "export"):
        from bench.scenarios import deploy

        return deploy.infer if name == "infer" else deploy.export
    if name == "distributed":
        from bench.scenarios import distributed

        return distributed.train
    if name == "pipeline":
        from bench.scenarios import pipeline

        return pipeline.run
    raise ValueError(f"scenario {name!r} has no worker entry")


def do(job: Any) -> dict[str, Any]:
    """The one document a job produces."""
    match job:
        case RunConfig():
            return scenario(job.scenario)(job).to_dict()
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
    atomic_write_json(Path(argv[1]), do(job))
    # The document is written: spare the interpreter's exit its collection of every object a framework made
    # (about 1 s after torch, which the launcher waits for). Exit handlers and flushing still run.
    gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
