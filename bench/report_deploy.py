"""The report's Deployment section: the infer and export scenarios' runtimes (bench.deploy), per workload.

A runtime cell is one (device model, workload, precision, runtime) over its runs: the backend's own
inference path for an infer run (the runtime is the backend), or one export path for an export run. Its
latency figures come from the calls of every run pooled (each run's calls are independent requests to
the same artifact kind); its other figures are medians over runs. Nothing here imports a framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench import analysis, stats
from bench.analysis import suite_device_model
from bench.backends import BACKENDS, FRAMEWORK_OF
from bench.formatting import blank_missing, fmt, markdown, one_line, workload_title
from bench.plots import Panel
from bench.results import Deployment, Result, Suite
from bench.spec import EXPORT_RUNTIMES, RUNTIMES
from bench.workloads import WORKLOADS

SCENARIOS = ("infer", "export")
# The seed table's deployment row: its PyTorch side and its TensorFlow side, each an export path fwbench runs.
RUNTIME_LABELS = {
    "torchscript": "TorchScript",
    "torch-export": "torch.export",
    "onnx-torch": "ONNX from PyTorch (ORT)",
    "onnx-torch-int8": "ONNX from PyTorch, int8 (ORT)",
    "savedmodel": "SavedModel",
    "tflite": "TF Lite (LiteRT)",
    "tflite-int8": "TF Lite, int8 (LiteRT)",
    "onnx-tf": "ONNX from TensorFlow (ORT)",
    "onnx-tf-int8": "ONNX from TensorFlow, int8 (ORT)",
}
ONNX_PAIRS = (("onnx-torch", "onnx-tf"), ("onnx-torch-int8", "onnx-tf-int8"))
NO_EXPORT = " (export)"  # the cell of an export run that made no runtime record (an unsupported backend, a crash)


@dataclass(frozen=True)
class RuntimeCell:
    """One runtime of one workload over its runs (infer: a backend's own path; export: an export path)."""

    device_model: str
    workload: str
    precision: str
    scenario: str  # "infer" | "export"
    runtime: str
    ok: list[Deployment] = field(default_factory=list)
    not_ok: list[Deployment] = field(default_factory=list)
    metric_name: str = ""

    @property
    def status(self) -> str:
        return "ok" if self.ok else self.not_ok[0].status

    @property
    def reason(self) -> str:
        return "" if self.ok else self.not_ok[0].reason

    @property
    def first(self) -> Deployment:
        return (self.ok or self.not_ok)[0]

    @property
    def samples_ms(self) -> list[float]:
        return [x for d in self.ok for x in d.latency.samples_ms]

    def median(self, value: str) -> float | None:
        got = [getattr(d, value) for d in self.ok if getattr(d, value) is not None]
        return float(np.median(got)) if got else None

    def throughput(self, batch: str) -> float | None:
        got = [d.throughput_samples_s[batch] for d in self.ok if batch in d.throughput_samples_s]
        return float(np.median(got)) if got else None

    @property
    def largest_batch(self) -> int | None:
        got = [d.max_batch for d in self.ok if d.max_batch is not None]
        return min(got) if got else None  # the one every run reached


def runtime_order(c: RuntimeCell) -> tuple[int, int]:
    """Native paths first (registry order), then PyTorch's exports, then TensorFlow's (spec order)."""
    if c.scenario == "infer":
        return 0, list(BACKENDS).index(c.runtime) if c.runtime in BACKENDS else len(BACKENDS)
    return 1, RUNTIMES.index(c.runtime) if c.runtime in RUNTIMES else len(RUNTIMES)


def deployment_results(suites: Sequence[Suite]) -> list[tuple[str, Result]]:
    return [(suite_device_model(s), r) for s in suites for r in s.results if r.scenario in SCENARIOS]


def runtime_cells(suites: Sequence[Suite]) -> list[RuntimeCell]:
    """Every runtime of every infer and export run, grouped; a run that produced no deployment record
    (crashed, timed out, unsupported backend) is a cell of its backend with the run's status."""
    groups: dict[tuple[str, str, str, str, str], RuntimeCell] = {}
    for model, r in deployment_results(suites):
        entries = r.deployment or [Deployment(runtime=r.backend, status=r.status, reason=r.reason)]
        if r.scenario == "export" and not r.ok:
            entries = [Deployment(runtime=f"{r.backend}{NO_EXPORT}", status=r.status, reason=r.reason)]
        for d in entries:
            key = (model, r.workload, r.precision, r.scenario, d.runtime)
            cell = groups.setdefault(key, RuntimeCell(*key, metric_name=r.metric_name))
            (cell.ok if d.status == "ok" else cell.not_ok).append(d)
    wl_order = {w: i for i, w in enumerate(WORKLOADS)}
    return sorted(
        groups.values(),
        key=lambda c: (
            c.device_model,
            wl_order.get(c.workload, len(wl_order)),
            c.workload,
            c.precision,
            *runtime_order(c),
        ),
    )


def by_workload(cs: Sequence[RuntimeCell]) -> dict[tuple[str, str, str], list[RuntimeCell]]:
    out: dict[tuple[str, str, str], list[RuntimeCell]] = {}
    for c in cs:
        out.setdefault((c.device_model, c.workload, c.precision), []).append(c)
    return out


def framework_of(c: RuntimeCell) -> str:
    fw = c.first.framework or (BACKENDS[c.runtime].framework if c.runtime in BACKENDS else "")
    return FRAMEWORK_OF.get(fw, fw)


def p50_text(p: dict[str, Any]) -> str:
    """'0.105 [0.1, 0.107]': the p50 and its CI from stats.percentiles ('-' without calls)."""
    if p.get("p50_ms") is None:
        return "-"
    ci = p["ci95_p50_ms"]
    return fmt(p["p50_ms"]) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci and ci[0] != ci[1] else "")


