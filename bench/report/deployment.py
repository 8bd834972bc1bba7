"""The report's Deployment section: the infer and export scenarios' runtimes (bench/scenarios/infer.py,
bench/scenarios/export.py), per workload.

A runtime cell is one (device model, workload, precision, runtime) over its runs: the backend's own
inference path for an infer run (the runtime is the backend), or one export path for an export run. Its
latency figures come from the calls of every run pooled (each run's calls are independent requests to
the same artifact kind); its other figures are medians over runs. Nothing here imports a framework.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis import cells, verdicts
from bench.analysis import verdicts as verdicts_module
from bench.analysis.cells import suite_device_model
from bench.core import stats
from bench.core.backends import BACKENDS, FRAMEWORK_OF
from bench.core.formatting import blank_missing, fmt, markdown, one_line, runs_text, workload_title
from bench.core.spec import EXPORT_RUNTIMES, RUNTIMES
from bench.core.stats import DEFAULT_MARGIN
from bench.core.workloads import WORKLOADS
from bench.records.results import Deployment, Result, Suite
from bench.report.plots import OWN_PATH, Panel

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
    contended: list[Result] = field(default_factory=list)  # the runs behind `ok` that other processes crowded
    unknown: list[Result] = field(default_factory=list)  # those whose record cannot say (never counted as quiet)

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

    @property
    def p50_ms(self) -> float | None:
        """The batch-1 p50 of every run's calls pooled (the table's p50)."""
        return float(np.median(self.samples_ms)) if self.samples_ms else None

    @property
    def run_p50s_ms(self) -> list[float]:
        """Each ok run's own batch-1 p50: the run-level samples of the verdict rule."""
        return [d.latency.p50_ms for d in self.ok if d.latency.p50_ms is not None]

    @property
    def headline(self) -> bool:
        """Whether it answers PyTorch vs TensorFlow: a runtime of a native PyTorch or a Keras-on-TensorFlow
        model (Keras on JAX or on PyTorch serving its own path does not)."""
        info = BACKENDS.get(self.runtime) if self.scenario == "infer" else None
        return self.ok != [] and raw_framework(self) in ("torch", "tensorflow") and (info is None or info.headline)

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
            if d.status == "ok" and r.contended:
                cell.contended.append(r)
            elif d.status == "ok" and cells.contention_unknown(r):
                cell.unknown.append(r)
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


def raw_framework(c: RuntimeCell) -> str:
    """The framework that produced the model ("torch", "tensorflow", "jax")."""
    return c.first.framework or (BACKENDS[c.runtime].framework if c.runtime in BACKENDS else "")


def framework_of(c: RuntimeCell) -> str:
    fw = raw_framework(c)
    return FRAMEWORK_OF.get(fw, fw)


def runtime_label(c: RuntimeCell) -> str:
    """'onnx-torch' (an export path), 'torch-eager (own path)' (a backend's own inference path)."""
    return c.runtime if c.scenario == "export" else f"{c.runtime}{OWN_PATH}"


def p50_text(p: dict[str, Any]) -> str:
    """'0.105 [0.1, 0.107]': the p50 and its CI from stats.percentiles ('-' without calls)."""
    if p.get("p50_ms") is None:
        return "-"
    ci = p["ci95_p50_ms"]
    return fmt(p["p50_ms"]) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci and ci[0] != ci[1] else "")


def core_table(cs: Sequence[RuntimeCell]) -> pd.DataFrame:
    """What a reader needs first: each runtime's status, metric and batch-1 latency."""
    rows = []
    for c in cs:
        p = stats.percentiles(c.samples_ms) if c.samples_ms else {}
        native = c.median("native_metric")
        metric = c.median("metric")
        rows.append(
            {
                "framework": framework_of(c),
                "runtime": runtime_label(c),
                "status": c.status if c.ok else f"{c.status}: {one_line(c.reason, 60)}",
                c.metric_name or "metric": fmt(metric, 4)
                + (
                    f" ({metric - native:+.3g})"
                    if metric is not None and native is not None and metric != native
                    else ""
                ),
                "p50 ms [95% CI]": p50_text(p),
                "p99 ms": fmt(p.get("p99_ms")),
            }
        )
    return blank_missing(pd.DataFrame(rows))


