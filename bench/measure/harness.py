"""The one training and timing loop. The clock lives here and nowhere else.

Batches: the task makes numpy batches and the backend turns them into device tensors, untimed,
PREFETCH_STEPS at a time where the task allows it (`task.batches_ahead`), so that most steps run
back to back as in a plain training loop rather than after a burst of batch-making that evicts
the step's working set from the CPU caches; DQN, whose batches depend on the last step's weights,
makes each batch just before its step. The clock runs around `backend.train_step` alone, which
returns the loss as a Python float, so the device work is finished when the clock stops.
Evaluation runs after each epoch, outside the clock. The first step (tracing, scripting, compilation) is kept apart; the warm-up steps
after it (at least the profile's `warmup_steps`, more until the times settle: SETTLE_RULE) are
kept but not counted as steady state (docs/METHODOLOGY.md). Where the budget's steady steps last less than
MIN_STEADY_S, the loop goes on past the budget's last evaluation (further epochs of the same batches, timed,
untested) until they do: the budget's metrics, loss and time to target are untouched.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.core.backends import Backend
from bench.machine import contention
from bench.measure.tasks import Task
from bench.measure.worktypes import OpTime, Profiler

PREFETCH_STEPS = 32  # batches made and moved to the device ahead of their steps (a bounded chunk)
SETTLE_WINDOW = 5
# The shortest steady window, seconds. The quick profile's budgets give some workloads 20-100 ms of steady steps,
# whose median moves with whatever else the host did in those milliseconds: at 0.2 s the log SD of mlp-iris's and
# dcgan-digits's per-run medians fell from 0.03-0.04 to 0.01 (docs/METHODOLOGY.md, "Noise between runs").
MIN_STEADY_S = 0.5
MAX_EXTENSION_STEPS = 100_000  # a bound on the steps added for MIN_STEADY_S (steps of microseconds)
SETTLE_TOLERANCE = 0.10
SETTLE_RULE = (
    f"steady state starts after the first step and the profile's warm-up steps, at the first window of "
    f"{SETTLE_WINDOW} consecutive steps whose mean is within {SETTLE_TOLERANCE:.0%} of the median of the "
    f"second half of the run; the window is searched in the first half of the steps only, so at most half "
    f"of a run is excluded; a run with no such window has not settled: its steady state starts right after "
    f"the warm-up steps and the record says `settled: false`"
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
    settled: bool = True  # whether SETTLE_RULE found a window (False: steady state = all steps after warm-up)
    window_s: float = 0.0  # wall time of the whole training loop (steps, batch making, evaluations)
    cpu_start: contention.Snapshot | None = None  # CPU counters at the window's start and end
    cpu_end: contention.Snapshot | None = None
    extension_steps: int = 0  # steps timed past the budget to reach MIN_STEADY_S (at the end of step_ms)


def clock_ns() -> int:
    return time.perf_counter_ns()


def settle_index(times_ms: list[float], min_warmup: int) -> tuple[int, bool]:
    """(index into the steps after the first where steady state starts, whether the run settled), by SETTLE_RULE.

    Applied after the run to the raw times, so that the rule cannot perturb the measurement.
    """
    n = len(times_ms)
    if n <= min_warmup + SETTLE_WINDOW:
        return min(min_warmup, n), True
    reference = statistics.median(times_ms[n // 2 :])
    last_start = max(min_warmup, n // 2 - SETTLE_WINDOW + 1)  # windows inside the first half only
    for i in range(min_warmup, min(last_start, n - SETTLE_WINDOW) + 1):
        if abs(statistics.fmean(times_ms[i : i + SETTLE_WINDOW]) - reference) <= SETTLE_TOLERANCE * reference:
            return i, True
    return min_warmup, False


@contextlib.contextmanager
def cpu_window(threads: int) -> Iterator[dict[str, Any]]:
    """What the CPUs did while the block ran (bench.machine.contention.usage, as `Result.cpu` holds it): the
    inference and export scenarios' contention record over their timed calls, filled in when the block ends."""
    record: dict[str, Any] = {}
    start, t0 = contention.snapshot(), clock_ns()
    yield record
    record.update(contention.usage(start, contention.snapshot(), (clock_ns() - t0) / 1e9, threads).to_dict())


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


