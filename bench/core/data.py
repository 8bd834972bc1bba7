"""Datasets as numpy arrays, and the batch order: made once here, shared by every backend.

Both frameworks see the same arrays in the same order. Image data is NHWC float32 (the Keras
layout); the torch twins transpose to NCHW in their `prepare` (outside the timed step).
Nothing here downloads: default data comes from scikit-learn or is generated from a seed;
real datasets are read from a user-given folder (see each loader).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.core import cache
from bench.core.errors import UsageError
from bench.core.spec import frozen_map


@dataclass(frozen=True)
class Dataset:
    """A train/test split. `x_*` float32 (or int32 token ids), `y_*` int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str  # where the data came from, for the results record
    info: Mapping[str, object] = field(default_factory=frozen_map)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "synthetic": self.source.startswith("synthetic"),  # generated from a seed, not real samples
            "train": len(self.x_train),
            "test": len(self.x_test),
            "x_shape": list(self.x_train.shape[1:]),
            "x_dtype": str(self.x_train.dtype),
            "num_classes": self.num_classes,
            **dict(self.info),
        }


def stratified_split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded, stratified split (scikit-learn). Never slice sorted data: see docs/METHODOLOGY.md."""
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance per feature, with statistics from the training split only."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def load_iris(seed: int, data_dir: Path | None = None) -> Dataset:
    """scikit-learn's Iris (150 x 4, 3 classes), 80/20 stratified split, standardised."""
    from sklearn.datasets import load_iris as sk_iris

    raw = sk_iris()
    x_tr, y_tr, x_te, y_te = stratified_split(raw.data, raw.target, 0.2, seed)
    x_tr, x_te = standardise(x_tr, x_te)
    return Dataset("iris", x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64), 3, "sklearn.datasets.load_iris")


def lazy(module: str, function: str) -> Callable[[int, Path | None], Dataset]:
    """A loader in bench/core/datasets/<module>.py, imported on first use (those modules import this one)."""

    def load_module_loader(seed: int, data_dir: Path | None) -> Dataset:
        return getattr(importlib.import_module(f"bench.core.datasets.{module}"), function)(seed, data_dir)

    return load_module_loader


# name -> loader(seed, data_dir). A loader that needs a folder raises UsageError without one.
DATASETS: dict[str, Callable[[int, Path | None], Dataset]] = {
    "iris": load_iris,
    "digits": lazy("digits", "load_digits"),
    "cifar10": lazy("cifar10", "load_cifar10"),
    "imagenet": lazy("imagenet", "load_imagenet"),  # synthetic only, 224x224x3, 1000 classes, small
    "imagenet-64": lazy("imagenet", "load_imagenet_64"),  # the same at 64x64 (ResNet-50's parity case)
    "audio": lazy("audio", "load_audio"),
    "text": lazy("text", "load_text"),
    "text-bert": lazy("tokens", "load_text_bert"),
    "lm-markov": lazy("markov", "load_lm_markov"),  # synthetic causal-LM token stream, 512 ids (llama-tiny)
    "lm-markov-49k": lazy("markov", "load_lm_markov_49k"),  # the same chain over SmolLM's 49152 ids (base size)
}


# The datasets that read a user-given folder (the others are embedded or generated): name -> module in
# bench/core/datasets/ whose `found(data_dir)` says whether that folder holds this dataset's files.
FOLDER_DATASETS: Mapping[str, str] = frozen_map({"cifar10": "cifar10", "audio": "audio", "text": "text"})


def files_found(name: str, data_dir: str | Path) -> bool | None:
    """Whether `data_dir` holds dataset `name`'s files; None for a dataset that never reads a folder."""
    module = FOLDER_DATASETS.get(name)
    if module is None:
        return None
    return bool(importlib.import_module(f"bench.core.datasets.{module}").found(Path(data_dir)))


BUILT_IN: Mapping[str, Callable[[int, Path | None], Dataset]] = frozen_map(DATASETS)  # cached where unchanged
CACHE_KIND = "data"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def cache_key(name: str, seed: int) -> dict[str, object]:
    """What a generated (or embedded) dataset depends on: its name and seed, the code that makes it
    (bench/core/data.py and bench/core/datasets/), and the versions of the packages it comes from."""
    here = Path(__file__).resolve().parent
    return {
        "dataset": name,
        "seed": seed,
        "source_sha256": cache.sources_sha256([here / "data.py", *(here / "datasets").glob("*.py")]),
        "numpy": np.__version__,
        "scikit-learn": cache.version("sklearn") or cache.version("scikit-learn"),
    }


def cached(name: str, seed: int) -> Dataset | None:
    found = cache.read_npz(CACHE_KIND, cache_key(name, seed))
    if found is None:
        return None
    arrays, _ = found
    try:
        meta = json.loads(str(arrays.pop("meta")))
        return Dataset(
            meta["name"],
            *(arrays[a] for a in ARRAYS),
            num_classes=meta["num_classes"],
            source=meta["source"],
            info=meta["info"] if meta["info_is_dict"] else frozen_map(meta["info"]),  # as the loader gave it
        )
    except (KeyError, TypeError, ValueError):  # an entry of another layout: made afresh
        return None


def store(ds: Dataset, name: str, seed: int) -> None:
    """Keep dataset `name` made with `seed`: a dataset whose description survives JSON exactly (all do today); another is not cached."""
    info = dict(ds.info)
    try:
        exact = json.loads(json.dumps(info)) == info
    except (TypeError, ValueError):
        exact = False
    if not exact:
        return
    meta = {
        "name": ds.name,
        "num_classes": ds.num_classes,
        "source": ds.source,
        "info": info,
        "info_is_dict": isinstance(ds.info, dict),
    }
    arrays = {a: getattr(ds, a) for a in ARRAYS}
    cache.write_npz(CACHE_KIND, cache_key(name, seed), {**arrays, "meta": np.array(json.dumps(meta))})


def load(name: str, seed: int, data_dir: str | Path | None = None) -> Dataset:
    """Dataset `name` split with `seed`. One that is made here (generated from the seed, or embedded in
    scikit-learn) comes from the user cache when an equal key is there (bench/core/cache.py; the arrays are
    the same bits: tests/test_fixed_cost.py), and is stored there when it is made. One read from
    `data_dir`, or whose loader was replaced (tests), is never cached."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    cacheable = data_dir is None and DATASETS[name] is BUILT_IN.get(name)
    if cacheable and (ds := cached(name, seed)) is not None:
        return ds
    ds = DATASETS[name](seed, Path(data_dir) if data_dir else None)
    if cacheable:
        store(ds, name, seed)
    return ds


def batch_order(n: int, batch_size: int, epoch: int, seed: int) -> Iterator[np.ndarray]:
    """Index arrays of one epoch's batches: a seeded permutation per epoch, last partial batch dropped.

    Full-batch training (batch_size >= n) uses the data in its stored order, every epoch.
    """
    if batch_size >= n:
        yield np.arange(n)
        return
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    for start in range(0, n - batch_size + 1, batch_size):
        yield perm[start : start + batch_size]