def details_table(cs: Sequence[RuntimeCell]) -> pd.DataFrame:
    """The rest, for the runtimes that ran: correctness, throughput, size and the export's cost."""
    rows = []
    for c in cs:
        if not c.ok:
            continue
        big = c.largest_batch
        rows.append(
            {
                "runtime": runtime_label(c),
                "max abs diff": f"{c.median('max_abs_diff'):.1e}" if c.median("max_abs_diff") is not None else "-",
                "samples/s b1": fmt(c.throughput("1")),
                "samples/s b64": fmt(c.throughput("64")),
                "largest batch (samples/s)": f"{big} ({fmt(c.throughput(str(big)))})" if big else "-",
                "size MiB": fmt(c.median("size_mib")),
                "export s": fmt(c.median("export_s")),
                "load s": fmt(c.median("load_s")),
            }
        )
    return blank_missing(pd.DataFrame(rows))


def latency_ratio(a: RuntimeCell, b: RuntimeCell, margin: float = DEFAULT_MARGIN) -> verdicts.Ratio | None:
    """a's batch-1 p50 over b's under the verdict rule of the training summary (bench.analysis.verdicts): with
    3+ ok runs a side, the geometric mean of the runs' p50s over the other's with Welch's 95% interval on
    their logs, a verdict only where no run was contended; with fewer, the ratio of the pooled calls'
    medians with a bootstrap CI (within-run noise only) and no verdict."""
    run_level = cells.enough_runs(len(a.ok), len(b.ok))
    sa, sb = (a.run_p50s_ms, b.run_p50s_ms) if run_level else (a.samples_ms, b.samples_ms)
    why = verdicts.no_verdict_reason(
        (len(a.ok), len(b.ok)), len(a.contended) + len(b.contended), len(a.unknown) + len(b.unknown)
    )
    return verdicts.judged(sa, sb, run_level, run_level, why, margin)


def verdict_text(r: verdicts.Ratio, faster: tuple[str, str]) -> str:
    """'PyTorch faster', 'the same within 10%', 'not yet known (about 12 runs a side would show "the same" ...)',
    or 'no verdict (1 run: a verdict needs 3 processes per side)': faster = (name above 1, name below 1)."""
    if r.why_not:
        return f"no verdict ({r.why_not})"
    if r.significant:
        return f"{faster[0] if r.value > 1 else faster[1]} faster"
    if r.answer == verdicts.SAME:
        return f"the same within {r.margin * 100:g}%"
    if r.answer == verdicts.UNKNOWN:
        return "not yet known" + (
            f' ({runs_text(r.runs_to_resolve)} a side would show "the same" 80% of the time if the true ratio were 1)'
            if r.runs_to_resolve
            else ""
        )
    return "no verdict (within-run evidence only)"


def onnx_lines(cs: Sequence[RuntimeCell]) -> list[str]:
    """Both exporters' ONNX files in the same ONNX Runtime session options: TF's p50 over PyTorch's under
    the verdict rule (latency_ratio)."""
    got = {c.runtime: c for c in cs if c.ok}
    out = []
    for torch_rt, tf_rt in ONNX_PAIRS:
        if torch_rt not in got or tf_rt not in got:
            continue
        r = latency_ratio(got[tf_rt], got[torch_rt])
        if r is None:
            continue
        verdict = verdict_text(r, ("PyTorch's file", "TensorFlow's file"))
        out.append(
            f"- {tf_rt} / {torch_rt} batch-1 p50 in one ONNX Runtime: {r.value:.2f} [{r.low:.2f}, {r.high:.2f}]"
            f"{'*' if r.significant else ''}: {verdict}"
        )
    return out