def table(cs: Sequence[RuntimeCell]) -> pd.DataFrame:
    rows = []
    for c in cs:
        p = stats.percentiles(c.samples_ms) if c.samples_ms else {}
        native = c.median("native_metric")
        metric = c.median("metric")
        big = c.largest_batch
        rows.append(
            {
                "framework": framework_of(c),
                "runtime": c.runtime if c.scenario == "export" else f"{c.runtime} (own path)",
                "status": c.status if c.ok else f"{c.status}: {one_line(c.reason, 60)}",
                "max abs diff": f"{c.median('max_abs_diff'):.1e}" if c.median("max_abs_diff") is not None else "-",
                c.metric_name or "metric": fmt(metric, 4)
                + (
                    f" ({metric - native:+.3g})"
                    if metric is not None and native is not None and metric != native
                    else ""
                ),
                "p50 ms [95% CI]": p50_text(p),
                "p99 ms": fmt(p.get("p99_ms")),
                "samples/s b1": fmt(c.throughput("1")),
                "samples/s b64": fmt(c.throughput("64")),
                "largest batch (samples/s)": f"{big} ({fmt(c.throughput(str(big)))})" if big else "-",
                "size MiB": fmt(c.median("size_mib")),
                "export s": fmt(c.median("export_s")),
                "load s": fmt(c.median("load_s")),
            }
        )
    return blank_missing(pd.DataFrame(rows))


def onnx_lines(cs: Sequence[RuntimeCell]) -> list[str]:
    """Both exporters' ONNX files in the same ONNX Runtime session options: TF's p50 over PyTorch's, with the
    95% bootstrap CI of the ratio of medians. As everywhere in the report, a verdict needs run-to-run
    evidence: with 3+ runs a side the CI is over the runs' p50s; with fewer it is over the pooled calls
    (within-run noise only) and no side is named faster."""
    got = {c.runtime: c for c in cs if c.ok}
    out = []
    for torch_rt, tf_rt in ONNX_PAIRS:
        if torch_rt not in got or tf_rt not in got:
            continue
        tf, pt = got[tf_rt], got[torch_rt]
        run_level = analysis.enough_runs(len(tf.ok), len(pt.ok))
        if run_level:
            r = stats.ratio_of_run_medians([d.latency.p50_ms for d in tf.ok], [d.latency.p50_ms for d in pt.ok])
        else:
            r = stats.ratio_of_medians(tf.samples_ms, pt.samples_ms)
        if r is None:
            continue
        value, low, high = r
        if not run_level:
            verdict = f"no verdict: {min(len(tf.ok), len(pt.ok))} run(s) a side, within-run noise only"
        elif low <= 1 <= high:
            verdict = "no significant difference"
        else:
            verdict = f"faster: {'PyTorch' if value > 1 else 'TensorFlow'}'s file"
        out.append(
            f"- {tf_rt} / {torch_rt} batch-1 p50 in one ONNX Runtime: {value:.2f} [{low:.2f}, {high:.2f}] ({verdict})"
        )
    return out


