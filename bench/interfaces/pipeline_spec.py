"""What the pipeline scenario asks of each framework's input pipeline (impls/<framework>/pipeline.py).

Framework-neutral (standard library and numpy): the scenario (bench/scenarios/pipeline.py), both framework modules and
the tests import it. A framework module provides:

    settings(cores: int) -> list[PipelineSetting]
        Its sweep: first the out-of-the-box setting (the documented defaults), then the tuned ones.
    open_pipeline(files: ImageFiles, spec: PipelineSpec, setting: PipelineSetting) -> Pipeline
        The framework's own pipeline over the files.

A Pipeline's `epoch(e)` yields batches as dicts of arrays (framework tensors that np.asarray accepts):
"x" (N, H, W, C): float32 normalised (spec.normalize) or uint8 pixels; "y" (N,) int64 labels; "index" (N,)
int64: which file each row was decoded from (the "each file once per epoch" check). Batches follow
`epoch_plan(n, spec.seed, e, spec.shuffle)`: its order, and its crop offsets and flips where spec.augment, so
both frameworks yield the same rows; the last batch may be short. `close()` ends worker processes.
A pipeline that loses a worker raises (never hangs): PipelineError naming the worker and how it ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bench.core.spec import IMAGE_FORMATS as FORMATS  # the image files' format (--image-format)

SUFFIXES = {"png": (".png",), "jpeg": (".jpg", ".jpeg")}
PAD_PX = 4  # random crop: pad by this many zero pixels on each side, crop back to the image's size
FLIP_P = 0.5  # horizontal flip probability
WORKER_TIMEOUT_S = 60.0  # a batch that takes longer than this from a worker is a dead worker
# Fault injection (RunConfig.fault, tests): "crash" kills the process that decodes file FAULT_INDEX (a
# DataLoader worker; tf.data, with no worker processes, gets a corrupt file there instead).
FAULT_INDEX = 37


class PipelineError(RuntimeError):
    """An input pipeline failed: a worker died or timed out, a file could not be decoded."""


@dataclass(frozen=True)
class ImageFiles:
    """Image files in class folders: `paths[i]` holds an image of class `labels[i]`; `root` is the folder."""

    root: str
    paths: tuple[str, ...]
    labels: tuple[int, ...]
    format: str  # one of FORMATS
    height: int
    width: int
    channels: int

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class PipelineSpec:
    """What every pipeline does to the files, the same in both frameworks."""

    batch_size: int
    seed: int  # shuffling and augmentation: epoch e shuffles with (seed, e)
    mean: tuple[float, ...]  # per channel, of pixels scaled to [0, 1] (the training files')
    std: tuple[float, ...]
    augment: bool = True  # random crop with PAD_PX zero padding, horizontal flip with FLIP_P
    normalize: bool = True  # (pixel / 255 - mean) / std as float32; False: the decoded uint8 pixels
    shuffle: bool = True
    device: str = "cpu"  # pin_memory where the framework has it and the device is "cuda"
    fault: str | None = None  # "crash": see FAULT_INDEX


@dataclass(frozen=True)
class PipelineSetting:
    """One point of the sweep. `workers`: DataLoader's num_workers, tf.data's map num_parallel_calls (None:
    sequential map; AUTOTUNE: tf.data.AUTOTUNE). `prefetch`: DataLoader's prefetch_factor (batches per
    worker), tf.data's prefetch buffer (0: none; AUTOTUNE)."""

    name: str  # "default", "workers=2", "autotune+cache" ...
    tuned: bool  # False: the documented defaults
    workers: int | None = None
    prefetch: int | None = None
    persistent_workers: bool = False
    cache: bool = False  # tf.data: cache the decoded images in memory after the first epoch
    description: str = ""  # the framework calls it makes, for the report

    @property
    def workers_axis(self) -> int:
        """Its x in the samples/s-against-workers plot: parallel decoders (AUTOTUNE counts as the cores)."""
        return 0 if self.workers is None or self.workers < 0 else self.workers


AUTOTUNE = -1  # PipelineSetting.workers / prefetch: let the framework choose (tf.data.AUTOTUNE)


class Pipeline(Protocol):
    def epoch(self, e: int) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        """The framework calls and arguments this pipeline makes (DataLoader(...), tf.data ops)."""


