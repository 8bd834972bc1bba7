"""The one training and timing loop. The clock lives here and nowhere else.

Per step: the task makes a numpy batch, the backend turns it into device tensors (untimed),
then the clock runs around `backend.train_step` alone, which returns the loss as a Python float,
so the device work is finished when the clock stops. Evaluation runs after each epoch, outside
the clock. The first step (tracing, scripting, compilation) is kept apart; the next
`warmup_steps` are kept but not counted as steady state (docs/METHODOLOGY.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from bench.backends import Backend
from bench.tasks import Task


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
    notes: list[str] = field(default_factory=list)


def clock_ns() -> int:
    return time.perf_counter_ns()


def run(backend: Backend, task: Task, epochs: int, warmup_steps: int, poison_step: int | None = None) -> Measurement:
    """Train for `epochs`, timing every step. `poison_step` (fault injection) feeds NaN inputs."""
    wl = task.workload
    first_ms: float | None = None
    warm: list[float] = []
    steady: list[float] = []
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
        for batch in task.batches(epoch, backend):
            if poison_step is not None and step == poison_step:
                batch = {k: v * float("nan") if v.dtype.kind == "f" else v for k, v in batch.items()}
            prepared = backend.prepare(batch)
            t0 = clock_ns()
            loss = backend.train_step(prepared)
            dt = clock_ns() - t0
            train_ns += dt
            ms = dt / 1e6
            if step == 0:
                first_ms = ms
            elif step <= warmup_steps:
                warm.append(ms)
            else:
                steady.append(ms)
            step += 1
            losses.append(loss)
            if not math.isfinite(loss):
                return Measurement(
                    first_ms,
                    warm,
                    steady,
                    step,
                    train_ns / 1e9,
                    loss,
                    epoch_loss,
                    history,
                    metrics,
                    tta_s,
                    tta_epochs,
                    diverged_at_step=step - 1,
                )
        epoch_loss.append(sum(losses) / max(len(losses), 1))
        metrics = task.evaluate(backend)
        history.append({"epoch": epoch + 1, "train_time_s": train_ns / 1e9, **metrics})
        if tta_s is None and wl.target is not None and metrics[wl.metric] >= wl.target:
            tta_s, tta_epochs = train_ns / 1e9, epoch + 1
    return Measurement(
        first_ms, warm, steady, step, train_ns / 1e9, loss, epoch_loss, history, metrics, tta_s, tta_epochs
    )
