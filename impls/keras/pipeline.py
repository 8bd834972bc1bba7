"""TensorFlow's input pipeline for the pipeline scenario (bench/interfaces/pipeline_spec.py has the interface): tf.data
from the file list, `tf.io.read_file` + `tf.io.decode_png` / `decode_jpeg`, the augmentation as gathers.

One dataset, built once (its functions traced once), iterated afresh each epoch as a training loop over a
tf.data.Dataset does. Its elements are the epoch's plan (`epoch_plan`: per position the file index, its crop
offsets and its flip, the torch side's, drawn once per epoch in numpy), which `epoch(e)` writes into a
tf.Variable that the dataset reads once per epoch (`Dataset.range(1).flat_map` over `from_tensor_slices` of
it), so that no tf.data shuffle buffer and no random op is involved. Every parallel map keeps its input order
(deterministic=True, tf.data's default), the autotuned ones included: the rows equal the torch ones.

Per file the parallel map only reads and decodes; the batch is then padded, cropped and flipped by two
gathers at the plan's offsets (a flip is a crop's columns taken right to left) and normalised, a few ops a
batch. The earlier form (issue 34) read the whole order variable, derived each file's seeds (stateless_fold_in,
stateless_split) and cropped and flipped (stateless_random_crop, a tf.cond) per file inside the map: the same
batches at some 30% less input rate (docs/METHODOLOGY.md, "Input pipelines").

"autotune+cache" caches the decoded uint8 images in memory (`Dataset.cache()`, in file order, shared by the
epochs' iterators), then per epoch takes them in the epoch's order (the whole cache as one element, a gather,
unbatch) before batching and augmenting: epoch 0 reads and decodes, later epochs only augment.

The TensorFlow import is impls/keras/backend.py's (its optional imports off, KERAS_BACKEND); thread counts
come from the environment the launcher sets (TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.interfaces.pipeline_spec import (
    AUTOTUNE,
    FAULT_INDEX,
    PAD_PX,
    ImageFiles,
    PipelineError,
    PipelineSetting,
    PipelineSpec,
    epoch_plan,
)
from impls.keras.backend import tf

CORRUPT = b"not an image"  # fault "crash": file FAULT_INDEX's contents, which no decoder accepts


def settings(cores: int) -> list[PipelineSetting]:
    """tf.data's defaults (a sequential map, no prefetch), then map(num_parallel_calls=1..cores) with
    prefetch(AUTOTUNE), both autotuned, and autotuned with the decoded images cached in memory."""
    out = [
        PipelineSetting(
            "default",
            tuned=False,
            workers=None,
            prefetch=0,
            description="Dataset.from_tensor_slices(epoch plan).map(decode).batch(B).map(augment)",
        )
    ]
    for k in range(1, cores + 1):
        out.append(
            PipelineSetting(
                f"workers={k}",
                tuned=True,
                workers=k,
                prefetch=AUTOTUNE,
                description=f".map(decode, num_parallel_calls={k}).batch(B).map(augment, num_parallel_calls={k}).prefetch(AUTOTUNE)",
            )
        )
    out.append(
        PipelineSetting(
            "autotune",
            tuned=True,
            workers=AUTOTUNE,
            prefetch=AUTOTUNE,
            description=(
                ".map(decode, num_parallel_calls=AUTOTUNE, deterministic=True).batch(B)"
                ".map(augment, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)"
            ),
        )
    )
    out.append(
        PipelineSetting(
            "autotune+cache",
            tuned=True,
            workers=AUTOTUNE,
            prefetch=AUTOTUNE,
            cache=True,
            description=(
                ".map(decode, num_parallel_calls=AUTOTUNE).cache(), then per epoch the cached images in the "
                "epoch's order .batch(B).map(augment, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)"
            ),
        )
    )
    return out


def tf_count(n: int | None) -> int | None:
    """A setting's count as tf.data takes it: AUTOTUNE is tf.data.AUTOTUNE, None and 0 stay (none)."""
    return tf.data.AUTOTUNE if n == AUTOTUNE else n


