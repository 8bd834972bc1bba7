"""The "pipeline" scenario: each framework's own input pipeline reading image files, alone and feeding training.

The image workloads' training split is written once as image files in class folders (PNG by default,
`--image-format jpeg`; from the seeded synthetic set, or the official CIFAR-10 files under `--data-dir`),
or read from the user's `--image-dir`. Then, in one worker process per (workload, backend, seed), for
each setting of the framework's sweep (impls/<framework>/pipeline.py `settings`: the documented defaults
first, then tuned ones), one pipeline is opened and driven for PIPELINE_EPOCHS epochs over the same files:

- epoch 0, input alone, warm-up: the time from asking for the epoch to its first batch is the first-batch
  latency (worker start-up, the first decodes); the tree's peak memory (PSS, so that pages shared by
  forked workers count once) is sampled every MEMORY_SAMPLE_S over this epoch, and once after epoch 1;
- epoch 1, input alone, measured, with no sampler running: samples/s and the CPU cores the process tree
  used (its CPU time over the wall time: the fwbench worker and every DataLoader worker);
- epoch 2, feeding training: each step's wait (asking for the batch, until it is a tensor on the device:
  the backend's `prepare`) and the step itself (`train_step`) on the harness's clock; end-to-end samples/s
  and the input stall (the waits' share of wait + step).

The same model also trains from memory (the files' decoded pixels, normalised as the pipelines normalise
them, not augmented): one warm-up epoch before the sweep (first steps, tracing), then one epoch right
before each setting's fed epoch, so that each setting is compared with a ceiling measured next to it. Every epoch of every setting checks that each file came exactly once; a setting that
breaks (a worker dies, a file does not decode) is recorded failed with its reason, and the cell fails.

The cell's step times (those the verdict rule compares) are the end-to-end steps (wait + step) of its
fastest tuned setting. This module imports neither torch nor tensorflow; the pipeline modules do.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.core import backends, cache, workloads
from bench.core.spec import IMAGE_DATASETS, RunConfig, Workload
from bench.interfaces.pipeline_spec import (
    ImageFiles,
    Pipeline,
    PipelineSetting,
    PipelineSpec,
    list_images,
    shuffled,
    write_images,
)
from bench.machine import contention
from bench.machine.memory import MIB, peak_rss_mib, rss_mib
from bench.measure import harness
from bench.measure.run_support import collected_after, load_weights
from bench.measure.timing import timing_fields
from bench.records import results
from bench.records.results import PipelineRun

SCENARIO = "pipeline"
# The framework's pipeline module, by the framework that runs the backend's step (bench.core.backends.BackendInfo).
MODULES: Mapping[str, str] = {"torch": "impls.torch.pipeline", "tensorflow": "impls.keras.pipeline"}
PIPELINE_EPOCHS = 3  # per setting: input warm-up, input measured, training fed by the pipeline
MEMORY_SAMPLE_S = 0.05
IMAGES_VERSION = 1  # part of the image cache's key: a change in how files are written misses old folders


@dataclass(frozen=True)
class ImageSet:
    files: ImageFiles
    source: str  # where the pixels came from
    written_s: float | None  # seconds spent writing them (None: found written)


def unsupported_reason(cfg: RunConfig, wl: Workload, framework: str) -> str | None:
    if wl.dataset not in IMAGE_DATASETS:
        image = [w.name for w in workloads.WORKLOADS.values() if w.dataset in IMAGE_DATASETS]
        return f"the pipeline scenario reads image files: workload {wl.name!r} is not one of {', '.join(image)}"
    if framework not in MODULES:
        return f"backend {cfg.backend!r} runs on {framework}, which has no input pipeline here (torch, tensorflow)"
    return None


def source_pixels(cfg: RunConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """The training split as uint8 (N, H, W, C) pixels and labels, and where they came from."""
    from bench.core.datasets import cifar10

    if cfg.data_dir:
        folder = cifar10.batches_folder(Path(cfg.data_dir))
        x, y = cifar10.read_batches([folder / f for f in cifar10.TRAIN_FILES])
        where = str(folder)
    else:
        seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
        x, y = cifar10.synthetic_images(cifar10.SYNTHETIC_TRAIN, np.random.default_rng([seed, 0]))
        where = f"synthetic (seeded {seed})"
    return np.round(x * 255.0).astype(np.uint8), y, where


def image_files(cfg: RunConfig) -> tuple[ImageSet, Path | None]:
    """The files the pipelines read, and a folder to delete after the run (None: keep them). Written once
    into the user cache (bench/core/cache.py), keyed by what makes them; without a cache, into a temporary folder."""
    if cfg.image_dir:
        return ImageSet(list_images(Path(cfg.image_dir), cfg.image_format), cfg.image_dir, None), None
    x, y, where = source_pixels(cfg)
    key = {"what": "images", "version": IMAGES_VERSION, "format": cfg.image_format, "source": where, "n": len(x)}
    digest = hashlib.sha256(repr(sorted(key.items())).encode() + x[:: max(1, len(x) // 64)].tobytes()).hexdigest()
    base = cache.folder()
    temp = None if base is not None else Path(tempfile.mkdtemp(prefix=f"fwbench-images-{cfg.run_id}-"))
    root = (base / "images" / digest[:24]) if base is not None else temp / "train"  # type: ignore[operator]
    t0 = harness.clock_ns()
    found = root.is_dir()
    try:
        files = write_images(x, y, root, cfg.image_format)
    except OSError:  # an unwritable cache costs the time it would have saved, never a run
        temp = Path(tempfile.mkdtemp(prefix=f"fwbench-images-{cfg.run_id}-"))
        files = write_images(x, y, temp / "train", cfg.image_format)
        found = False
    written_s = None if found else (harness.clock_ns() - t0) / 1e9
    return ImageSet(files, where, written_s), temp


def channel_stats(pixels: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 (N, H, W, C) pixels scaled to [0, 1]."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    total = flat.sum(axis=0, dtype=np.float64) / 255.0
    total_sq = np.einsum("ij,ij->j", flat, flat, dtype=np.float64) / 255.0**2
    mean = total / len(flat)
    std = np.sqrt(np.maximum(total_sq / len(flat) - mean**2, 1e-12))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def decoded(files: ImageFiles) -> np.ndarray:
    """Every file's pixels, uint8 (N, H, W, C), in the files' order: the from-memory baseline's data."""
    from PIL import Image

    out = np.empty((len(files), files.height, files.width, files.channels), np.uint8)
    for i, p in enumerate(files.paths):
        with Image.open(p) as im:
            out[i] = np.asarray(im).reshape(files.height, files.width, files.channels)
    return out


