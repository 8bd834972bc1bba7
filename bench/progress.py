"""The progress display of `fwbench run` (rich), kept out of the launcher."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from bench.formatting import fmt
from bench.results import Result
from bench.spec import RunKey


class Progress:
    def __init__(self, total: int) -> None:
        self.console = Console(stderr=True)
        self.bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),  # from the mean time per finished run so far (rich's estimate)
            console=self.console,
            transient=False,
            speed_estimate_period=24 * 3600.0,  # the estimate averages over every finished run, not the last 30 s
        )
        self.task = self.bar.add_task("starting", total=total)

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.bar.__exit__(et, ev, tb)

    def say(self, line: str) -> None:
        self.console.print(f"fwbench: {line}")

    def update(self, key: RunKey, result: Result | None) -> None:
        workload, backend, seed, repeat = key.workload, key.backend, key.seed, key.repeat
        if key.scenario != "train":  # the usual scenario: its name would be noise
            workers = f" x{key.workers}" if key.scenario == "distributed" else ""
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
            line = f"{result.status}: {(result.reason.splitlines() or [''])[-1][:100]}"
        if result.contended:
            line += " (contended: other processes took its cores)"
        self.console.print(f"  {workload:<16} {backend:<14} seed {seed} #{repeat}  {line}")
        self.bar.advance(self.task)
