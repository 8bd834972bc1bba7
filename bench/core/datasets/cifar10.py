"""CIFAR-10-shaped image classification: 32x32 RGB, 10 classes, NHWC float32, int64 labels.

Pixels are scaled to [0, 1], then standardised per colour channel with the training split's mean
and standard deviation (the usual CIFAR preprocessing; without it the CNN starts much slower).

Default (no data folder): a deterministic synthetic set generated from the seed, small enough for
quick runs. Each class is one of 5 grating orientations in one of 2 colour families (warm or cool);
every image draws its own spatial frequency, phase, contrast, hue within the family, background,
a distractor blob of random colour, and pixel noise. Colour family alone gives 2 classes; the CNN
must find the orientation to tell all 10 apart.

Real data: the official CIFAR-10 *binary* version (cifar-10-binary.tar.gz, extracted) in the data
folder: data_batch_1.bin .. data_batch_5.bin and test_batch.bin, directly or in a subfolder
cifar-10-batches-bin/. Each record is 1 label byte then 3072 pixel bytes: the R, G and B planes of
32x32, row-major. Read with numpy; no pickle (the python version of the dataset is not accepted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.data import Dataset
from bench.core.errors import UsageError

SIDE = 32
CHANNELS = 3
NUM_CLASSES = 10
RECORD_BYTES = 1 + CHANNELS * SIDE * SIDE  # label byte + CHW pixel planes
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
SUBFOLDER = "cifar-10-batches-bin"

SYNTHETIC_TRAIN = 1500
SYNTHETIC_TEST = 500
ORIENTATIONS = 5  # grating angles k * 180 / 5 degrees
ORIENTATION_JITTER_RAD = np.pi / 15  # +-12 degrees (classes are 36 degrees apart)
WARM_HUES = (0.0, 0.12)  # hue ranges (0..1 colour wheel) of the two colour families
COOL_HUES = (0.45, 0.7)
NOISE_STD = 0.15


def load_cifar10(seed: int, data_dir: Path | None = None) -> Dataset:
    """Synthetic CIFAR-10-like data from `seed`, or the official binary files in `data_dir`."""
    if data_dir is None:
        x_tr, y_tr = synthetic_images(SYNTHETIC_TRAIN, np.random.default_rng([seed, 0]))
        x_te, y_te = synthetic_images(SYNTHETIC_TEST, np.random.default_rng([seed, 1]))
        source, info = "synthetic (seeded)", {"generator": "oriented gratings, 2 colour families, blob, noise"}
    else:
        folder = batches_folder(data_dir)
        x_tr, y_tr = read_batches([folder / f for f in TRAIN_FILES])
        x_te, y_te = read_batches([folder / TEST_FILE])
        source, info = str(folder), {"format": "CIFAR-10 binary"}
    x_tr, x_te = standardise_channels(x_tr, x_te)
    return Dataset("cifar10", x_tr, y_tr, x_te, y_te, NUM_CLASSES, source, info={**info, "scaling": "per-channel z"})


def standardise_channels(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance per channel (last axis), with statistics from the training split only."""
    mean = x_train.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)  # float32 maths: the full
    std = np.maximum(x_train.std(axis=(0, 1, 2), dtype=np.float64), 1e-6).astype(np.float32)  # set is 600 MB
    return (x_train - mean) / std, (x_test - mean) / std


def found(data_dir: Path) -> bool:
    """Whether `data_dir` holds CIFAR-10 files (any of them, binary or pickle: a wrong set is then an error)."""
    names = (*TRAIN_FILES, TEST_FILE, "data_batch_1", "test_batch")
    return any((d / n).is_file() for d in (data_dir, data_dir / SUBFOLDER) for n in names)


def batches_folder(data_dir: Path) -> Path:
    """The folder holding the .bin files: `data_dir` itself or its cifar-10-batches-bin/ subfolder."""
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: not a folder (expected the CIFAR-10 binary files)")
    folder = data_dir / SUBFOLDER if (data_dir / SUBFOLDER).is_dir() else data_dir
    missing = [f for f in (*TRAIN_FILES, TEST_FILE) if not (folder / f).is_file()]
    if missing:
        pickled = (folder / "data_batch_1").is_file()
        hint = " (that is the python/pickle version; fwbench reads the binary version)" if pickled else ""
        raise UsageError(f"{folder}: missing {', '.join(missing)} of the CIFAR-10 binary version{hint}")
    return folder


def read_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*(read_batch(p) for p in paths), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One .bin file -> (N, 32, 32, 3) float32 in [0, 1] and (N,) int64 labels."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise UsageError(
            f"{path}: {raw.size} bytes is not a whole number of {RECORD_BYTES}-byte records "
            "(1 label byte + 3072 pixel bytes): truncated or not CIFAR-10 binary"
        )
    records = raw.reshape(-1, RECORD_BYTES)
    y = records[:, 0].astype(np.int64)
    if y.max() >= NUM_CLASSES:
        raise UsageError(f"{path}: label {int(y.max())} out of range 0..{NUM_CLASSES - 1}: not CIFAR-10 binary")
    x = records[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1)
    return (x / np.float32(255.0)).astype(np.float32, copy=False), y


def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated colours for hues in [0, 1): (N,) -> (N, 3) in [0, 1]."""
    k = (hue[:, None] * 6.0 + np.array([5.0, 3.0, 1.0])) % 6.0
    return 1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def synthetic_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` images, classes balanced and shuffled. Class c: orientation c % 5, colour family c // 5.

    Computed in float32 (numpy's float32 sin and exp are much faster than float64's)."""
    f32 = np.float32
    y = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)
    angle = (y % ORIENTATIONS) * np.pi / ORIENTATIONS + rng.uniform(-1, 1, n) * ORIENTATION_JITTER_RAD
    lo, hi = np.where(y[:, None] < ORIENTATIONS, WARM_HUES, COOL_HUES).T
    colour = hue_to_rgb(rng.uniform(lo, hi)).astype(f32)  # (n, 3)
    cycles_per_px = rng.uniform(2.0, 5.0, n) / SIDE
    phase = rng.uniform(0, 2 * np.pi, n).astype(f32)
    contrast = rng.uniform(0.1, 0.3, n).astype(f32)
    background = rng.uniform(0.2, 0.5, n).astype(f32)

    rows, cols = np.meshgrid(np.arange(SIDE, dtype=f32), np.arange(SIDE, dtype=f32), indexing="ij")
    # phase advance per pixel along x (columns) and y (rows): the grating runs across `angle`
    dx = (2 * np.pi * cycles_per_px * np.cos(angle)).astype(f32)[:, None, None]
    dy = (2 * np.pi * cycles_per_px * np.sin(angle)).astype(f32)[:, None, None]
    wave = np.sin(dx * cols + dy * rows + phase[:, None, None])  # (n, H, W)
    img = background[:, None, None, None] + (contrast[:, None, None] * wave)[..., None] * colour[:, None, None, :]

    centre = rng.uniform(0, SIDE, (n, 2)).astype(f32)
    radius = rng.uniform(3.0, 7.0, n).astype(f32)
    dist2 = (rows - centre[:, 0, None, None]) ** 2 + (cols - centre[:, 1, None, None]) ** 2
    blob = np.exp(-dist2 / (2 * radius[:, None, None] ** 2))[..., None]
    img = img * (1 - blob) + blob * rng.uniform(0, 1, (n, 1, 1, 3)).astype(f32)

    img += rng.standard_normal(img.shape, dtype=f32) * f32(NOISE_STD)
    return np.clip(img, f32(0.0), f32(1.0)), y
