"""tf.data's input rate on the pipeline scenario's files: the scenario's own tf.data pipeline
(impls/keras/pipeline.py, the setting names of its sweep) against an idiomatic tf.data loop, side by side.

    PYTHONPATH=. python docs/measurements/pipeline_tfdata.py [--rounds 25] [--epochs 2] [--fresh] [--out FILE.json]

The files are the scenario's (`fwbench run --scenario pipeline --workloads cnn-cifar10`, seed 0: the 1,500
synthetic training images as PNG files in the user cache, written here if missing), the batch is the
workload's (64), and TensorFlow gets one intra-op and one inter-op thread (TF_NUM_INTRAOP_THREADS,
TF_NUM_INTEROP_THREADS, as `--threads 1` sets them), unless the environment sets them already.

The idiomatic loop is what a TensorFlow user writes from the tf.data guide: from_tensor_slices((paths,
labels)).shuffle(n, reshuffle_each_iteration=True).map(read, decode_png, pad, tf.image.random_crop,
tf.image.random_flip_left_right, normalise; num_parallel_calls).batch(64).prefetch(AUTOTUNE). It draws
other batches than the scenario's (a shuffle buffer, stateful random ops): the same work, not the same rows.

Each pipeline is opened once and iterated for one untimed epoch (with --fresh: opened anew every round,
as the scenario opens one per setting, and its first epoch untimed, so that its second is measured). Then,
per round, each pipeline in turn (the order rotated every round) runs `--epochs` epochs, timed as the scenario times "input alone": from
asking for the epoch to its last batch, each batch made a numpy array (x and y), the call that finds the
epoch over left out. A sample is one pipeline's rows over those epochs' seconds, and the process's CPU time
per row over them (every thread's: tf.data's work, less sensitive than the rate to other processes on the
machine). The output gives each pipeline's samples and medians, and the scenario's over the idiomatic
loop's at the same parallelism, paired: the median over rounds of the two samples' ratio within a round,
which the machine's drift between rounds leaves alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from bench.core.spec import RunConfig
from bench.interfaces.pipeline_spec import AUTOTUNE, PAD_PX, ImageFiles, PipelineSpec
from bench.scenarios.pipeline import channel_stats, decoded, image_files

BATCH = 64  # cnn-cifar10's batch size
SEED = 0
PARALLEL = {"autotune": AUTOTUNE, "workers=2": 2}  # the scenario's setting name: num_parallel_calls


def scenario_files() -> ImageFiles:
    cfg = RunConfig(
        run_id="measure-tfdata",
        workload="cnn-cifar10",
        backend="keras",
        device="cpu",
        profile="quick",
        repeat=0,
        seed=SEED,
        init="native",
        init_path=None,
        threads=1,
        interop_threads=1,
        deterministic=False,
        scenario="pipeline",
    )
    images, temp = image_files(cfg)
    if temp is not None:
        raise SystemExit("the user cache is off (FWBENCH_NO_CACHE): the files would be written to a temporary folder")
    return images.files


def idiomatic(files: ImageFiles, spec: PipelineSpec, parallel: int) -> Callable[[int], Iterator[Any]]:
    """The tf.data guide's loop over the same files (its batches are (x, y) tuples)."""
    import tensorflow as tf

    h, w, c = files.height, files.width, files.channels
    mean = tf.constant(spec.mean, tf.float32)
    std = tf.constant(spec.std, tf.float32)

    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        img = tf.io.decode_png(tf.io.read_file(path), channels=c)
        img = tf.image.pad_to_bounding_box(img, PAD_PX, PAD_PX, h + 2 * PAD_PX, w + 2 * PAD_PX)
        img = tf.image.random_crop(img, (h, w, c))
        img = tf.image.random_flip_left_right(img)
        return (tf.cast(img, tf.float32) / 255.0 - mean) / std, label

    ds = tf.data.Dataset.from_tensor_slices((list(files.paths), np.asarray(files.labels, np.int64)))
    ds = ds.shuffle(len(files), seed=spec.seed, reshuffle_each_iteration=True)
    calls = tf.data.AUTOTUNE if parallel == AUTOTUNE else parallel
    ds = ds.map(load, num_parallel_calls=calls).batch(spec.batch_size).prefetch(tf.data.AUTOTUNE)
    return lambda e: iter(ds)


def scenario(files: ImageFiles, spec: PipelineSpec, setting: str) -> Callable[[int], Iterator[Any]]:
    """The scenario's tf.data pipeline at one setting of its sweep (its batches are dicts)."""
    from impls.keras import pipeline

    by_name = {s.name: s for s in pipeline.settings(2)}
    pipe = pipeline.open_pipeline(files, spec, by_name[setting])
    return pipe.epoch