@dataclass(frozen=True)
class LatencyVerdict:
    """One workload's answer: the fastest runtime (lowest batch-1 p50) of each framework, own paths and
    exports alike, and TF / PT under the verdict rule."""

    device_model: str
    workload: str
    precision: str
    torch: RuntimeCell
    tf: RuntimeCell
    ratio: verdicts.Ratio | None  # TensorFlow's p50 / PyTorch's: above 1, PyTorch serves faster


def fastest_runtime(cs: Sequence[RuntimeCell], framework: str) -> RuntimeCell | None:
    """The framework's runtime with the lowest batch-1 p50, int8 files left out (their outputs differ: the
    Deployment section compares them with their float files)."""
    got = [
        c for c in cs if c.headline and raw_framework(c) == framework and c.p50_ms is not None and not c.first.quantized
    ]
    return min(got, key=lambda c: c.p50_ms or float("inf")) if got else None


def latency_verdicts(suites: Sequence[Suite], margin: float = DEFAULT_MARGIN) -> list[LatencyVerdict]:
    out = []
    for (model, workload, precision), group in by_workload(runtime_cells(suites)).items():
        pt, tf = fastest_runtime(group, "torch"), fastest_runtime(group, "tensorflow")
        if pt is not None and tf is not None:
            out.append(LatencyVerdict(model, workload, precision, pt, tf, latency_ratio(tf, pt, margin)))
    return out


def summary_lines(suites: Sequence[Suite], alone: bool, margin: float = DEFAULT_MARGIN) -> list[str]:
    """The inference part of the summary: a sentence and a bullet per workload (fits 100 columns once
    wrapped). `alone`: there is no training summary above it, so the sentence is the report's answer."""
    verdicts = latency_verdicts(suites, margin)
    if not verdicts:
        return []
    several = len({v.device_model for v in verdicts}) > 1
    counts = collections.Counter(
        "no verdict" if v.ratio is None or v.ratio.why_not else verdicts_module.framework_answer(v.ratio)
        for v in verdicts
    )
    pt_wins, tf_wins = counts["PyTorch"], counts["TensorFlow"]
    same, unknown = counts[verdicts_module.SAME], counts[verdicts_module.UNKNOWN]
    no_verdict = len(verdicts) - pt_wins - tf_wins - same - unknown
    devices = ", ".join(sorted({v.device_model for v in verdicts}))
    threads = sorted({s.plan.threads for s in suites if s.plan})
    thread_text = f", {'/'.join(map(str, threads))} thread(s)" if threads else ""
    sentence = (
        f"On {devices}{thread_text}, batch-1 inference latency of the trained twins, the fastest runtime of each "
        f"framework per workload (its own inference path or an exported model): PyTorch faster in {pt_wins}, "
        f"TensorFlow faster in {tf_wins}, the same within {margin * 100:g}% in {same}, not yet known in {unknown}"
        + (f", no verdict in {no_verdict} (too few runs or contended)" if no_verdict else "")
        + "."
    )
    lines = [f"**{sentence}**" if alone else f"**Inference and export.** {sentence}", ""]
    for v in verdicts:
        title = v.workload + (f" ({v.precision})" if v.precision != cells.DEFAULT_PRECISION else "")
        title += f" on {v.device_model}" if several else ""
        ratio = (
            "-"
            if v.ratio is None
            else f"{v.ratio.value:.2f} [{v.ratio.low:.2f}, {v.ratio.high:.2f}]{'*' if v.ratio.significant else ''}: "
            + verdict_text(v.ratio, ("PyTorch", "TensorFlow"))
        )
        lines.append(
            f"- {title}: PyTorch {runtime_label(v.torch)} {fmt(v.torch.p50_ms)} ms, TensorFlow "
            f"{runtime_label(v.tf)} {fmt(v.tf.p50_ms)} ms; TF / PT {ratio}"
        )
    lines += [
        "",
        "Latency: batch-1 p50 of every run's calls pooled; TF / PT with its 95% CI, `*` and a faster side "
        f"only with {cells.MIN_RUNS_FOR_RUN_LEVEL_CI}+ runs a side, none contended, and Welch's t on the log "
        "per-run p50s at p < 0.05 (the training summary's rule). The Deployment section has every runtime.",
        "",
    ]
    return lines