def list_images(root: Path, fmt: str) -> ImageFiles:
    """The images of `fmt` under `root`'s class folders (sorted names; labels: the folders' sorted order).
    ValueError naming the folder when it holds none, or files of another format."""
    if fmt not in FORMATS:
        raise ValueError(f"image format {fmt!r} is not one of {', '.join(FORMATS)}")
    classes = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    paths: list[str] = []
    labels: list[int] = []
    for label, d in enumerate(classes):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in SUFFIXES[fmt]:
                paths.append(str(f))
                labels.append(label)
    if not paths:
        raise ValueError(f"{root}: no {fmt} images in class folders (expected {root}/<class>/<name>{SUFFIXES[fmt][0]})")
    from PIL import Image

    with Image.open(paths[0]) as im:
        width, height = im.size
        channels = len(im.getbands())
    return ImageFiles(str(root), tuple(paths), tuple(labels), fmt, height, width, channels)


def shuffled(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The file order of epoch `epoch`: one permutation per (seed, epoch), the same in both frameworks."""
    return np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)


AUGMENT_STREAM = 1  # the augmentation's generator is seeded (seed, epoch, AUGMENT_STREAM), the order's (seed, epoch)


@dataclass(frozen=True, eq=False)
class EpochPlan:
    """What epoch e reads, in its order: position k is file `index[k]`, cropped at rows dy[k].. and columns
    dx[k].. of the image zero-padded by PAD_PX, then flipped horizontally where `flip[k]`. Both frameworks
    take it as it is, so they draw the same batches, row for row."""

    index: np.ndarray  # int64 (n,): the file order, `shuffled(n, seed, epoch, shuffle)`
    dy: np.ndarray  # int64 (n,): 0 .. 2 * PAD_PX, uniform
    dx: np.ndarray  # int64 (n,)
    flip: np.ndarray  # bool (n,): with probability FLIP_P

    def table(self) -> np.ndarray:
        """int64 (n, 4): index, dy, dx, flip (0 or 1) per position."""
        return np.column_stack([self.index, self.dy, self.dx, self.flip]).astype(np.int64)


def epoch_plan(n: int, seed: int, epoch: int, shuffle: bool = True) -> EpochPlan:
    """Epoch `epoch`'s order and each file's crop offsets and flip. File i's draws are row i of tables drawn
    once per (seed, epoch), whatever its position: they do not depend on the order, the batch or which
    worker decodes the file. Drawn whether or not a pipeline augments (an unaugmented one ignores them)."""
    order = shuffled(n, seed, epoch, shuffle)
    rng = np.random.default_rng([seed, epoch, AUGMENT_STREAM])
    offsets = rng.integers(0, 2 * PAD_PX + 1, size=(n, 2), dtype=np.int64)  # per file: dy, dx
    flips = rng.random(n) < FLIP_P
    return EpochPlan(order.astype(np.int64), offsets[order, 0], offsets[order, 1], flips[order])


def write_images(x: np.ndarray, y: np.ndarray, root: Path, fmt: str, jpeg_quality: int = 95) -> ImageFiles:
    """Write uint8 images `x` (N, H, W, C) as files root/<class>/<index>.<ext>, then list them. The folder
    is made in a private sibling and renamed into place, so that a reader never sees half of it; when
    `root` exists already it is used as it is (another process wrote it)."""
    from PIL import Image

    if fmt not in FORMATS:
        raise ValueError(f"image format {fmt!r} is not one of {', '.join(FORMATS)}")
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {x.dtype} {x.shape}")
    if not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        ext = SUFFIXES[fmt][0]
        width = len(str(len(x)))
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            d = tmp / f"{int(label):02d}"
            d.mkdir(exist_ok=True)
            im = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
            if fmt == "png":
                im.save(d / f"{i:0{width}d}{ext}", format="PNG")
            else:
                im.save(d / f"{i:0{width}d}{ext}", format="JPEG", quality=jpeg_quality)
        try:
            tmp.rename(root)
        except OSError:  # another process renamed its copy first
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return list_images(root, fmt)


def check_image_dir(folder: str, fmt: str) -> None:
    """Plan time: the user's --image-dir must hold images of the format (UsageError naming it otherwise)."""
    from bench.core.errors import UsageError  # the CLI's exit 2

    if fmt not in FORMATS:
        raise UsageError(f"unknown image format {fmt!r}; valid: {', '.join(FORMATS)}")
    try:
        list_images(Path(folder), fmt)
    except (ValueError, OSError) as e:
        raise UsageError(f"--image-dir {e}") from None
