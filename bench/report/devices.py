"""The report's cross-device view: the same workload on each device model, which framework wins where.

Present when the results span more than one device model (several machines' files given to `fwbench report`,
or a merge of shards that ran on different hardware: bench/planning/shard.py keeps each device's runs apart). One row
per workload and scenario, one column per device model: the verdict rule's answer on that device (the
fastest backend of each framework, as in the Summary) and the step-time ratio TF / PT with its CI. Results of
different devices are never pooled: each column is that device's own comparison. No framework import.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bench.analysis.cells import Cell
from bench.analysis.verdicts import SAME, WorkloadVerdict, framework_answer, workload_verdicts
from bench.core.formatting import fmt_ci, markdown
from bench.core.stats import DEFAULT_MARGIN
from bench.report.summary import ANSWER_WORDS

HEADING = "## Across devices: which framework wins where"


def answer(v: WorkloadVerdict) -> str:
    """'PyTorch (TF/PT 1.31 [1.20, 1.45]*; torch-eager vs keras)', 'the same (...)', 'not yet known (...)' or
    'no verdict: why (...)'."""
    r = v.speed
    if r is None:
        return "-"
    if r.why_not or not r.run_level:
        word = f"no verdict: {r.why_not or 'per-run medians needed'}"
    else:
        word = ANSWER_WORDS.get(framework_answer(r), "no verdict")
    return f"{word} (TF/PT {fmt_ci(r)}; {v.torch.backend} vs {v.tf.backend})"


def cross_device_section(cs: Sequence[Cell], margin: float = DEFAULT_MARGIN) -> list[str]:
    verdicts = workload_verdicts(cs, margin)
    models = list(dict.fromkeys(v.device_model for v in verdicts))
    if len(models) < 2:
        return []
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for v in verdicts:
        row = rows.setdefault((v.workload, v.torch.scenario), {"Workload": v.workload, "Scenario": v.torch.scenario})
        row[v.device_model] = answer(v)
    table = pd.DataFrame([{**{m: "not run" for m in models}, **row} for row in rows.values()])
    table = table[["Workload", "Scenario", *models]]
    tally = []
    for m in models:
        mine = [v for v in verdicts if v.device_model == m]
        pt = sum(1 for v in mine if v.speed and v.speed.significant and v.speed.value > 1)
        tf = sum(1 for v in mine if v.speed and v.speed.significant and v.speed.value < 1)
        same = sum(1 for v in mine if v.winner == SAME)
        tally.append(
            f"{m}: PyTorch faster on {pt}, TensorFlow on {tf}, the same within {margin * 100:g}% on {same}, "
            f"not yet known or no verdict on {len(mine) - pt - tf - same}"
        )
    lines = [
        HEADING,
        "",
        f"The same workloads on {len(models)} device models, each compared on its own runs (never pooled): "
        "the verdict rule's answer per device (the fastest backend of each framework; TF/PT is TensorFlow's "
        "step time over PyTorch's, above 1 PyTorch is faster, * where the rule calls it).",
        "",
        markdown(table),
        "",
        "; ".join(tally) + ".",
        "",
    ]
    return lines
