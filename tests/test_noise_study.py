"""The noise study in docs/METHODOLOGY.md ("Noise between runs") is what its committed results files give: per
quick workload and backend, the log SD of the per-run medians over 5 seeds under each protocol tried, recomputed
here from docs/measurements/noise-*-cpu-2026-12-07.json and compared with the table in the document."""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.records import results

from .conftest import REPO

MEASURED = REPO / "docs" / "measurements"
# (column, files): each protocol of the study, in the order tried
VARIANTS = (
    ("A: 2 threads (before)", ("noise-A-cpu-2026-12-07.json",)),
    ("B: 1 thread", ("noise-B-cpu-2026-12-07.json",)),
    ("C: 1 thread, pinned", ("noise-C-cpu-2026-12-07.json",)),
    ("E: C, 10x / 5x epochs", ("noise-E-mlp-iris-cpu-2026-12-07.json", "noise-E-dcgan-digits-cpu-2026-12-07.json")),
    ("F: the new default (after)", ("noise-F-cpu-2026-12-07.json",)),
)


def medians(files: tuple[str, ...]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for name in files:
        for r in results.load(MEASURED / name).results:
            if r.ok and r.median_step_ms:
                out[(r.workload, r.backend)].append(r.median_step_ms)
    return out


def study_table() -> str:
    """The markdown table: log SD of per-run medians (median step ms) per workload, backend and protocol."""
    columns = {label: medians(files) for label, files in VARIANTS}
    plan = results.load(MEASURED / VARIANTS[0][1][0]).plan
    order = list(plan.workloads) if plan else []
    keys = sorted(columns[VARIANTS[0][0]], key=lambda k: (order.index(k[0]), k[1] != "torch-eager"))
    rows = []
    for workload, backend in keys:
        row = {"workload": workload, "backend": backend}
        for label, cells in columns.items():
            x = cells.get((workload, backend), [])
            row[label] = f"{np.std(np.log(x), ddof=1):.3f} ({np.median(x):.3g} ms)" if len(x) > 1 else "-"
        rows.append(row)
    summary = {"workload": "median", "backend": "(max)"}
    for label, cells in columns.items():
        sds = [np.std(np.log(x), ddof=1) for x in cells.values() if len(x) > 1]
        summary[label] = f"{np.median(sds):.3f} ({max(sds):.3f})"
    rows.append(summary)
    return tabulate(pd.DataFrame(rows), headers="keys", tablefmt="pipe", showindex=False, disable_numparse=True)


def test_the_methodology_table_is_what_the_committed_files_give() -> None:
    text = (REPO / "docs" / "METHODOLOGY.md").read_text()
    assert study_table() in text, study_table()


def test_the_new_default_is_less_noisy_than_the_old_on_every_workload_but_one() -> None:
    before, after = medians(VARIANTS[0][1]), medians(VARIANTS[-1][1])
    sd = {k: (np.std(np.log(before[k]), ddof=1), np.std(np.log(after[k]), ddof=1)) for k in before}
    assert all(len(before[k]) == len(after[k]) == 5 for k in before)
    assert sum(a < b for b, a in sd.values()) >= len(sd) - 1
    assert np.median([a for _, a in sd.values()]) < 0.5 * np.median([b for b, _ in sd.values()])