def memory_batches(pixels: np.ndarray, labels: np.ndarray, spec: PipelineSpec, epoch: int) -> Iterator[dict]:
    """The from-memory baseline's batches: the pipelines' file order and normalisation, no augmentation."""
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    order = shuffled(len(pixels), spec.seed, epoch, spec.shuffle)
    for i in range(0, len(order), spec.batch_size):
        idx = order[i : i + spec.batch_size]
        yield {"x": (pixels[idx].astype(np.float32) / 255.0 - mean) / std, "y": labels[idx], "index": idx}


class TreeSampler:
    """Samples the process tree's memory (PSS: this process and its children) in a daemon thread. Each sample
    reads /proc/<pid>/smaps_rollup (about 0.13 ms of CPU a process here; psutil's memory_full_info parses the
    whole smaps, about 4 ms a process: a quarter of a core at 20 samples a second)."""

    def __init__(self, interval_s: float = MEMORY_SAMPLE_S) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def sample() -> int:
        """Bytes of PSS of this process and its live children (RSS where smaps_rollup cannot be read)."""
        me = psutil.Process()
        used = 0
        for p in (me, *me.children(recursive=True)):
            try:
                with open(f"/proc/{p.pid}/smaps_rollup") as f:
                    used += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
            except (OSError, StopIteration, ValueError):
                try:
                    used += p.memory_info().rss
                except psutil.Error:
                    continue
        return used

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.sample())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self.sample())


def tree_cpu_s() -> float:
    """CPU seconds (user + system) of this process and its live children."""
    me = psutil.Process()
    total = 0.0
    for p in (me, *me.children(recursive=True)):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def check_once(seen: Sequence[np.ndarray], n: int, epoch: int) -> None:
    """Raise when the epoch did not deliver every one of the `n` files exactly once."""
    idx = np.concatenate([np.asarray(s).ravel() for s in seen]) if seen else np.zeros(0, np.int64)
    counts = np.bincount(idx.astype(np.int64), minlength=n) if idx.size else np.zeros(n, np.int64)
    if len(counts) != n or not (counts == 1).all():
        missing, twice = int((counts[:n] == 0).sum()), int((counts > 1).sum())
        raise RuntimeError(f"epoch {epoch} delivered {idx.size} rows for {n} files: {missing} missing, {twice} twice")