class TfPipeline:
    def __init__(self, files: ImageFiles, spec: PipelineSpec, setting: PipelineSetting) -> None:
        self.files = files
        self.spec = spec
        self.setting = setting
        parallel = tf_count(setting.workers)  # None: a sequential map
        # deterministic=True (tf.data's default, stated): parallel maps keep their input's order
        self.map_kwargs: dict[str, Any] = (
            {} if parallel is None else {"num_parallel_calls": parallel, "deterministic": True}
        )
        self.prefetch = tf_count(setting.prefetch)  # None or 0: no prefetch
        self.size = (files.height, files.width, files.channels)
        std = np.asarray(spec.std, np.float32)
        self.scale = tf.constant(1.0 / (255.0 * std), tf.float32)  # (x / 255 - mean) / std = x * scale + shift
        self.shift = tf.constant(-np.asarray(spec.mean, np.float32) / std, tf.float32)
        self.paths = np.asarray(files.paths)
        self.labels = np.asarray(files.labels, np.int64)
        # The epoch's plan (EpochPlan.table(): index, dy, dx, flip per position), set by `epoch` and read by the
        # dataset once per epoch: one dataset, built (its functions traced) once, iterated afresh each epoch.
        self.plan = tf.Variable(np.zeros((len(files), 4), np.int64), trainable=False)
        self.cached: tf.data.Dataset | None = None
        if setting.cache:  # its memory cache fills on the first epoch and serves the later ones
            index = np.arange(len(files), dtype=np.int64)
            decoded = tf.data.Dataset.from_tensor_slices((self.paths, index))
            self.cached = decoded.map(self.decode, **self.map_kwargs).cache()
        self.ds = self.dataset()

    def decode(self, path: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        """The file's uint8 pixels (H, W, C). Fault "crash": file FAULT_INDEX reads as CORRUPT bytes."""
        data = tf.io.read_file(path)
        if self.spec.fault == "crash":
            data = tf.where(index == FAULT_INDEX, tf.constant(CORRUPT), data)
        c = self.files.channels
        if self.files.format == "png":
            img = tf.io.decode_png(data, channels=c)
        else:  # PIL's default IDCT (JDCT_ISLOW), so both frameworks decode the same pixels
            img = tf.io.decode_jpeg(data, channels=c, dct_method="INTEGER_ACCURATE")
        return tf.ensure_shape(img, self.size)

    def transform(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """A batch of decoded images and their plan rows: padded by PAD_PX zeros, cropped at the rows' offsets
        and flipped where they say (spec.augment), as two gathers over the batch; normalised."""
        x, rows = batch["x"], batch["rows"]
        if self.spec.augment:
            h, w, _ = self.size
            padded = tf.pad(x, [[0, 0], [PAD_PX, PAD_PX], [PAD_PX, PAD_PX], [0, 0]])
            ys = rows[:, 1:2] + tf.range(h, dtype=tf.int64)  # (B, H): each row's crop rows in the padded image
            columns = tf.where(rows[:, 3:4] > 0, tf.range(w - 1, -1, -1, dtype=tf.int64), tf.range(w, dtype=tf.int64))
            xs = rows[:, 2:3] + columns  # (B, W): its crop's columns, right to left where flipped
            x = tf.gather(tf.gather(padded, ys, axis=1, batch_dims=1), xs, axis=2, batch_dims=1)
        if self.spec.normalize:
            x = tf.cast(x, tf.float32) * self.scale + self.shift
        return {"x": x, "y": batch["y"], "index": rows[:, 0]}

    def dataset(self) -> tf.data.Dataset:
        """The epoch's plan as elements (one read of the variable `plan` per epoch), each file decoded by the
        parallel map, batched, then augmented and normalised batch by batch."""
        paths = tf.constant(self.paths)
        labels = tf.constant(self.labels)

        def in_order(table: tf.Tensor, **columns: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"rows": table, "y": tf.gather(labels, table[:, 0]), **columns}

        if self.cached is None:

            def positions(_: tf.Tensor) -> tf.data.Dataset:
                table = self.plan.read_value()
                return tf.data.Dataset.from_tensor_slices(in_order(table, path=tf.gather(paths, table[:, 0])))

            def load(row: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
                return {"x": self.decode(row["path"], row["rows"][0]), "rows": row["rows"], "y": row["y"]}

            ds = tf.data.Dataset.range(1).flat_map(positions).map(load, **self.map_kwargs)
        else:
            # all cached images as one (N, H, W, C) element, gathered into the epoch's order, one by one again
            def take(images: tf.Tensor) -> dict[str, tf.Tensor]:
                table = self.plan.read_value()
                return in_order(table, x=tf.gather(images, table[:, 0]))

            ds = self.cached.batch(len(self.files)).map(take).unbatch()
        ds = ds.batch(self.spec.batch_size, drop_remainder=False).map(self.transform, **self.map_kwargs)
        if self.prefetch:
            ds = ds.prefetch(self.prefetch)
        return ds

    def epoch(self, e: int) -> Iterator[dict[str, Any]]:
        """Batches {"x", "y", "index"} of epoch `e`. A file that cannot be read or decoded: PipelineError
        naming it (found by decoding the files from the failed batch on, one at a time)."""
        plan = epoch_plan(len(self.files), self.spec.seed, e, self.spec.shuffle)
        self.plan.assign(plan.table())
        done = 0  # rows yielded so far
        it = iter(self.ds)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except tf.errors.OpError as err:
                raise PipelineError(self.failure(plan.index[done:], err)) from err
            done += int(batch["index"].shape[0])
            yield batch

    def failure(self, candidates: np.ndarray, err: tf.errors.OpError) -> str:
        """The message for `err`: the first file of `candidates` that fails to decode, and TensorFlow's words."""
        words = err.message.strip().splitlines()[0] if err.message.strip() else type(err).__name__
        for i in candidates:
            try:
                self.decode(tf.constant(self.paths[i]), tf.constant(i, tf.int64))
            except tf.errors.OpError as one:
                return f"{self.paths[i]} (file {i}): cannot read or decode: {type(one).__name__}: {one.message}"
        return f"tf.data failed: {type(err).__name__}: {words}"

    def close(self) -> None:
        """Nothing to end: tf.data has no worker processes (its threads end with the iterator; the cache is
        freed with the pipeline)."""

    def describe(self) -> dict[str, Any]:
        s = self.setting
        return {
            "source": "tf.data.Dataset.from_tensor_slices(epoch_plan(...)): paths, labels, index, crop, flip",
            "decode": f"tf.io.read_file + tf.io.decode_{self.files.format}",
            "augment": "per batch: tf.pad, then tf.gather of the plan's crop rows and (flipped) columns"
            if self.spec.augment
            else None,
            "num_parallel_calls": "AUTOTUNE" if s.workers == AUTOTUNE else s.workers,
            "deterministic": True,
            "cache": "memory, decoded uint8 before augmentation" if s.cache else None,
            "batch": {"batch_size": self.spec.batch_size, "drop_remainder": False},
            "prefetch": "AUTOTUNE" if s.prefetch == AUTOTUNE else (s.prefetch or None),
            "tensorflow_version": tf.__version__,
        }


def open_pipeline(files: ImageFiles, spec: PipelineSpec, setting: PipelineSetting) -> TfPipeline:
    return TfPipeline(files, spec, setting)
