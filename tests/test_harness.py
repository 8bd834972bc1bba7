"""The harness loop, driven by a real (numpy) softmax-regression backend: no framework needed."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest

from bench.core import workloads
from bench.measure import harness, tasks


class NumpySoftmax:
    """A tiny real backend: softmax regression trained by gradient descent in numpy."""

    name: ClassVar[str] = "numpy"
    framework: ClassVar[str] = "numpy"

    def __init__(self, lr: float = 1.0) -> None:
        self.lr = lr
        self.steps = 0

    def build(self, workload: Any, init: Any) -> None:
        k = workload.model_kwargs
        self.w = np.zeros((k["in_features"] + 1, k["num_classes"]))  # last row: bias

    def prepare(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(batch)

    def train_step(self, batch: dict[str, np.ndarray]) -> float:
        x, y = self.features(batch["x"]), batch["y"]
        z = x @ self.w
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        p[np.arange(len(y)), y] -= 1
        self.w -= self.lr * x.T @ p / len(y)
        self.steps += 1
        return float(loss)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.features(x) @ self.w

    @staticmethod
    def features(x: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.ones((len(x), 1))])


@pytest.fixture
def task() -> tasks.ClassifyTask:
    return tasks.make(workloads.get("mlp-iris"), seed=0)  # type: ignore[return-value]


def test_first_step_and_warmup_are_kept_apart(task) -> None:
    b = NumpySoftmax()
    b.build(task.workload, None)
    m = harness.run(b, task, epochs=30, warmup_steps=4, min_steady_s=0)
    assert m.steps == b.steps == 30  # full batch: one step per epoch
    assert m.first_step_ms is not None and m.first_step_ms > 0
    assert len(m.warmup_step_ms) >= 4  # at least the profile's warm-up; more if the times had not settled
    assert (len(m.warmup_step_ms), m.settled) == harness.settle_index(m.warmup_step_ms + m.step_ms, 4)
    assert m.window_s >= m.train_time_s  # the training window holds every step, and the evaluations too
    assert m.cpu_start is not None and m.cpu_end is not None
    assert m.cpu_end.process_cpu_s >= m.cpu_start.process_cpu_s
    assert len(m.warmup_step_ms) + len(m.step_ms) == 30 - 1
    assert all(t > 0 for t in m.step_ms)
    assert m.train_time_s == pytest.approx((m.first_step_ms + sum(m.warmup_step_ms) + sum(m.step_ms)) / 1e3)


def test_evaluation_each_epoch_and_time_to_target(task) -> None:
    b = NumpySoftmax()
    b.build(task.workload, None)
    m = harness.run(b, task, epochs=100, warmup_steps=2)
    assert [h["epoch"] for h in m.eval_history] == list(range(1, 101))
    assert m.final_metrics["accuracy"] >= 0.85
    assert m.epoch_loss[-1] < m.epoch_loss[0]
    first_hit = next(h for h in m.eval_history if h["accuracy"] >= task.workload.target)
    assert m.epochs_to_target == first_hit["epoch"]
    assert m.time_to_target_s == pytest.approx(first_hit["train_time_s"])


def test_a_short_steady_window_is_timed_on_past_the_budget_and_the_budgets_figures_stay(task) -> None:
    plain, longer = NumpySoftmax(), NumpySoftmax()
    plain.build(task.workload, None)
    longer.build(task.workload, None)
    budget = harness.run(plain, task, epochs=30, warmup_steps=4, min_steady_s=0)
    m = harness.run(longer, task, epochs=30, warmup_steps=4, min_steady_s=0.05)
    assert budget.extension_steps == 0 and plain.steps == 30
    assert m.steps == 30 and m.extension_steps > 0 and longer.steps == 30 + m.extension_steps  # timed past it
    assert sum(m.step_ms) / 1e3 >= 0.05 and len(m.warmup_step_ms) + len(m.step_ms) == 29 + m.extension_steps
    assert len(m.eval_history) == 30 and m.final_metrics == budget.final_metrics  # evaluated on the budget only
    assert m.final_loss == budget.final_loss and m.epoch_loss == budget.epoch_loss
    budget_steps = m.step_ms[: len(m.step_ms) - m.extension_steps]
    assert m.train_time_s == pytest.approx((m.first_step_ms + sum(m.warmup_step_ms) + sum(budget_steps)) / 1e3)
    assert m.window_s >= m.train_time_s + sum(m.step_ms[len(budget_steps) :]) / 1e3  # the CPU window holds them
    again = NumpySoftmax()
    again.build(task.workload, None)
    enough = harness.run(again, task, epochs=30, warmup_steps=4, min_steady_s=1e-9)
    assert enough.extension_steps == 0  # a window long enough is left as it is


def test_target_not_reached_is_none(task) -> None:
    b = NumpySoftmax(lr=0.0)  # never learns
    b.build(task.workload, None)
    m = harness.run(b, task, epochs=3, warmup_steps=0)
    assert m.time_to_target_s is None and m.epochs_to_target is None


def test_divergence_stops_the_run(task) -> None:
    b = NumpySoftmax()
    b.build(task.workload, None)
    m = harness.run(b, task, epochs=20, warmup_steps=1, poison_step=3)
    assert m.diverged_at_step == 3 and m.steps == 4
    assert math.isnan(m.final_loss)


def test_iris_split_is_stratified_and_standardised(task) -> None:
    ds = task.ds
    assert len(ds.x_train) == 120 and len(ds.x_test) == 30
    assert sorted(np.bincount(ds.y_test)) == [10, 10, 10]  # the seed's X[120:] would hold one class only
    assert np.allclose(ds.x_train.mean(0), 0, atol=1e-6) and np.allclose(ds.x_train.std(0), 1, atol=1e-5)


def test_settle_rule_skips_a_slow_start() -> None:
    times = [50.0, 30.0, 20.0, 12.0, 10.5, 10.0, 10.2, 9.9, 10.1, 10.0, 10.3, 9.8, 10.0, 10.1, 10.0, 9.9] + [10.0] * 20
    k = harness.settle_index(times, min_warmup=2)
    assert k == (3, True)  # window [20, 12, 10.5, 10, 10.2] has mean 12.5: not settled; [12, ...] has 10.5: settled
    assert harness.settle_index([10.0] * 30, min_warmup=4) == (4, True)  # never earlier than the profile's warm-up
    assert harness.settle_index([10.0] * 3, min_warmup=5) == (3, True)  # short runs: everything is warm-up


def test_a_run_that_never_settles_says_so_and_keeps_its_steps() -> None:
    drifting = [100.0 * 0.97**i for i in range(60)]  # 3% faster every step: no window near the late median
    assert harness.settle_index(drifting, min_warmup=5) == (5, False)
    # settling late in the run (after the first half) is not settling: at most half a run is excluded
    late = [30.0] * 40 + [10.0] * 20
    assert harness.settle_index(late, min_warmup=5) == (5, False)
    early = [30.0] * 25 + [10.0] * 35
    assert harness.settle_index(early, min_warmup=5) == (25, True)


class Recording(NumpySoftmax):
    """Logs the order of prepare and train_step calls."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def prepare(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.log.append("p")
        return super().prepare(batch)

    def train_step(self, batch: dict[str, np.ndarray]) -> float:
        self.log.append("s")
        return super().train_step(batch)


@pytest.mark.parametrize(("ahead", "chunk"), [(True, harness.PREFETCH_STEPS), (False, 1)])
def test_batches_are_prepared_ahead_in_chunks_only_where_the_task_allows(ahead: bool, chunk: int) -> None:
    wl = workloads.get("cnn-digits")  # 45 batches per epoch: one full chunk and a partial one
    task = tasks.make(wl, seed=0)
    task.batches_ahead = ahead  # type: ignore[misc]
    n = sum(1 for _ in task.batches(0, None))  # type: ignore[arg-type]

    class Flat(Recording):
        def build(self, workload: Any, init: Any) -> None:
            self.w = np.zeros((64 + 1, 10))

        @staticmethod
        def features(x: np.ndarray) -> np.ndarray:
            return np.hstack([x.reshape(len(x), -1), np.ones((len(x), 1))])

    b = Flat()
    b.build(wl, None)
    m = harness.run(b, task, epochs=1, warmup_steps=0, min_steady_s=0)
    assert m.steps == n
    expected = "".join("p" * min(chunk, n - i) + "s" * min(chunk, n - i) for i in range(0, n, chunk))
    assert "".join(b.log) == expected