@dataclass(frozen=True)
class EpochTimes:
    """One epoch through a pipeline. `samples_s` counts up to the last batch (input alone: from asking for the
    epoch; fed: over the steps' waits and steps); `end_ms` is the call that found the epoch over, apart: it can
    hold an iterator's teardown (tf.data, autotuning on as by default, joins its model thread: up to 0.5 s
    seen), a cost per epoch that a 1500-file epoch would weigh some 30 times more than CIFAR-10's 50,000."""

    first_ms: float
    samples_s: float
    end_ms: float
    wait_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)


def input_epoch(pipe: Pipeline, epoch: int, n: int) -> EpochTimes:
    """Iterate one epoch with no training."""
    return fed_epoch(None, pipe.epoch(epoch), n, epoch)


def fed_epoch(backend: Any, batches: Iterator[Mapping[str, Any]], n: int, epoch: int) -> EpochTimes:
    """One epoch of `batches`: each batch turned into the step's tensors (the backend's `prepare`) and trained
    on (`train_step`), or with no backend only made into numpy arrays (the input pipeline alone)."""
    waits, steps, seen = [], [], []
    rows = 0
    source = iter(batches)
    t_start = harness.clock_ns()
    while True:
        t0 = harness.clock_ns()
        b = next(source, None)
        if b is None:
            end_ms = (harness.clock_ns() - t0) / 1e6
            break
        x, y = np.asarray(b["x"]), np.asarray(b["y"])  # the batch as the training step takes it
        prepared = backend.prepare({"x": x, "y": y}) if backend is not None else None
        t1 = harness.clock_ns()
        if backend is not None:
            backend.train_step(prepared)
        t2 = harness.clock_ns()
        waits.append((t1 - t0) / 1e6)
        steps.append((t2 - t1) / 1e6)
        rows += len(y)
        seen.append(np.asarray(b["index"]))
    check_once(seen, n, epoch)
    if backend is None:  # input alone: from asking for the epoch to its last batch
        busy_s = (t0 - t_start) / 1e9
    else:
        busy_s = (sum(waits) + sum(steps)) / 1e3
    return EpochTimes(waits[0] if waits else 0.0, rows / busy_s if busy_s > 0 else 0.0, end_ms, waits, steps)


def measure_setting(
    module: Any,
    backend: Any,
    files: ImageFiles,
    spec: PipelineSpec,
    setting: PipelineSetting,
    ceiling: Callable[[], float],
) -> PipelineRun:
    """One setting: input alone (warm-up epoch, measured epoch), then the from-memory ceiling (`ceiling`: one
    epoch trained from memory, samples/s) and one epoch of training fed by the pipeline, back to back."""
    n = len(files)
    name, tuned, workers = setting.name, setting.tuned, setting.workers_axis
    pipe = None
    try:
        pipe = module.open_pipeline(files, spec, setting)
        description = dict(pipe.describe())
        with TreeSampler() as mem:  # over the warm-up epoch: worker start-up, a cache filling; not the timed one
            warm = input_epoch(pipe, 0, n)
        cpu0, t0 = tree_cpu_s(), harness.clock_ns()
        alone = input_epoch(pipe, 1, n)
        cpu1, t1 = tree_cpu_s(), harness.clock_ns()
        peak_pss = max(mem.peak_bytes, TreeSampler.sample())  # and once after the measured epoch
        memory_rate = ceiling()
        fed = fed_epoch(backend, pipe.epoch(2), n, 2)
    except Exception as e:  # the setting failed (a worker died, a file did not decode): recorded, the sweep goes on
        text = str(e).strip()
        reason = f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"[:500]
        return PipelineRun(name, tuned, workers, status="failed", reason=reason)
    finally:
        if pipe is not None:
            pipe.close()
    total = sum(fed.wait_ms) + sum(fed.step_ms)
    return PipelineRun(
        name,
        tuned,
        workers,
        description=description,
        first_batch_ms=warm.first_ms,
        input_samples_s=alone.samples_s,
        input_cores=(cpu1 - cpu0) / ((t1 - t0) / 1e9) if t1 > t0 else None,
        input_peak_pss_mib=peak_pss / MIB,
        e2e_samples_s=fed.samples_s,
        memory_fed_samples_s=memory_rate,
        stall_share=sum(fed.wait_ms) / total if total > 0 else None,
        epoch_end_ms=[warm.end_ms, alone.end_ms, fed.end_ms],
        wait_ms=fed.wait_ms,
        step_ms=fed.step_ms,
    )


