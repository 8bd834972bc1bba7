"""The notes and warnings said before the summary: a source that lacks some of the numbers (pytest-benchmark
JSON), a suite fitted to `--budget`, a partial merge of shards, a busy host, contended and redone runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.analysis import cells
from bench.machine import contention
from bench.records.results import Suite


def sources_note(suites: Sequence[Suite]) -> list[str]:
    """One note per kind of source that lacks some of the numbers (pytest-benchmark JSON)."""
    notes = dict.fromkeys(s.source.note for s in suites if s.source and s.source.note)
    files = ", ".join(f"`{s.source.file}`" for s in suites if s.source and s.source.note)
    return [line for n in notes for line in (f"Note ({files}): {n}", "")]


def partial_note(suites: Sequence[Suite]) -> list[str]:
    """A merge of shards that lacks planned runs (`fwbench merge`): said first, with what is missing."""
    return [
        f"**Warning: `{s.run_id}` is partial**: {len(s.missing)} planned run(s) or shard(s) missing from the "
        "merge: " + "; ".join(s.missing[:12]) + (" and more" if len(s.missing) > 12 else "") + ".\n"
        for s in suites
        if s.missing
    ]


def budget_note(suites: Sequence[Suite]) -> list[str]:
    """What `--budget` left out of a suite's plan (bench.planning.estimate.fit_to_budget), so that a missing workload or
    backend is not read as one that failed."""
    return [
        f"Note: `{s.run_id}` was fitted to `--budget {s.plan.budget_s / 60:g}` minutes, leaving out "
        + "; ".join(s.plan.left_out)
        + ".\n"
        for s in suites
        if s.plan is not None and s.plan.budget_s is not None and s.plan.left_out
    ]


def busy_note(suites: Sequence[Suite]) -> list[str]:
    """A warning up front when a run's host was oversubscribed (its timings are not trustworthy)."""
    busy = []
    for s in suites:
        cpus = s.environment.get("cpu_count_logical")
        load = cells.busy_load(s.results, cpus)
        if load is not None:
            busy.append(f"`{s.run_id}` (load average up to {load:.1f} on {cpus} CPUs)")
    out = []
    if busy:
        out += [
            f"**Warning: busy host.** {', '.join(busy)}: other work competed for the CPUs, so step times, "
            "throughput and time to target are unreliable; metric and memory are not affected.",
            "",
        ]
    contended = [r for s in suites for r in s.results if r.contended]
    if contended:
        total = sum(1 for s in suites for r in s.results if r.ok)
        worst = max(contended, key=lambda r: (r.cpu.get("others_cores") or 0) + (r.cpu.get("steal_cores") or 0))
        cells_hit = sorted({f"{r.workload}/{r.backend}" for r in contended})
        out += [
            f"**Warning: {len(contended)} of {total} runs were contended**: other processes took cores they asked "
            f"for (worst: {worst.workload}/{worst.backend}: {worst.cpu.get('reason')}). Their step times reflect "
            "the machine, not the framework, so no ratio involving them is starred. Affected: "
            + ", ".join(cells_hit[:12])
            + (f" and {len(cells_hit) - 12} more" if len(cells_hit) > 12 else "")
            + ". "
            + contention.advice(max((r.config.threads for r in contended if r.config), default=1)),
            "",
        ]
    redone = [r for s in suites for r in s.redone]
    if redone:
        failed = sum(1 for r in redone if not r.ok)  # a redo that did not end ok is kept there too
        out += [
            f"**Redone: {len(redone) - failed} contended run{'s' if len(redone) - failed != 1 else ''}** "
            "were run again at the end of the suite once the machine was quiet; the tables hold the redos, and the "
            "replaced records stay in the results file under `redone`"
            + (
                f" ({failed} redo{'s' if failed != 1 else ''} did not finish: the contended record stayed)"
                if failed
                else ""
            )
            + (f". {len(contended)} still contended after the redos." if contended else "; none is left contended."),
            "",
        ]
    return out
