"""ImageNet-shaped image classification, **synthetic**: 224x224 RGB, 1000 classes, NHWC float32, int64
labels, generated from the seed (nothing is downloaded, and no real ImageNet reader exists: `data_dir`
is unused).

It is for throughput on a step budget (ResNet-50 at ImageNet's input size), not for accuracy: the set is
small (256 training images, 64 test images), so an epoch is 8 steps of 32. Still, it is learnable: each
class has a prototype (a coarse 4x4 grid of random colours, upsampled to the image), and an image is its
class's prototype plus pixel noise. Labels are balanced over the first classes (image i of a split has
class i % 1000 before shuffling), so the 64 test images are of classes 0..63, each of which has exactly
one training image: accuracy measures one-shot recognition of a noisy prototype. Pixels are clipped to
[0, 1], then standardised per colour channel with the training split's statistics (as CIFAR-10's).

`imagenet-64` is the same generator at 64x64 (the prototypes' 4x4 grid upsampled less): the reduced
size the parity test runs ResNet-50 at.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.data import Dataset
from bench.core.datasets.cifar10 import standardise_channels

SIDE = 224
SIDE_REDUCED = 64
CHANNELS = 3
NUM_CLASSES = 1000
SYNTHETIC_TRAIN = 256
SYNTHETIC_TEST = 64
GRID = 4  # prototype resolution: GRID x GRID colour cells per class
NOISE_STD = 0.25


def load_imagenet(seed: int, data_dir: Path | None = None) -> Dataset:
    """Synthetic 224x224x3 ImageNet-shaped data from `seed`; `data_dir` is unused."""
    return synthetic("imagenet", SIDE, seed)


def load_imagenet_64(seed: int, data_dir: Path | None = None) -> Dataset:
    """The same generator at 64x64x3 (the parity test's reduced ResNet-50 input); `data_dir` is unused."""
    return synthetic("imagenet-64", SIDE_REDUCED, seed)


def synthetic(name: str, side: int, seed: int) -> Dataset:
    prototypes = np.random.default_rng([seed, 2]).uniform(0, 1, (NUM_CLASSES, GRID, GRID, CHANNELS)).astype(np.float32)
    x_tr, y_tr = synthetic_images(SYNTHETIC_TRAIN, side, prototypes, np.random.default_rng([seed, 0]))
    x_te, y_te = synthetic_images(SYNTHETIC_TEST, side, prototypes, np.random.default_rng([seed, 1]))
    x_tr, x_te = standardise_channels(x_tr, x_te)
    info = {
        "generator": f"class prototypes ({GRID}x{GRID} colour grid) + pixel noise; small: for throughput",
        "scaling": "per-channel z",
    }
    return Dataset(name, x_tr, y_tr, x_te, y_te, NUM_CLASSES, "synthetic (seeded)", info=info)


def synthetic_images(
    n: int, side: int, prototypes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`n` images of `side` x `side`: image i is of class i % 1000 (then shuffled), its class's prototype
    upsampled (nearest) plus N(0, NOISE_STD) noise, clipped to [0, 1]. float32 throughout."""
    if side % GRID:
        raise ValueError(f"image side {side} is not a multiple of the prototype grid {GRID}")
    y = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)
    cell = side // GRID
    img = np.repeat(np.repeat(prototypes[y], cell, axis=1), cell, axis=2)  # (n, side, side, 3)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(NOISE_STD)
    return np.clip(img, np.float32(0.0), np.float32(1.0)), y