QUANTISED_PAIRS = (("tflite", "tflite-int8"), ("onnx-torch", "onnx-torch-int8"), ("onnx-tf", "onnx-tf-int8"))
INT8_ISA = ("avx512_vnni", "avx_vnni", "amx_tile")  # x86 instructions that run int8 dot products natively


def nothing_quantised(fp: RuntimeCell, q: RuntimeCell) -> str:
    """How the int8 file shows it is its float one, or "": the same size (to the byte), or the same outputs
    (the same nonzero difference from the framework's predict and the same metric)."""
    size_fp, size_q = fp.median("size_mib"), q.median("size_mib")
    if size_fp is not None and size_q is not None and abs(size_fp - size_q) < 1 / 2**20:
        return f"the same size, {fmt(size_q)} MiB"
    diff_fp, diff_q = fp.median("max_abs_diff"), q.median("max_abs_diff")
    if diff_fp and diff_fp == diff_q and fp.median("metric") == q.median("metric"):
        return f"the same outputs, max abs diff {diff_q:.1e} from the framework's predict"
    return ""


def isa_text(isa: Sequence[str] | None) -> str:
    if isa is None:
        return "the CPU's instruction sets were not recorded, so whether it has VNNI or AMX is unknown"
    native = [f for f in isa if f in INT8_ISA]
    if native:
        return (
            f"this CPU has {', '.join(native)}, yet dynamic quantisation quantises each call's activations and "
            "dequantises the results, which can cost more than the int8 products save on a model this small"
        )
    return (
        f"this CPU has no VNNI or AMX (instruction sets recorded: {', '.join(isa) or 'none'}), so int8 products "
        "run on no faster instructions than float32, and dynamic quantisation adds quantising each call's "
        "activations and dequantising the results"
    )


def quantisation_notes(cs: Sequence[RuntimeCell], isa: Sequence[str] | None) -> list[str]:
    """Per float / int8 pair that both ran: a note when nothing was quantised, else when int8 is slower."""
    got = {c.runtime: c for c in cs if c.ok and c.scenario == "export"}
    out = []
    for fp_rt, q_rt in QUANTISED_PAIRS:
        fp, q = got.get(fp_rt), got.get(q_rt)
        if fp is None or q is None:
            continue
        same = nothing_quantised(fp, q)
        if same:
            out.append(
                f"- {q_rt} is {fp_rt}: nothing was quantised ({same}). Dynamic-range quantisation leaves "
                "small weight tensors in float32, and this model has no larger one; its latency is float32's."
            )
        elif fp.p50_ms is not None and q.p50_ms is not None and q.p50_ms > fp.p50_ms:
            out.append(
                f"- {q_rt} is slower than {fp_rt} (batch-1 p50 {fmt(q.p50_ms)} vs {fmt(fp.p50_ms)} ms): "
                f"{isa_text(isa)}."
            )
    return out


LEGEND = [
    "- Runtime: each backend's own inference path (`--scenario infer`, shown as `(own path)`: eval mode, "
    "`torch.inference_mode` or a compiled `tf.function`/`jax.jit` predict), or an export path loaded in its "
    "runtime (`--scenario export`). Every call takes a numpy batch and returns numpy, on the run's threads.",
    "- Metric: graded on the runtime's own outputs, its change from the framework's predict in brackets.",
    "- p50/p99: batch-1 latency over the calls after warm-up, every run's calls pooled, p50 with its 95% bootstrap CI.",
    "- Max abs diff: largest |output − the framework's own predict| over the inference set (test inputs).",
    "- samples/s: batch / median call time at that batch. Largest batch: the largest batch tried (doubling, "
    "capped) within the memory budget.",
    "- Size: every file the export wrote. Export s and load s: wall time of the export and of the load.",
    "- See docs/METHODOLOGY.md.",
]