def run(
    backend: Backend,
    task: Task,
    epochs: int,
    warmup_steps: int,
    poison_step: int | None = None,
    max_steps: int | None = None,
    readings: Callable[[], dict[str, float]] | None = None,
    min_steady_s: float = MIN_STEADY_S,
) -> Measurement:
    """Train for `epochs`, timing every step, and evaluate after each. With `max_steps` (a step budget,
    `--steps`), train exactly that many steps instead, over as many epochs as they take, and evaluate
    nothing: the run measures speed and memory only. `poison_step` (fault injection) feeds NaN inputs.
    `readings` (e.g. the GPU's energy so far) is read after each evaluation, into that epoch's history.
    `min_steady_s`: the shortest steady window (steady_extension); 0 where every process must take the same
    steps (data-parallel ranks) or the steps are compared one by one (the overhead check)."""
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
    cpu_start = contention.snapshot()
    window_start = clock_ns()
    for epoch in itertools.count() if max_steps else range(epochs):
        if max_steps and step >= max_steps:
            break
        losses: list[float] = []
        for prepared in device_batches(backend, task, epoch, step, poison_step):
            if max_steps and step >= max_steps:
                break
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
                window_s = (clock_ns() - window_start) / 1e9
                return Measurement(
                    first_ms, rest, [], step, train_ns / 1e9, loss, epoch_loss, history, metrics, tta_s, tta_epochs,
                    diverged_at_step=step - 1, window_s=window_s, cpu_start=cpu_start, cpu_end=contention.snapshot(),
                )  # fmt: skip
        epoch_loss.append(sum(losses) / max(len(losses), 1))
        if max_steps:
            continue  # a step budget: no evaluation
        metrics = task.evaluate(backend)
        history.append(
            {"epoch": epoch + 1, "train_time_s": train_ns / 1e9, **metrics, **(readings() if readings else {})}
        )
        if tta_s is None and wl.target is not None and metrics[wl.metric] >= wl.target:
            tta_s, tta_epochs = train_ns / 1e9, epoch + 1
    k, settled = settle_index(rest, warmup_steps)
    extension = [] if max_steps else steady_extension(backend, task, epochs, step, min_steady_s - sum(rest[k:]) / 1e3)
    window_s = (clock_ns() - window_start) / 1e9
    cpu_end = contention.snapshot()
    return Measurement(
        first_ms, rest[:k], rest[k:] + extension, step, train_ns / 1e9, loss, epoch_loss, history, metrics, tta_s,
        tta_epochs, settled=settled, window_s=window_s, cpu_start=cpu_start, cpu_end=cpu_end,
        extension_steps=len(extension),
    )  # fmt: skip


def steady_extension(backend: Backend, task: Task, first_epoch: int, first_step: int, short_s: float) -> list[float]:
    """Milliseconds of each step timed past the budget, over further epochs, until they add up to `short_s`
    (nothing where that is not positive), MAX_EXTENSION_STEPS, or a non-finite loss. The model trains on; nothing
    is evaluated."""
    out: list[float] = []
    left_ns = short_s * 1e9
    for epoch in itertools.count(first_epoch):
        if left_ns <= 0 or len(out) >= MAX_EXTENSION_STEPS:
            break
        before = len(out)
        for prepared in device_batches(backend, task, epoch, first_step + len(out), None):
            t0 = clock_ns()
            loss = backend.train_step(prepared)
            dt = clock_ns() - t0
            out.append(dt / 1e6)
            left_ns -= dt
            if left_ns <= 0 or len(out) >= MAX_EXTENSION_STEPS or not math.isfinite(loss):
                return out
        if len(out) == before:
            break  # an epoch without batches
    return out


@dataclass(frozen=True)
class ProfiledSteps:
    """What the harness saw of a profile run (bench/scenarios/profile.py). Times in milliseconds."""

    first_step_ms: float
    warmup_step_ms: list[float]
    unprofiled_step_ms: list[float]  # the window without the profiler, right before the profiled one
    profiled_step_ms: list[float]  # the window under the profiler
    final_loss: float
    ops: list[OpTime]  # what the profiler saw in the profiled window
    window_s: float = 0.0  # wall time of both windows, for the CPU counters
    cpu_start: contention.Snapshot | None = None  # CPU counters at the unprofiled window's start and at the end
    cpu_end: contention.Snapshot | None = None


def profile_windows(backend: Backend, task: Task, warmup_steps: int, window: int, profiler: Profiler) -> ProfiledSteps:
    """The steps of a train run, from its first, on its batches in its order: the first step, `warmup_steps`
    more, a window of `window` steps timed without the profiler, then a window of `window` steps under it
    (`profiler.start()` ... `stop()`). The profiled window's batches are made and moved to the device before
    the profiler starts (a DQN's from the weights at the window's start), so that it sees the steps and nothing
    else; each step is timed on this clock, under the profiler too."""
    batches = (b for epoch in itertools.count() for b in device_batches(backend, task, epoch, 0, None))
    times = []
    loss = math.nan
    cpu_start, window_start = None, 0
    for i, prepared in enumerate(itertools.islice(batches, 1 + warmup_steps + window)):
        if i == 1 + warmup_steps:
            cpu_start, window_start = contention.snapshot(), clock_ns()
        t0 = clock_ns()
        loss = backend.train_step(prepared)
        times.append((clock_ns() - t0) / 1e6)
    ahead = list(itertools.islice(batches, window))
    profiled = []
    profiler.start()
    try:
        for prepared in ahead:
            t0 = clock_ns()
            loss = backend.train_step(prepared)
            profiled.append((clock_ns() - t0) / 1e6)
    finally:
        ops = profiler.stop()
    window_s = (clock_ns() - window_start) / 1e9
    return ProfiledSteps(
        times[0], times[1 : 1 + warmup_steps], times[1 + warmup_steps :], profiled, loss, list(ops),
        window_s, cpu_start, contention.snapshot(),
    )  # fmt: skip
