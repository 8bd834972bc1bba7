"""The progress display of `fwbench run` (rich), kept out of the launcher."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from bench.report import fmt
from bench.results import Result


class Progress:
    def __init__(self, total: int) -> None:
        self.console = Console(stderr=True)
        self.bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.bar.add_task("starting", total=total)

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.bar.__exit__(et, ev, tb)

    def update(self, triple: tuple[str, str, int], result: Result | None) -> None:
        workload, backend, repeat = triple
        if result is None:
            self.bar.update(self.task, description=f"{workload} / {backend} #{repeat}")
            return
        if result.ok:
            line = f"{result.metric_name} {fmt(result.metric)}, median step {fmt(result.median_step_ms)} ms"
        else:
            line = f"{result.status}: {(result.reason.splitlines() or [''])[-1][:100]}"
        self.console.print(f"  {workload:<16} {backend:<14} #{repeat}  {line}")
        self.bar.advance(self.task)