def deployment_section(suites: Sequence[Suite]) -> list[str]:
    cs = runtime_cells(suites)
    if not cs:
        return []
    groups = by_workload(cs)
    models = {m for m, _, _ in groups}
    isa = {suite_device_model(s): s.environment.get("cpu_isa") for s in suites}
    lines = [
        "## Deployment: inference and exported models",
        "",
        "The trained twins served, per workload: a table of each runtime's status, metric and batch-1 latency, "
        "then one of its details.",
        "",
        *LEGEND,
        "",
    ]
    for (model, workload, precision), group_cells in groups.items():
        skipped = [c for c in group_cells if c.runtime.endswith(NO_EXPORT) and c.status == "unsupported"]
        group = [c for c in group_cells if c not in skipped]
        lines += [workload_title(workload, precision, model, len(models) > 1), ""]
        if group:
            lines += [markdown(core_table(group)), ""]
        details = details_table(group)
        if not details.empty:
            lines += [markdown(details), ""]
        if skipped:
            names = ", ".join(c.runtime.removesuffix(NO_EXPORT) for c in skipped)
            why = one_line(skipped[0].reason, 200).split(": ", 1)[-1]  # "backend X has no export path: <why>"
            lines += [f"Not exported from {names} ({why}).", ""]
        onnx = onnx_lines(group)
        if onnx:
            lines += ["**One ONNX Runtime, both exporters** (same session options, same inputs):", "", *onnx, ""]
        notes = quantisation_notes(group, isa.get(model))
        if notes:
            lines += ["**int8 against float32:**", "", *notes, ""]
    return lines


def seed_row(suites: Sequence[Suite]) -> list[str]:
    """The seed table's deployment row (PyTorch: TorchScript, ONNX; TensorFlow: SavedModel, TF Lite), from
    the export runs: per export path (a table row) and workload (a column) the batch-1 p50, or its status."""
    cs = [c for c in runtime_cells(suites) if c.scenario == "export" and c.precision == cells.DEFAULT_PRECISION]
    if not cs:
        return []
    groups = {workload: {c.runtime: c for c in group} for (_, workload, _), group in by_workload(cs).items()}
    rows = []
    for fw, runtimes in EXPORT_RUNTIMES.items():
        for rt in runtimes:
            if not any(rt in got for got in groups.values()):
                continue
            row = {"framework": FRAMEWORK_OF[fw], "export path": RUNTIME_LABELS[rt]}
            for workload, got in groups.items():
                c = got.get(rt)
                row[workload] = (
                    "-" if c is None else (f"{fmt(stats.percentiles(c.samples_ms)['p50_ms'])} ms" if c.ok else c.status)
                )
            rows.append(row)
    return [
        "**Deployment** (seed: PyTorch TorchScript, ONNX, TorchServe; TensorFlow SavedModel, TF Lite, TF Serving). "
        "Batch-1 p50 latency of each exported model in its runtime, a column per workload, or why it has none "
        "(the Deployment section has the correctness checks and throughput). Serving systems (TorchServe, TF "
        "Serving) add a network and batching layer around these runtimes and are not measured.",
        "",
        markdown(blank_missing(pd.DataFrame(rows))),
        "",
    ]


def latency_panels(suites: Sequence[Suite]) -> list[Panel]:
    """Per workload, the batch-1 latency distribution of every runtime that ran."""
    out = []
    for (_, workload, precision), group in by_workload(runtime_cells(suites)).items():
        boxes = tuple((runtime_label(c), tuple(c.samples_ms)) for c in group if c.samples_ms)
        if boxes:
            title = workload + (f" ({precision})" if precision != cells.DEFAULT_PRECISION else "")
            out.append(Panel(title, "batch-1 latency (ms)", boxes=boxes))
    return out