def deployment_section(suites: Sequence[Suite]) -> list[str]:
    cs = runtime_cells(suites)
    if not cs:
        return []
    groups = by_workload(cs)
    models = {m for m, _, _ in groups}
    lines = [
        "## Deployment: inference and exported models",
        "",
        "The trained twins served: each backend's own inference path (`--scenario infer`: eval mode, "
        "`torch.inference_mode` or a compiled `tf.function`/`jax.jit` predict) and each export path loaded in its "
        "runtime (`--scenario export`). Every call takes a numpy batch and returns numpy, on the run's threads. "
        "Max abs diff: largest |output − the framework's own predict| over the inference set (test inputs); "
        "the metric is graded on the runtime's own outputs, its change from the framework's predict in "
        "brackets. p50/p99: batch-1 latency over the calls after warm-up, every run's calls pooled, p50 with its "
        "95% bootstrap CI. samples/s: batch / median call time at that batch. Largest batch: the largest batch "
        "tried (doubling, capped) within the memory budget. Size: every file the export wrote. Export s and "
        "load s: wall time of the export and of the load. See docs/METHODOLOGY.md.",
        "",
    ]
    for (model, workload, precision), cells in groups.items():
        skipped = [c for c in cells if c.runtime.endswith(NO_EXPORT) and c.status == "unsupported"]
        group = [c for c in cells if c not in skipped]
        lines += [workload_title(workload, precision, model, len(models) > 1), "", markdown(table(group)), ""]
        if skipped:
            names = ", ".join(c.runtime.removesuffix(NO_EXPORT) for c in skipped)
            why = one_line(skipped[0].reason, 200).split(": ", 1)[-1]  # "backend X has no export path: <why>"
            lines += [f"Not exported from {names} ({why}).", ""]
        onnx = onnx_lines(group)
        if onnx:
            lines += ["**One ONNX Runtime, both exporters** (same session options, same inputs):", "", *onnx, ""]
    return lines


def seed_row(suites: Sequence[Suite]) -> list[str]:
    """The seed table's deployment row (PyTorch: TorchScript, ONNX; TensorFlow: SavedModel, TF Lite), from
    the export runs: per workload each path's batch-1 p50, or its status."""
    cs = [c for c in runtime_cells(suites) if c.scenario == "export" and c.precision == analysis.DEFAULT_PRECISION]
    if not cs:
        return []
    rows = []
    for (_, workload, _), group in by_workload(cs).items():
        got = {c.runtime: c for c in group}
        row = {"workload": workload}
        for fw, runtimes in EXPORT_RUNTIMES.items():
            for rt in runtimes:
                c = got.get(rt)
                label = f"{FRAMEWORK_OF[fw]}: {RUNTIME_LABELS[rt]}"
                row[label] = (
                    "-" if c is None else (f"{fmt(stats.percentiles(c.samples_ms)['p50_ms'])} ms" if c.ok else c.status)
                )
        rows.append(row)
    return [
        "**Deployment** (seed: PyTorch TorchScript, ONNX, TorchServe; TensorFlow SavedModel, TF Lite, TF Serving). "
        "Batch-1 p50 latency of each exported model in its runtime, or why it has none (the Deployment section "
        "has the correctness checks and throughput). Serving systems (TorchServe, TF Serving) add a network and "
        "batching layer around these runtimes and are not measured.",
        "",
        markdown(blank_missing(pd.DataFrame(rows))),
        "",
    ]


def latency_panels(suites: Sequence[Suite]) -> list[Panel]:
    """Per workload, the batch-1 latency distribution of every runtime that ran."""
    out = []
    for (_, workload, precision), group in by_workload(runtime_cells(suites)).items():
        boxes = tuple((c.runtime, tuple(c.samples_ms)) for c in group if c.samples_ms)
        if boxes:
            title = workload + (f" ({precision})" if precision != analysis.DEFAULT_PRECISION else "")
            out.append(Panel(title, "batch-1 latency (ms)", boxes=boxes))
    return out
