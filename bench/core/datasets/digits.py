"""scikit-learn's handwritten digits: 1797 real 8x8 grayscale images (10 classes), embedded in sklearn.

NHWC float32 in [0, 1] (sklearn stores 0..16), int64 labels, seeded stratified 80/20 split.
Used by the CNN classifier (cnn-digits) and by the GAN (dcgan-digits), which only reads `x_train`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.data import Dataset, stratified_split

PIXEL_MAX = 16.0  # sklearn's digits are counts of 4x4 blocks: 0..16


def load_digits(seed: int, data_dir: Path | None = None) -> Dataset:
    """The images as (N, 8, 8, 1) float32 in [0, 1]. `data_dir` is unused: the data is embedded."""
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    x = (raw.images / PIXEL_MAX).astype(np.float32)[..., None]
    x_tr, y_tr, x_te, y_te = stratified_split(x, raw.target.astype(np.int64), 0.2, seed)
    return Dataset("digits", x_tr, y_tr, x_te, y_te, 10, "sklearn.datasets.load_digits")