def fastest_tuned(runs: Sequence[PipelineRun]) -> PipelineRun | None:
    ok = [r for r in runs if r.status == "ok" and r.tuned and r.e2e_samples_s]
    return max(ok, key=lambda r: r.e2e_samples_s or 0.0) if ok else None


def measure(cfg: RunConfig) -> results.Result:
    """Scenario "pipeline": the framework's input pipeline over the image files, alone and feeding training."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_start = os.getloadavg()[0]
    info = backends.get(cfg.backend)
    wl = workloads.get(cfg.workload)
    reason = unsupported_reason(cfg, wl, info.framework)
    if reason:
        return results.new_result(cfg, info.framework, "unsupported", reason, started_at, os.getpid())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with collected_after():
            backend = info.make(cfg.backend_options())
            module = importlib.import_module(MODULES[info.framework])
            rss_imports = rss_mib()
            images, temp = image_files(cfg)
        try:
            return measure_sweep(cfg, wl, info, backend, module, images, started_at, load_start, rss_imports)
        finally:
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)


def measure_sweep(
    cfg: RunConfig,
    wl: Workload,
    info: backends.BackendInfo,
    backend: Any,
    module: Any,
    images: ImageSet,
    started_at: str,
    load_start: float,
    rss_imports: float,
) -> results.Result:
    """The framework's sweep over the files (module docstring), with the from-memory baseline beside it."""
    files = images.files
    pixels, labels = decoded(files), np.asarray(files.labels, np.int64)  # every file read once, here
    mean, std = channel_stats(pixels)
    spec = PipelineSpec(batch_size=wl.batch_size, seed=cfg.seed, mean=mean, std=std, device=cfg.device, fault=cfg.fault)
    rss_data = rss_mib()
    init = load_weights(cfg.init_path) if cfg.init == "shared" and cfg.init_path else None
    backend.build(wl, init)
    n = len(files)
    cores = len(contention.usable_cpus())
    cpu_start, window_t0 = contention.snapshot(), harness.clock_ns()
    fed_from_memory: list[float] = []  # samples/s of each epoch trained from memory after the warm-up one

    def ceiling() -> float:
        epoch = len(fed_from_memory) + 1
        rate = fed_epoch(backend, memory_batches(pixels, labels, spec, epoch), n, epoch).samples_s
        fed_from_memory.append(rate)
        return rate

    memory_steps = fed_epoch(backend, memory_batches(pixels, labels, spec, 0), n, 0).step_ms  # warm-up: first steps
    runs = [measure_setting(module, backend, files, spec, s, ceiling) for s in module.settings(cores)]
    window_s = (harness.clock_ns() - window_t0) / 1e9
    # the pipelines' workers may use every usable core: the run asks for all of them
    cpu = contention.usage(cpu_start, contention.snapshot(), window_s, cores)
    peak = peak_rss_mib()
    best = fastest_tuned(runs)
    record = results.Pipeline(
        files=n,
        format=files.format,
        image_source=images.source,
        written_s=images.written_s,
        mean=list(mean),
        std=list(std),
        memory_fed_samples_s=float(np.median(fed_from_memory)) if fed_from_memory else None,
        memory_fed_warmup_step_ms=memory_steps,
        fastest_tuned=best.setting if best else None,
        runs=runs,
    )
    failed = [r for r in runs if r.status != "ok"]
    status, reason = (
        ("failed", "; ".join(f"setting {r.setting}: {r.reason}" for r in failed)[:1000]) if failed else ("ok", "")
    )
    step_ms = [w + s for w, s in zip(best.wait_ms, best.step_ms, strict=True)] if best else []
    return results.new_result(
        cfg,
        info.framework,
        status,
        reason,
        started_at,
        os.getpid(),
        dataset={"name": wl.dataset, "source": images.source, "files": n, "format": files.format},
        settings=backend.settings(),
        samples_per_step=wl.batch_size,
        steps=len(step_ms),
        **timing_fields(step_ms, wl.batch_size, None, cfg.seed),
        memory=results.Memory(
            kind="peak_rss",
            peak_mib=peak,
            peak_rss_mib=peak,
            rss_after_imports_mib=rss_imports,
            rss_after_data_mib=rss_data,
            model_share_rss_mib=peak - rss_data,
        ),
        load_avg_1m=[load_start, os.getloadavg()[0]],
        cpu=cpu.to_dict(),
        pipeline=record,
    )
