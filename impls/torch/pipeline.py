"""PyTorch's input pipeline for the pipeline scenario (bench/interfaces/pipeline_spec.py has the interface): a map-style
`torch.utils.data.Dataset` that reads and decodes one image file with PIL and augments it in numpy, under a
`DataLoader` with a sampler that yields the epoch's order (`shuffled`), and `default_collate`.

The sampler yields the epoch's plan (bench.interfaces.pipeline_spec.epoch_plan), drawn once per epoch in the
main process: per position the file index, its crop offsets and its flip, as (index, dy, dx, flip) items that
`__getitem__` applies. An image's crop and flip do not depend on which process decodes it, so every setting
(num_workers 0..cores) yields the same batches, and they are the tf.data pipeline's, row for row; persistent
workers, which keep their copy of the dataset from the first epoch, need nothing per epoch.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from bench.interfaces.pipeline_spec import (
    FAULT_INDEX,
    PAD_PX,
    WORKER_TIMEOUT_S,
    ImageFiles,
    PipelineError,
    PipelineSetting,
    PipelineSpec,
    epoch_plan,
)

PREFETCH_FACTOR = 2  # batches loaded ahead per worker (DataLoader's default when num_workers > 0)
# DataLoader's messages when a worker dies (its SIGCHLD handler, or the liveness check after a queue timeout)
# or a batch takes longer than `timeout` seconds
WORKER_FAILURES = ("DataLoader worker", "DataLoader timed out")


def settings(cores: int) -> list[PipelineSetting]:
    """DataLoader's documented defaults (num_workers=0: the main process decodes), then 1..cores workers."""
    out = [
        PipelineSetting(
            "default",
            tuned=False,
            workers=0,
            description="DataLoader(dataset, batch_size, sampler): num_workers=0, pin_memory=False",
        )
    ]
    for k in range(1, cores + 1):
        out.append(
            PipelineSetting(
                f"workers={k}",
                tuned=True,
                workers=k,
                prefetch=PREFETCH_FACTOR,
                persistent_workers=True,
                description=(
                    f"DataLoader(..., num_workers={k}, prefetch_factor={PREFETCH_FACTOR}, persistent_workers=True, "
                    "pin_memory on CUDA)"
                ),
            )
        )
    return out


Item = tuple[int, int, int, bool]  # file index, crop offsets dy and dx (px, in the padded image), flip


class EpochSampler(Sampler[Item]):
    """The items of `epoch_plan(n, seed, epoch, shuffle)` in its order; `epoch` is set before each epoch."""

    def __init__(self, n: int, seed: int, shuffle: bool) -> None:
        self.n = n
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Item]:
        plan = epoch_plan(self.n, self.seed, self.epoch, self.shuffle)
        return zip(plan.index.tolist(), plan.dy.tolist(), plan.dx.tolist(), plan.flip.tolist(), strict=True)


class ImageFileDataset(Dataset[dict[str, Any]]):
    """Item (i, dy, dx, flip): file i decoded by PIL to uint8 (H, W, C), augmented so, optionally normalised."""

    def __init__(self, files: ImageFiles, spec: PipelineSpec) -> None:
        self.files = files
        self.spec = spec
        # (x / 255 - mean) / std as x * scale + shift, float32
        std = np.asarray(spec.std, np.float32)
        self.scale = (1.0 / (255.0 * std)).astype(np.float32)
        self.shift = (-np.asarray(spec.mean, np.float32) / std).astype(np.float32)

    def __len__(self) -> int:
        return len(self.files)

    def decode(self, i: int) -> np.ndarray:
        path = self.files.paths[i]
        if self.spec.fault == "crash" and i == FAULT_INDEX:
            if get_worker_info() is None:  # the main process decodes (num_workers=0): fail, do not kill it
                raise PipelineError(f"fault 'crash' at file {FAULT_INDEX} ({path}): num_workers=0, no worker to kill")
            os.kill(os.getpid(), signal.SIGKILL)  # this DataLoader worker dies mid-epoch
        try:
            with Image.open(path) as im:
                img = np.asarray(im.convert("L" if self.files.channels == 1 else "RGB"))
        except (OSError, ValueError) as err:  # PIL.UnidentifiedImageError is an OSError
            raise PipelineError(f"{path}: cannot decode: {err}") from err
        return img.reshape(self.files.height, self.files.width, self.files.channels)

    def __getitem__(self, item: Item) -> dict[str, Any]:
        i, dy, dx, flip = item
        img = self.decode(i)
        if self.spec.augment:
            h, w, c = img.shape
            padded = np.zeros((h + 2 * PAD_PX, w + 2 * PAD_PX, c), np.uint8)
            padded[PAD_PX : PAD_PX + h, PAD_PX : PAD_PX + w] = img
            img = padded[dy : dy + h, dx : dx + w]
            if flip:
                img = img[:, ::-1]
        if self.spec.normalize:
            x = img.astype(np.float32) * self.scale + self.shift
        else:
            x = np.ascontiguousarray(img)
        return {"x": x, "y": self.files.labels[i], "index": i}


class TorchPipeline:
    def __init__(self, files: ImageFiles, spec: PipelineSpec, setting: PipelineSetting) -> None:
        workers = setting.workers or 0
        self.sampler = EpochSampler(len(files), spec.seed, spec.shuffle)
        self.kwargs: dict[str, Any] = {
            "batch_size": spec.batch_size,
            "num_workers": workers,
            "pin_memory": spec.device == "cuda",
            "drop_last": False,
        }
        if workers > 0:
            self.kwargs.update(
                prefetch_factor=setting.prefetch or PREFETCH_FACTOR,
                persistent_workers=setting.persistent_workers,
                timeout=WORKER_TIMEOUT_S,
            )
        self.loader: DataLoader[dict[str, Any]] = DataLoader(
            ImageFileDataset(files, spec), sampler=self.sampler, **self.kwargs
        )

    def epoch(self, e: int) -> Iterator[dict[str, Any]]:
        """Batches {"x", "y", "index"} of epoch `e`. A dead or timed-out worker: PipelineError with
        DataLoader's message (the worker's pid, how it ended), the workers shut down. DataLoader's SIGCHLD
        handler raises in the main thread wherever it is: a worker that dies while the caller works on a
        batch raises there, as DataLoader's RuntimeError "DataLoader worker (pid ...) ..."."""
        self.sampler.epoch = e
        it = iter(self.loader)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except PipelineError:
                raise
            except RuntimeError as err:
                if not str(err).startswith(WORKER_FAILURES):
                    raise
                self.close()
                raise PipelineError(str(err)) from err
            yield batch

    def close(self) -> None:
        """Shut the persistent workers down now (DataLoader otherwise ends them when it is collected)."""
        it = self.loader._iterator  # the persistent workers' iterator (None without persistent workers)
        if it is not None:
            it._shutdown_workers()
            self.loader._iterator = None

    def describe(self) -> dict[str, Any]:
        workers = self.kwargs["num_workers"]
        return {
            "call": "torch.utils.data.DataLoader",
            **self.kwargs,
            "sampler": "EpochSampler: epoch_plan(n, seed, epoch) as (index, dy, dx, flip) items",
            "collate_fn": "default_collate",
            "dataset": "Dataset.__getitem__: PIL.Image.open + np.asarray, numpy pad/crop/flip/normalise",
            "multiprocessing_context": multiprocessing.get_start_method() if workers > 0 else None,
            "torch_version": torch.__version__,
        }


def open_pipeline(files: ImageFiles, spec: PipelineSpec, setting: PipelineSetting) -> TorchPipeline:
    return TorchPipeline(files, spec, setting)
