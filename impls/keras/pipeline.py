"""TensorFlow's input pipeline for the pipeline scenario (bench/interfaces/pipeline_spec.py has the interface): tf.data
from the file list, `tf.io.read_file` + `tf.io.decode_png` / `decode_jpeg`, `tf.image` augmentation.

One dataset, built once (its functions traced once), iterated afresh each epoch as a training loop over a
tf.data.Dataset does; position k of epoch e is file `shuffled(n, seed, e)[k]` (the torch side's order), read
from a tf.Variable that `epoch(e)` sets before making the epoch's iterator, so that no tf.data shuffle
buffer is involved. Every parallel map keeps its input
order (deterministic=True, tf.data's default), the autotuned ones included: the order equals the torch one.

Augmentation randomness is stateless, seeded per (spec.seed, epoch, file index): the seed of file i in epoch
e is `stateless_fold_in([seed, e], i)`, split into the crop's and the flip's. The same batches whatever the
parallelism. Its random streams are not the torch side's (numpy's): the same distributions, not the same draws.

"autotune+cache" caches the decoded uint8 images in memory (`Dataset.cache()`, in file order, shared by the
epochs' datasets), then per epoch takes them in the epoch's order (the whole cache as one element, a gather,
unbatch) before augmenting: epoch 0 reads and decodes, later epochs only augment.

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
    FLIP_P,
    PAD_PX,
    ImageFiles,
    PipelineError,
    PipelineSetting,
    PipelineSpec,
    shuffled,
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
            description="Dataset.from_tensor_slices(files).map(load).batch(B)",
        )
    ]
    for k in range(1, cores + 1):
        out.append(
            PipelineSetting(
                f"workers={k}",
                tuned=True,
                workers=k,
                prefetch=AUTOTUNE,
                description=f".map(load, num_parallel_calls={k}).batch(B).prefetch(AUTOTUNE)",
            )
        )
    out.append(
        PipelineSetting(
            "autotune",
            tuned=True,
            workers=AUTOTUNE,
            prefetch=AUTOTUNE,
            description=".map(load, num_parallel_calls=AUTOTUNE, deterministic=True).batch(B).prefetch(AUTOTUNE)",
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
                "epoch's order .map(augment, num_parallel_calls=AUTOTUNE).batch(B).prefetch(AUTOTUNE)"
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
        # The epoch's order and number, read by the dataset as it runs: one dataset, built (and its functions
        # traced) once, iterated afresh each epoch, as a training loop over a tf.data.Dataset does.
        self.order = tf.Variable(np.zeros(len(files), np.int64), trainable=False)
        self.epoch_number = tf.Variable(0, dtype=tf.int64, trainable=False)
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

    def transform(self, img: tf.Tensor, epoch_seed: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        """Pad by PAD_PX zeros, crop back at a random offset, flip with FLIP_P (spec.augment); normalise."""
        if self.spec.augment:
            seed = tf.random.experimental.stateless_fold_in(epoch_seed, index)
            crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
            h, w, _ = self.size
            padded = tf.image.pad_to_bounding_box(img, PAD_PX, PAD_PX, h + 2 * PAD_PX, w + 2 * PAD_PX)
            img = tf.image.stateless_random_crop(padded, self.size, seed=crop_seed)
            flip = tf.random.stateless_uniform([], seed=flip_seed) < FLIP_P
            img = tf.cond(flip, lambda: tf.reverse(img, axis=[1]), lambda: img)
        if self.spec.normalize:
            return tf.cast(img, tf.float32) * self.scale + self.shift
        return img

    def dataset(self) -> tf.data.Dataset:
        """Position k of an epoch is file order[k] (the variables `order` and `epoch_number`, set by `epoch`)."""
        paths = tf.constant(self.paths)
        labels = tf.constant(self.labels)
        seed = tf.constant(self.spec.seed, tf.int64)

        def element(img: tf.Tensor, i: tf.Tensor) -> dict[str, tf.Tensor]:
            epoch_seed = tf.stack([seed, self.epoch_number.read_value()])
            return {"x": self.transform(img, epoch_seed, i), "y": tf.gather(labels, i), "index": i}

        positions = tf.data.Dataset.range(len(self.files))
        if self.cached is None:

            def load(k: tf.Tensor) -> dict[str, tf.Tensor]:
                i = tf.gather(self.order.read_value(), k)
                return element(self.decode(tf.gather(paths, i), i), i)

            ds = positions.map(load, **self.map_kwargs)
        else:
            # all cached images as one (N, H, W, C) element, gathered into the epoch's order, one by one again
            n = len(self.files)
            taken = self.cached.batch(n).map(lambda imgs: tf.gather(imgs, self.order.read_value())).unbatch()
            files = positions.map(lambda k: tf.gather(self.order.read_value(), k))
            ds = tf.data.Dataset.zip((taken, files)).map(element, **self.map_kwargs)
        ds = ds.batch(self.spec.batch_size, drop_remainder=False)
        if self.prefetch:
            ds = ds.prefetch(self.prefetch)
        return ds

    def epoch(self, e: int) -> Iterator[dict[str, Any]]:
        """Batches {"x", "y", "index"} of epoch `e`. A file that cannot be read or decoded: PipelineError
        naming it (found by decoding the files from the failed batch on, one at a time)."""
        order = shuffled(len(self.files), self.spec.seed, e, self.spec.shuffle)
        self.order.assign(order.astype(np.int64))
        self.epoch_number.assign(e)
        done = 0  # rows yielded so far
        it = iter(self.ds)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except tf.errors.OpError as err:
                raise PipelineError(self.failure(order[done:], err)) from err
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
            "source": "tf.data.Dataset.from_tensor_slices((paths, labels, index)) in the epoch's order",
            "decode": f"tf.io.read_file + tf.io.decode_{self.files.format}",
            "augment": "tf.image.pad_to_bounding_box + stateless_random_crop, stateless_uniform flip"
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