def rate(epochs: Callable[[int], Iterator[Any]], first_epoch: int, count: int) -> tuple[float, float]:
    """Rows per second over `count` epochs, each from asking for it to its last batch, and the process's CPU
    time per row over them (microseconds: every thread's, tf.data's included)."""
    rows, busy_s, cpu_s = 0, 0.0, 0.0
    for e in range(first_epoch, first_epoch + count):
        t0 = last = time.perf_counter()
        c0 = c_last = time.process_time()
        for b in epochs(e):
            x, y = (b["x"], b["y"]) if isinstance(b, dict) else b
            np.asarray(x)
            rows += len(np.asarray(y))
            last, c_last = time.perf_counter(), time.process_time()
        busy_s += last - t0
        cpu_s += c_last - c0
    return rows / busy_s, cpu_s / rows * 1e6


def interleaved(
    makers: dict[str, Callable[[], Callable[[int], Iterator[Any]]]], rounds: int, epochs: int, fresh: bool = False
) -> dict[str, Any]:
    """Each pipeline's samples (rows/s, CPU us/row), one per round, the order rotated every round. Each pipeline
    is made once and warmed up by one untimed epoch; with `fresh`, made anew and warmed up every round (the
    scenario's protocol: a setting's measured epoch is its pipeline's second)."""
    built = {name: make() for name, make in makers.items()}
    for run in built.values():  # warm-up: tracing, autotuning's first model, the page cache
        rate(run, 0, 1)
    rates: dict[str, list[float]] = {name: [] for name in makers}
    cpu: dict[str, list[float]] = {name: [] for name in makers}
    names = list(makers)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if fresh and r > 0:
                built[name] = makers[name]()
                rate(built[name], 0, 1)
            got = rate(built[name], 1 + r * epochs, epochs)
            rates[name].append(got[0])
            cpu[name].append(got[1])
    return {
        "samples_s": {name: [round(v) for v in vals] for name, vals in rates.items()},
        "cpu_us_per_sample": {name: [round(v, 1) for v in vals] for name, vals in cpu.items()},
        "median_samples_s": {name: round(float(np.median(v))) for name, v in rates.items()},
        "median_cpu_us_per_sample": {name: round(float(np.median(v)), 1) for name, v in cpu.items()},
    }


def paired(samples: dict[str, list[float]], a: str, b: str) -> float:
    """The median over rounds of a's sample over b's (within a round: what a machine's drift leaves alone)."""
    return round(float(np.median(np.divide(samples[a], samples[b]))), 3)


def header(script: str, rounds: int, epochs: int) -> dict[str, Any]:
    import tensorflow as tf

    return {
        "command": f"PYTHONPATH=. python docs/measurements/{script} " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "tensorflow": tf.__version__,
        "threads": {k: os.environ[k] for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")},
        "batch_size": BATCH,
        "rounds": rounds,
        "epochs_per_sample": epochs,
        "fresh": "--fresh" in sys.argv,
    }


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--epochs", type=int, default=2, help="epochs per sample")
    ap.add_argument("--fresh", action="store_true", help="a new pipeline every round, as the scenario opens one")
    ap.add_argument("--out", type=Path, default=None, help="also write the output here (JSON)")
    return ap.parse_args()


def main() -> None:
    args = arguments()
    files = scenario_files()
    mean, std = channel_stats(decoded(files))
    spec = PipelineSpec(batch_size=BATCH, seed=SEED, mean=mean, std=std)
    makers: dict[str, Callable[[], Callable[[int], Iterator[Any]]]] = {}
    for name, parallel in PARALLEL.items():
        makers[f"idiomatic {name}"] = lambda parallel=parallel: idiomatic(files, spec, parallel)
        makers[f"scenario {name}"] = lambda name=name: scenario(files, spec, name)
    got = interleaved(makers, args.rounds, args.epochs, args.fresh)
    rates, cpu = got["samples_s"], got["cpu_us_per_sample"]
    out = {
        **header("pipeline_tfdata.py", args.rounds, args.epochs),
        "files": len(files),
        "format": files.format,
        "scenario_over_idiomatic_rate": {n: paired(rates, f"scenario {n}", f"idiomatic {n}") for n in PARALLEL},
        "scenario_over_idiomatic_cpu": {n: paired(cpu, f"scenario {n}", f"idiomatic {n}") for n in PARALLEL},
        **got,
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
