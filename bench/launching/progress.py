"""The progress display of `fwbench run` (rich), kept out of the launcher.

A run's line says why it did not end ok (unsupported, failed, ...); a reason already said for an earlier run
(keras-fit unsupported on the GAN, once per seed) is said once, then "(the same as above)", and counted when the
suite's runs are done. In a log (stderr not a terminal) lines are never wrapped: rich would wrap at 80
columns, mid-figure."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from bench.core.formatting import fmt
from bench.core.spec import RunKey, layout
from bench.planning.estimate import minutes
from bench.records.results import Result


class Progress:
    """A bar over the plan's runs. Its "left" is the estimate of the runs still to do (bench.planning.estimate, the
    same figures as the plan line), scaled by how the runs so far compared with their estimates."""

    def __init__(self, total: int, estimates_s: Mapping[RunKey, float] | None = None) -> None:
        self.console = Console(stderr=True)
        self.console.soft_wrap = not self.console.is_terminal  # a log: one line per run, however long
        self.reasons: dict[str, list[str]] = {}  # each distinct "status: reason" said so far -> the runs it ended
        self.estimates_s = dict(estimates_s or {})
        self.left_s = sum(self.estimates_s.values())  # estimated seconds of the runs not yet finished
        self.done_estimated_s = 0.0  # the estimates of the finished runs...
        self.started = time.monotonic()
        self.bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=self.console,
            transient=False,
        )
        self.task = self.bar.add_task("starting", total=total, left=self.left_text())

    def left_text(self) -> str:
        if not self.estimates_s:
            return ""
        spent = time.monotonic() - self.started
        pace = spent / self.done_estimated_s if self.done_estimated_s > 0 else 1.0  # actual / estimated so far
        return f"about {minutes(self.left_s * pace)} left"

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.bar.__exit__(et, ev, tb)
        for reason, runs in self.reasons.items():
            if len(runs) > 1:
                status, cells = reason.partition(":")[0], ", ".join(dict.fromkeys(runs))
                self.console.print(f"fwbench: {len(runs)} runs {status} for the same reason: {cells}", markup=False)

    def once(self, reason: str, run: str) -> str:
        """`reason` the first time it ends a run of this suite, then "(the same as above)"; `run` (workload/backend)
        is counted each time."""
        self.reasons.setdefault(reason, []).append(run)
        return reason if len(self.reasons[reason]) == 1 else f"{reason.partition(':')[0]} (the same as above)"

    def say(self, line: str) -> None:
        self.console.print(f"fwbench: {line}")

    def update(self, key: RunKey, result: Result | None) -> None:
        workload, backend, seed, repeat = key.workload, key.backend, key.seed, key.repeat
        if key.scenario != "train":  # the usual scenario: its name would be noise
            workers = f" {layout(key.nodes, key.workers)}" if key.scenario == "distributed" else ""
            workload = f"{workload} ({key.scenario}{workers})"
        if result is None:
            task = self.bar.tasks[self.task]
            if task.total is not None and task.completed >= task.total:  # a redo of a contended run: one more
                self.bar.update(self.task, total=task.total + 1)
            self.bar.update(self.task, description=f"{workload} / {backend} seed {seed} #{repeat}")
            return
        if result.ok and result.scenario == "export":
            ok = [d.runtime for d in result.deployment if d.status == "ok"]
            line = f"{len(ok)} of {len(result.deployment)} runtimes ok" + (
                f" ({result.reason[:100]})" if result.reason else ""
            )
        elif result.ok:
            step = "batch-1 p50" if result.scenario == "infer" else "median step"
            line = f"{result.metric_name} {fmt(result.metric)}, {step} {fmt(result.median_step_ms)} ms"
        else:
            line = self.once(
                f"{result.status}: {(result.reason.splitlines() or [''])[-1][:100]}", f"{workload}/{backend}"
            )
        if result.contended:
            line += " (contended: other processes took its cores)"
        self.console.print(f"  {workload:<16} {backend:<14} seed {seed} #{repeat}  {line}", markup=False)
        finished = self.estimates_s.pop(key, None)  # a redo of a run already counted has none left
        if finished is not None:
            self.left_s -= finished
            self.done_estimated_s += finished
        self.bar.advance(self.task)
        self.bar.update(self.task, left=self.left_text())
