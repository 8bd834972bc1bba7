"""Markdown report rendered from results files only (pandas + tabulate). Nothing typed by hand.

`render(suites)` returns the markdown; `write(suites, out_dir)` writes out_dir/REPORT.md.
Repeats of one (workload, backend, device) are aggregated here: see docs/METHODOLOGY.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import env, stats
from bench.backends import BACKENDS, FRAMEWORK_OF
from bench.results import Result, Suite

BASELINE_BACKEND = "torch-eager"
MIN_RUNS_FOR_RUN_LEVEL_CI = 3


@dataclass(frozen=True)
class Cell:
    """The aggregate of one (workload, backend, device) over its repeats."""

    workload: str
    backend: str
    device: str
    status: str
    reason: str
    runs: list[Result]  # the ok runs

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def timing_sample(self, run_level: bool) -> list[float]:
        """Per-run medians (run_level) or all steady-state step times pooled."""
        if run_level:
            return [r.median_step_ms for r in self.runs if r.median_step_ms is not None]
        return [t for r in self.runs for t in r.step_ms]

    def median_of(self, attr: str) -> float | None:
        vals = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return float(np.median(vals)) if vals else None

    def memory(self) -> tuple[float | None, str]:
        vals = [r.memory.get("peak_mib") for r in self.runs if r.memory.get("peak_mib") is not None]
        kind = self.runs[0].memory.get("kind", "") if self.runs else ""
        return (float(np.median(vals)) if vals else None), kind


def cells(suites: Sequence[Suite]) -> list[Cell]:
    groups: dict[tuple[str, str, str], list[Result]] = {}
    for s in suites:
        for r in s.results:
            groups.setdefault((r.workload, r.backend, r.device), []).append(r)
    order = {b: i for i, b in enumerate(BACKENDS)}
    out = []
    for (w, b, d), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][2])):
        ok = [r for r in rs if r.ok]
        if ok:
            out.append(Cell(w, b, d, "ok", "", ok))
        else:
            first = rs[0]
            out.append(Cell(w, b, d, first.status, first.reason, []))
    return out


def ratio_vs_baseline(cell: Cell, base: Cell | None) -> tuple[float, float, float] | None:
    if base is None or not base.ok or not cell.ok:
        return None
    run_level = min(len(cell.runs), len(base.runs)) >= MIN_RUNS_FOR_RUN_LEVEL_CI
    return stats.ratio_of_medians(cell.timing_sample(run_level), base.timing_sample(run_level))


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def one_line(reason: str, limit: int = 80) -> str:
    line = next((ln for ln in reversed(reason.splitlines()) if ln.strip()), "")
    line = line.replace("|", "/")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def headline(cs: Sequence[Cell]) -> pd.DataFrame:
    """The PyTorch-vs-TensorFlow table: a row per workload and backend."""
    base = {(c.workload, c.device): c for c in cs if c.backend == BASELINE_BACKEND}
    rows: list[dict[str, Any]] = []
    for c in cs:
        info = BACKENDS.get(c.backend)
        row: dict[str, Any] = {
            "workload": c.workload,
            "backend": c.backend,
            "framework": FRAMEWORK_OF.get(info.framework, "?") if info else "?",
        }
        if not c.ok:
            row["metric"] = f"{c.status}: {one_line(c.reason)}"
            rows.append(row)
            continue
        r0 = c.runs[0]
        summary = stats.summarize(c.timing_sample(run_level=len(c.runs) >= MIN_RUNS_FOR_RUN_LEVEL_CI))
        med, ci = summary["median_step_ms"], summary["ci95_step_ms"]
        ratio = ratio_vs_baseline(c, base.get((c.workload, c.device)))
        mem, kind = c.memory()
        tta = [r.time_to_target_s for r in c.runs]
        reached = [t for t in tta if t is not None]
        row.update(
            {
                "metric": f"{r0.metric_name} {fmt(c.median_of('metric'))}",
                "time to target (s)": fmt(float(np.median(reached))) if len(reached) == len(tta) else "not reached",
                "step ms (median [95% CI])": f"{fmt(med)} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else fmt(med),
                f"vs {BASELINE_BACKEND}": "-"
                if ratio is None
                else f"{ratio[0]:.2f}" + ("*" if stats.significant(ratio) else ""),
                "samples/s": fmt(r0.samples_per_step / (med / 1e3) if med else None),
                "peak MiB": f"{fmt(mem)} ({kind})" if mem is not None else "-",
                "first step ms": fmt(c.median_of("first_step_ms")),
                "runs": str(len(c.runs)),
            }
        )
        rows.append(row)
    return blank_missing(pd.DataFrame(rows))


def blank_missing(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(object)
    return df.where(df.notna(), "")


def markdown(df: pd.DataFrame) -> str:
    """Cells verbatim (numbers are already formatted: tabulate must not re-parse '21,447')."""
    return df.to_markdown(index=False, disable_numparse=True)


def environment_block(suites: Sequence[Suite]) -> list[str]:
    lines = ["## Environment", ""]
    for s in suites:
        e = s.environment
        pk = {k: v for k, v in e.get("packages", {}).items() if v}
        gpus = ", ".join(g["name"] for g in e.get("gpus", [])) or "none"
        plan = s.plan
        lines += [
            f"- run `{s.run_id}` ({s.created_at}): device {plan.get('device')}, profile {plan.get('profile')}, "
            f"repeats {plan.get('repeats')}, init {plan.get('init')}, threads {plan.get('threads')} intra / "
            f"{plan.get('interop_threads')} inter-op, deterministic {plan.get('deterministic')}, seed {plan.get('seed')}",
            f"- hardware: {e.get('cpu_model')} ({e.get('cpu_count_logical')} logical CPUs, {e.get('memory_gib')} GiB), "
            f"GPU: {gpus}; {e.get('platform')}",
            f"- software: Python {e.get('python')}; " + ", ".join(f"{k} {v}" for k, v in pk.items()),
            f"- git commit: {e.get('git_commit')}",
        ]
    settings = settings_table([r for s in suites for r in s.results if r.settings])
    if not settings.empty:
        lines += ["", "Settings recorded by each backend (first run of each):", "", markdown(settings)]
    return lines


SETTING_KEYS = (
    "compile",
    "intra_op_threads",
    "inter_op_threads",
    "jit_compile",
    "data_format",
    "optimizer_impl",
    "deterministic",
    "tf32_matmul",
    "tf32",
    "cudnn_benchmark",
    "onednn_opts",
)


def settings_table(rs: Sequence[Result]) -> pd.DataFrame:
    seen: dict[str, dict[str, Any]] = {}
    for r in rs:
        if r.backend not in seen:
            version = r.settings.get("torch_version") or (
                f"tf {r.settings.get('tensorflow_version')} / keras {r.settings.get('keras_version')}"
            )
            seen[r.backend] = {"backend": r.backend, "version": version} | {
                k: r.settings[k] for k in SETTING_KEYS if k in r.settings
            }
    return blank_missing(pd.DataFrame(list(seen.values())))


def render(suites: Sequence[Suite]) -> str:
    cs = cells(suites)
    devices = sorted({env.device_model(s.environment, s.plan.get("device", "cpu")) for s in suites})
    lines = [
        "# fwbench report: PyTorch vs TensorFlow",
        "",
        "Rendered from "
        + ", ".join(f"`{s.run_id}`" for s in suites)
        + f" by `fwbench report`; measured on {', '.join(devices)}. Every number below comes from those files.",
        "",
        "## Headline",
        "",
        markdown(headline(cs)),
        "",
        f"Step time: median of the steady-state training steps (first step and warm-up excluded); "
        f"`vs {BASELINE_BACKEND}`: ratio of median step times (below 1 is faster), `*` where its 95% "
        "bootstrap confidence interval excludes 1. Peak memory: the worker's peak RSS on CPU, the framework "
        "allocator's peak on GPU. See docs/METHODOLOGY.md.",
        "",
        *environment_block(suites),
        "",
    ]
    return "\n".join(lines)


def write(suites: Sequence[Suite], out_dir: Path) -> Path:
    path = out_dir / "REPORT.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render(suites))
    tmp.replace(path)
    return path
