"""Where tf.data's time went in the pipeline scenario's deterministic pipeline: the same work in several forms,
timed side by side on the scenario's files (docs/measurements/pipeline_tfdata.py has the files, the threads,
the timing and the interleaving; this script reuses them).

    PYTHONPATH=. python docs/measurements/pipeline_tfdata_forms.py [--rounds 25] [--epochs 2] [--out FILE.json]

Every form decodes each file, pads it by PAD_PX, crops it back and maybe flips it, normalises it, and batches
64 rows with map(num_parallel_calls=AUTOTUNE) and prefetch(AUTOTUNE), built once and iterated once per epoch:

- variable-order: the scenario's form before issue 34: Dataset.range(n).map(load), where load reads the
  epoch's order from a tf.Variable, gathers the path, decodes, derives the file's seeds
  (stateless_fold_in, stateless_split), crops (stateless_random_crop) and flips under a tf.cond;
- ... without the tf.cond (tf.where of the flipped and unflipped image);
- ... without the per-file seeds (one constant seed: other draws, the same ops otherwise);
- ... without augmentation (decode and normalise only: what the reading itself costs);
- table-elements: the epoch's order and draws as dataset elements (one variable read per epoch), the crop a
  slice and the flip a tf.where per element;
- table-batched: the same elements, decode per element, then the crop and flip as two gathers per batch;
- idiomatic: pipeline_tfdata.py's loop.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import pipeline_tfdata as base

from bench.interfaces.pipeline_spec import AUTOTUNE, FLIP_P, PAD_PX, ImageFiles, PipelineSpec, shuffled


def forms(files: ImageFiles, spec: PipelineSpec) -> dict[str, Callable[[int], Iterator[Any]]]:
    import tensorflow as tf

    n, (h, w, c) = len(files), (files.height, files.width, files.channels)
    paths, labels = tf.constant(list(files.paths)), tf.constant(np.asarray(files.labels, np.int64))
    std = np.asarray(spec.std, np.float32)
    scale, shift = tf.constant(1.0 / (255.0 * std)), tf.constant(-np.asarray(spec.mean, np.float32) / std)
    order = tf.Variable(np.zeros(n, np.int64), trainable=False)
    table = tf.Variable(np.zeros((n, 4), np.int64), trainable=False)  # index, dy, dx, flip
    epoch_number = tf.Variable(0, dtype=tf.int64, trainable=False)
    draws = np.random.default_rng(7)

    def set_epoch(e: int) -> None:
        o = shuffled(n, spec.seed, e)
        offsets, flips = draws.integers(0, 2 * PAD_PX + 1, size=(n, 2)), draws.random(n) < FLIP_P
        order.assign(o)
        table.assign(np.column_stack([o, offsets[o], flips[o]]).astype(np.int64))
        epoch_number.assign(e)

    def decode(i: tf.Tensor) -> tf.Tensor:
        return tf.ensure_shape(tf.io.decode_png(tf.io.read_file(tf.gather(paths, i)), channels=c), (h, w, c))

    def pad(img: tf.Tensor) -> tf.Tensor:
        return tf.image.pad_to_bounding_box(img, PAD_PX, PAD_PX, h + 2 * PAD_PX, w + 2 * PAD_PX)

    def variable_order(cond: bool = True, seeds: bool = True, augment: bool = True) -> Callable[[tf.Tensor], Any]:
        def load(k: tf.Tensor) -> dict[str, tf.Tensor]:
            i = tf.gather(order.read_value(), k)
            img = decode(i)
            if augment:
                epoch_seed = tf.stack([tf.constant(spec.seed, tf.int64), epoch_number.read_value()])
                if seeds:
                    seed = tf.random.experimental.stateless_fold_in(epoch_seed, i)
                    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
                else:
                    crop_seed, flip_seed = epoch_seed, epoch_seed + 1
                img = tf.image.stateless_random_crop(pad(img), (h, w, c), seed=crop_seed)
                flip = tf.random.stateless_uniform([], seed=flip_seed) < FLIP_P
                if cond:
                    img = tf.cond(flip, lambda: tf.reverse(img, axis=[1]), lambda: img)
                else:
                    img = tf.where(flip, tf.reverse(img, axis=[1]), img)
            return {"x": tf.cast(img, tf.float32) * scale + shift, "y": tf.gather(labels, i), "index": i}

        return load

    def by_variable(load: Callable[[tf.Tensor], Any]) -> tf.data.Dataset:
        return tf.data.Dataset.range(n).map(load, num_parallel_calls=tf.data.AUTOTUNE)

    def elements() -> tf.data.Dataset:
        return tf.data.Dataset.range(1).flat_map(lambda _: tf.data.Dataset.from_tensor_slices(table.read_value()))

    def per_element(row: tf.Tensor) -> dict[str, tf.Tensor]:
        img = tf.slice(pad(decode(row[0])), [row[1], row[2], 0], [h, w, c])
        img = tf.where(row[3] > 0, tf.reverse(img, axis=[1]), img)
        return {"x": tf.cast(img, tf.float32) * scale + shift, "y": tf.gather(labels, row[0]), "index": row[0]}

    def per_batch(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        rows = batch["rows"]
        padded = tf.pad(batch["x"], [[0, 0], [PAD_PX, PAD_PX], [PAD_PX, PAD_PX], [0, 0]])
        ys = rows[:, 1:2] + tf.range(h, dtype=tf.int64)
        xs = rows[:, 2:3] + tf.where(rows[:, 3:4] > 0, tf.range(w - 1, -1, -1, tf.int64), tf.range(w, dtype=tf.int64))
        img = tf.gather(tf.gather(padded, ys, axis=1, batch_dims=1), xs, axis=2, batch_dims=1)
        return {"x": tf.cast(img, tf.float32) * scale + shift, "y": tf.gather(labels, rows[:, 0]), "index": rows[:, 0]}

    def finish(ds: tf.data.Dataset, after: Callable[[Any], Any] | None = None) -> Callable[[int], Iterator[Any]]:
        ds = ds.batch(spec.batch_size)
        if after is not None:
            ds = ds.map(after, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.prefetch(tf.data.AUTOTUNE)

        def epoch(e: int) -> Iterator[Any]:
            set_epoch(e)
            return iter(ds)

        return epoch

    decoded_rows = elements().map(lambda r: {"x": decode(r[0]), "rows": r}, num_parallel_calls=tf.data.AUTOTUNE)
    return {
        "variable-order": finish(by_variable(variable_order())),
        "variable-order, no tf.cond": finish(by_variable(variable_order(cond=False))),
        "variable-order, no per-file seeds": finish(by_variable(variable_order(seeds=False))),
        "variable-order, no augmentation": finish(by_variable(variable_order(augment=False))),
        "table-elements": finish(elements().map(per_element, num_parallel_calls=tf.data.AUTOTUNE)),
        "table-batched": finish(decoded_rows, per_batch),
        "idiomatic": base.idiomatic(files, spec, AUTOTUNE),
    }


def main() -> None:
    args = base.arguments()
    files = base.scenario_files()
    mean, std = base.channel_stats(base.decoded(files))
    spec = PipelineSpec(batch_size=base.BATCH, seed=base.SEED, mean=mean, std=std)
    built = forms(files, spec)
    got = base.interleaved({name: (lambda run=run: run) for name, run in built.items()}, args.rounds, args.epochs)
    rates, cpu = got["samples_s"], got["cpu_us_per_sample"]
    out = {
        **base.header("pipeline_tfdata_forms.py", args.rounds, args.epochs),
        "over_idiomatic_rate": {name: base.paired(rates, name, "idiomatic") for name in rates},
        "over_idiomatic_cpu": {name: base.paired(cpu, name, "idiomatic") for name in cpu},
        **got,
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
