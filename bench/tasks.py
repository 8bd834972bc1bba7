"""Training programs, framework-neutral: what a batch is and how a model is graded.

A task makes the numpy batches (one list for every backend) and grades the model through
`backend.predict` in numpy, so that neither framework grades itself. The harness times only
`backend.train_step`; everything here runs outside the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.special import log_softmax

from bench import data
from bench.backends import Backend
from bench.spec import Workload


class Task(Protocol):
    workload: Workload
    samples_per_step: int
    predict_key: str  # the batch entry that `backend.predict` takes (parity tests, FLOP counting)

    def describe(self) -> dict[str, Any]: ...

    def batches(self, epoch: int, backend: Backend) -> Iterator[dict[str, np.ndarray]]: ...

    def evaluate(self, backend: Backend) -> dict[str, float]:
        """Must contain `workload.metric`."""

    def example_batch(self) -> dict[str, np.ndarray]:
        """One training batch (parity tests, FLOP counting)."""


class ClassifyTask:
    """Supervised classification: cross-entropy on logits, accuracy on the held-out split."""

    eval_batch = 1024
    predict_key = "x"

    def __init__(self, workload: Workload, seed: int, data_dir: str | Path | None) -> None:
        self.workload = workload
        self.seed = seed
        self.ds = data.load(workload.dataset, seed, data_dir)
        self.samples_per_step = min(workload.batch_size, len(self.ds.x_train))

    def describe(self) -> dict[str, Any]:
        return self.ds.describe()

    def batches(self, epoch: int, backend: Backend) -> Iterator[dict[str, np.ndarray]]:
        for idx in data.batch_order(len(self.ds.x_train), self.workload.batch_size, epoch, self.seed):
            yield {"x": self.ds.x_train[idx], "y": self.ds.y_train[idx]}

    def evaluate(self, backend: Backend) -> dict[str, float]:
        x, y = self.ds.x_test, self.ds.y_test
        logits = np.concatenate([backend.predict(x[i : i + self.eval_batch]) for i in range(0, len(x), self.eval_batch)])
        logp = log_softmax(logits.astype(np.float64), axis=1)
        return {
            "accuracy": float((logits.argmax(axis=1) == y).mean()),
            "test_loss": float(-logp[np.arange(len(y)), y].mean()),
        }

    def example_batch(self) -> dict[str, np.ndarray]:
        return next(self.batches(0, None))  # type: ignore[arg-type]


TASKS = {"classify": ClassifyTask}


def make(workload: Workload, seed: int, data_dir: str | Path | None = None) -> Task:
    return TASKS[workload.task](workload, seed, data_dir)
