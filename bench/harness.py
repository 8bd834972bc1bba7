"""The one training and timing loop. The clock lives here and nowhere else.

Batches: the task makes numpy batches and the backend turns them into device tensors, untimed,
PREFETCH_STEPS at a time where the task allows it (`task.batches_ahead`), so that most steps run
back to back as in a plain training loop rather than after a burst of batch-making that evicts
the step's working set from the CPU caches; DQN, whose batches depend on the last step's weights,
makes each batch just before its step. The clock runs around `backend.train_step` alone, which
returns the loss as a Python float, so the device work is finished when the clock stops.
Evaluation runs after each epoch, outside the clock. The first step (tracing, scripting, compilation) is kept apart; the warm-up steps
after it (at least the profile's `warmup_steps`, more until the times settle: SETTLE_RULE) are
kept but not counted as steady state (docs/METHODOLOGY.md).
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bench.backends import Backend
from bench.tasks import Task

PREFETCH_STEPS = 32  # batches made and moved to the device ahead of their steps (a bounded chunk)
SETTLE_WINDOW = 5
SETTLE_TOLERANCE = 0.10
SETTLE_RULE = (
    f"steady state starts after the first step and the profile's warm-up steps, at the first window of "
    f"{SETTLE_WINDOW} consecutive steps whose mean is within {SETTLE_TOLERANCE:.0%} of the median of the "
    f"second half of the run (or right after the warm-up steps if no window qualifies)"
)


@dataclass(frozen=True)
class Measurement:
    """What the harness saw. Times in milliseconds unless the name says otherwise."""

    first_step_ms: float | None
    warmup_step_ms: list[float]
    step_ms: list[float]  # steady state, raw, in order
    steps: int
    train_time_s: float  # sum of all timed steps (first step included): the time-to-target clock
    final_loss: float | None
    epoch_loss: list[float]  # mean training loss per epoch
    eval_history: list[dict[str, float]]  # per epoch: epoch, train_time_s, and the task's metrics
    final_metrics: dict[str, float]
    time_to_target_s: float | None
    epochs_to_target: int | None
    diverged_at_step: int | None = None


def clock_ns() -> int:
    return time.perf_counter_ns()


def settle_index(times_ms: list[float], min_warmup: int) -> int:
    """Index into the steps after the first where steady state starts, by SETTLE_RULE.

    Applied after the run to the raw times, so that the rule cannot perturb the measurement.
    """
    n = len(times_ms)
    if n <= min_warmup + SETTLE_WINDOW:
        return min(min_warmup, n)
    reference = statistics.median(times_ms[n // 2 :])
    for i in range(min_warmup, n - SETTLE_WINDOW + 1):
        if abs(statistics.fmean(times_ms[i : i + SETTLE_WINDOW]) - reference) <= SETTLE_TOLERANCE * reference:
            return i
    return min_warmup


def time_calls(fn: Callable[[], object], calls: int) -> list[float]:
    """Milliseconds of each of `calls` calls of `fn` (which returns once its work is done)."""
    return time_each(lambda _: fn(), range(calls))


def time_each(fn: Callable[[int], object], items: Iterable[int]) -> list[float]:
    """Milliseconds of `fn(i)` for each i of `items` (the overhead check's bare steps)."""
    out = []
    for i in items:
        t0 = clock_ns()
        fn(i)
        out.append((clock_ns() - t0) / 1e6)
    return out


def device_batches(
    backend: Backend, task: Task, epoch: int, first_step: int, poison_step: int | None
) -> Iterator[object]:
    """The epoch's batches, prepared for the device in chunks (PREFETCH_STEPS, or 1 where the task
    forbids making batches ahead). `poison_step` (fault injection) feeds NaN inputs at that step."""
    chunk = PREFETCH_STEPS if task.batches_ahead else 1
    source = task.batches(epoch, backend)
    step = first_step
    while raw := list(itertools.islice(source, chunk)):
        ready = []
        for batch in raw:
            if step == poison_step:
                batch = {k: v * float("nan") if v.dtype.kind == "f" else v for k, v in batch.items()}
            ready.append(backend.prepare(batch))
            step += 1
        yield from ready


def run(backend: Backend, task: Task, epochs: int, warmup_steps: int, poison_step: int | None = None) -> Measurement:
    """Train for `epochs`, timing every step. `poison_step` (fault injection) feeds NaN inputs."""
    wl = task.workload
    first_ms: float | None = None
    rest: list[float] = []  # every step after the first; split into warm-up and steady state at the end
    epoch_loss: list[float] = []
    history: list[dict[str, float]] = []
    train_ns = 0
    step = 0
    loss = math.nan
    tta_s: float | None = None
    tta_epochs: int | None = None
    metrics: dict[str, float] = {}
    for epoch in range(epochs):
        losses: list[float] = []
        for prepared in device_batches(backend, task, epoch, step, poison_step):
            t0 = clock_ns()
            loss = backend.train_step(prepared)
            dt = clock_ns() - t0
            train_ns += dt
            if step == 0:
                first_ms = dt / 1e6
            else:
                rest.append(dt / 1e6)
            step += 1
            losses.append(loss)
            if not math.isfinite(loss):
                return Measurement(
                    first_ms, rest, [], step, train_ns / 1e9, loss, epoch_loss, history, metrics, tta_s, tta_epochs,
                    diverged_at_step=step - 1,
                )  # fmt: skip
        epoch_loss.append(sum(losses) / max(len(losses), 1))
        metrics = task.evaluate(backend)
        history.append({"epoch": epoch + 1, "train_time_s": train_ns / 1e9, **metrics})
        if tta_s is None and wl.target is not None and metrics[wl.metric] >= wl.target:
            tta_s, tta_epochs = train_ns / 1e9, epoch + 1
    k = settle_index(rest, warmup_steps)
    return Measurement(
        first_ms, rest[:k], rest[k:], step, train_ns / 1e9, loss, epoch_loss, history, metrics, tta_s, tta_epochs
    )  # fmt: skip
