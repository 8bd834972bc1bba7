"""The report's Scaling section: the distributed scenario's cells (bench/scenarios/distributed.py), per workload.

Each (workload, backend) has a cell per shape: nodes x workers per node ("distributed x1", "distributed x2",
"distributed 2x1" ...: bench.analysis.cells.context), shown as "1x2", "2x1". Scaling efficiency is measured
against the same backend's one-node single-worker distributed cell, so that both sides carry the engine's own costs
(DDP's hooks, the strategy's replica context): with weak scaling (each worker keeps the workload's batch) it
is throughput_N / (N x throughput_1), N the world size (nodes x workers); with strong scaling (the global
batch split across the world) the same formula is speed-up / N. Nothing here imports a framework.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.analysis.cells import Cell
from bench.core.formatting import blank_missing, fmt, markdown, one_line, workload_title
from bench.report.plots import Curve, Panel

SCENARIO = "distributed"
SHAPE = "nodes x workers"  # the column of a cell's shape: "1x2" one node of 2 workers, "2x1" 2 nodes of 1


def distributed_cells(cs: Sequence[Cell]) -> list[Cell]:
    return [c for c in cs if c.base_scenario == SCENARIO]


def groups(cs: Sequence[Cell]) -> dict[tuple[str, str, str], list[Cell]]:
    """{(device model, workload, precision): its distributed cells, by backend, world size, then nodes}."""
    out: dict[tuple[str, str, str], list[Cell]] = {}
    for c in sorted(distributed_cells(cs), key=lambda c: (c.backend, c.world, c.nodes)):
        out.setdefault((c.device_model, c.workload, c.precision), []).append(c)
    return out


def throughput(c: Cell) -> float | None:
    return c.median_of("throughput_samples_s") if c.ok else None


def efficiency(c: Cell, group: Sequence[Cell]) -> float | None:
    """throughput_N / (N x throughput_1), N the world size, against the same backend's one-node single-worker
    cell."""
    one = next((x for x in group if x.backend == c.backend and x.world == 1), None)
    t, t1 = throughput(c), throughput(one) if one is not None else None
    return t / (c.world * t1) if t is not None and t1 else None


def record_values(c: Cell, name: str) -> list[float]:
    return [v for r in c.runs if r.distributed is not None and (v := r.distributed.settings.get(name)) is not None]


def table(group: Sequence[Cell]) -> pd.DataFrame:
    rows = []
    for c in group:
        d = c.runs[0].distributed if c.runs else None
        eff = efficiency(c, group)
        diffs = record_values(c, "update_max_abs_diff")
        tol = record_values(c, "update_tol")
        rss = [v for r in c.runs if r.distributed for v in r.distributed.rank_peak_rss_mib]
        share = [r.distributed.allreduce_share for r in c.runs if r.distributed and r.distributed.allreduce_share]
        rows.append(
            {
                "backend": c.backend,
                SHAPE: f"{c.nodes}x{c.workers}",
                "status": "ok" if c.ok else f"{c.status}: {one_line(c.reason, 70)}",
                "batch per worker / global": f"{d.per_worker_batch} / {d.global_batch}" if d else "-",
                "step ms (slowest rank)": fmt(c.median_of("median_step_ms")),
                "samples/s": fmt(throughput(c)),
                "scaling efficiency": f"{eff:.0%}" if eff is not None else "-",
                "first update vs one process (max diff / tol)": f"{max(diffs):.1e} / {tol[0]:.0e}"
                if diffs and tol
                else "-",
                c.runs[0].metric_name if c.runs else "metric": fmt(c.median_of("metric"), 4),
                "time to target s": fmt(c.median_of("time_to_target_s")),
                "peak RSS per worker MiB": fmt(float(np.max(rss))) if rss else "-",
                "all-reduce share": f"{np.median(share):.0%}" if share else "-",
            }
        )
    return blank_missing(pd.DataFrame(rows))


CORE_COLUMNS = ("backend", SHAPE, "status", "step ms (slowest rank)", "samples/s", "scaling efficiency")


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table as a core table (CORE_COLUMNS) and a details table (backend, shape and the rest): each
    narrow enough to read as text."""
    rest = [c for c in df.columns if c not in CORE_COLUMNS]
    return df[list(CORE_COLUMNS)], df[["backend", SHAPE, *rest]]


def scaling_section(cs: Sequence[Cell]) -> list[str]:
    gs = groups(cs)
    if not gs:
        return []
    models = {m for m, _, _ in gs}
    lines = [
        "## Scaling: data-parallel training on each framework's own engine",
        "",
        "`--scenario distributed --nodes K --workers N`: PyTorch DistributedDataParallel launched by torchrun (one "
        "launcher per node; gloo on a CPU, NCCL on GPUs) against TensorFlow's MultiWorkerMirroredStrategy (one "
        "process per worker, `TF_CONFIG` listing every node's workers), on "
        "the same twins, the same shared initial weights and the same sharding of each global batch. Per "
        "workload a table of speed, then one of details.",
        "",
        "- Step: the slowest rank's time at each step (the step is done when every rank is), median over the "
        "steady state.",
        "- nodes x workers: K launchers (nodes), each of N worker processes; here every node runs on this host "
        "over loopback, so K x N workers share its cores as K x N workers on one node would.",
        "- samples/s: global batch / step. Scaling efficiency: samples/s over K x N times the same backend's "
        "one-node single-worker samples/s.",
        "- First update: before timing, one step of K x N workers against one process with the whole global batch "
        "from the same weights; the largest weight difference and the tolerance it must stay under.",
        "- On a CPU the workers share the host's cores (threads per worker: the run's threads / (K x N)).",
        "",
    ]
    for (model, workload, precision), group in gs.items():
        core, details = split(table(group))
        lines += [workload_title(workload, precision, model, len(models) > 1), "", markdown(core), ""]
        lines += [markdown(details), ""]
    return lines


def throughput_panels(cs: Sequence[Cell]) -> list[Panel]:
    """Per workload, samples/s against the world size (nodes x workers), a line per backend and node count."""
    out = []
    for (_, workload, _), group in groups(cs).items():
        curves = []
        for backend, nodes in dict.fromkeys((c.backend, c.nodes) for c in group):
            pts = [
                (c.world, throughput(c))
                for c in group
                if (c.backend, c.nodes) == (backend, nodes) and throughput(c) is not None
            ]
            if pts:
                label = backend if nodes == 1 else f"{backend}, {nodes} nodes"
                curves.append(Curve(label, tuple(float(w) for w, _ in pts), tuple(float(t) for _, t in pts)))  # type: ignore[arg-type]
        if curves:
            out.append(Panel(workload, "samples/s (all workers)", curves=tuple(curves)))
    return out
