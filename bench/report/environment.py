"""The report's Environment section, where every number came from: per run its device, plan settings,
hardware, software, matmul peaks, git commit and host load; then the settings each backend recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bench.analysis import cells
from bench.analysis.cells import BUSY_LOAD_PER_CPU, is_busy, suite_device_model
from bench.core.backends import FRAMEWORK_OF
from bench.core.formatting import blank_missing, fmt, markdown
from bench.machine import env
from bench.records.results import Result, Suite


def environment_block(suites: Sequence[Suite]) -> list[str]:
    lines = ["## Environment", ""]
    for s in suites:
        e = s.environment
        pk = {k: v for k, v in e.get("packages", {}).items() if v}
        gpus = ", ".join(f"{g['name']} (driver {g.get('driver')})" for g in e.get("gpus", [])) or "none"
        plan = s.plan
        loads = [x for r in s.results for x in r.load_avg_1m]
        source = f"; converted from {s.source.tool} JSON `{s.source.file}`" if s.source else ""
        if plan is None:  # a converted file: what its records say
            settings = [f"profile {p}" for p in sorted({r.profile for r in s.results})]
        else:
            threads = f"threads {plan.threads} intra / {plan.interop_threads} inter-op" + (
                f" ({plan.threads_source})" if plan.threads_source != "--threads" else ""
            )
            settings = [f"profile {plan.profile}", f"seeds {plan.seeds}", f"repeats {plan.repeats}"]
            settings += [f"init {plan.init}", threads, f"deterministic {plan.deterministic}", f"seed {plan.seed}"]
        lines += [
            f"- run `{s.run_id}` ({s.created_at}){source}: device {cells.suite_device(s)} "
            f"({suite_device_model(s)}), " + ", ".join(settings),
            f"  - hardware: {e.get('cpu_model')} ({e.get('cpu_count_logical')} logical CPUs"
            + (f", {e['memory_gib']} GiB" if e.get("memory_gib") else "")
            + f"), GPU: {gpus}; {e.get('platform')}",
            f"  - software: Python {e.get('python')}; "
            + (", ".join(f"{k} {v}" for k, v in pk.items()) or "package versions not recorded"),
            *peak_lines(s),
            f"  - git commit: {e.get('git_commit')}"
            + (
                f"; host load average (1 min) at run starts and ends: {min(loads):.1f} to {max(loads):.1f}"
                + busy_warning(max(loads), e.get("cpu_count_logical"))
                if loads
                else ""
            ),
        ]
    settings = settings_table([r for s in suites for r in s.results if r.settings])
    if not settings.empty:
        lines += ["", "Settings recorded by each backend (first run of each):", "", markdown(settings)]
    return lines


def peak_lines(s: Suite) -> list[str]:
    """The CPU's instruction sets and clock, the measured matmul peaks and the theoretical one."""
    e = s.environment
    out = []
    isa = e.get("cpu_isa")
    if isa is not None or e.get("cpu_mhz"):
        out.append(
            f"  - CPU: instruction sets {', '.join(isa) if isa else 'not recorded'}; clock "
            + (f"{e['cpu_mhz']:,.0f} MHz" if e.get("cpu_mhz") else "not recorded")
        )
    peaks = {fw: p for fw, p in e.get("matmul_peak", {}).items() if p.get("gflops_best")}
    if peaks:
        measured = ", ".join(f"{FRAMEWORK_OF.get(fw, fw)} {fmt(p['gflops_best'])}" for fw, p in peaks.items())
        best = max(p["gflops_best"] for p in peaks.values())
        theory = env.theoretical_peak_gflops(e, s.plan.threads) if s.plan and s.plan.device != "cuda" else None
        out.append(
            f"  - float32 matmul peak, GFLOP/s (measured, best of 20{cached_note(peaks)}): {measured}; the report's "
            "denominator is the "
            f"best, {fmt(best)}" + (f"; theoretical {fmt(theory[0])} ({theory[1]})" if theory else "")
        )
    return out


def cached_note(peaks: dict[str, dict[str, Any]]) -> str:
    """Where a peak came from the user cache (bench.launching.launch.measure_peaks): when it was measured."""
    cached = [
        f"{FRAMEWORK_OF.get(fw, fw)} on {str(p.get('measured_at', '?'))[:10]}"
        for fw, p in peaks.items()
        if p.get("cached_from")
    ]
    return f"; cached from earlier suites: {', '.join(cached)}" if cached else ""


def busy_warning(load: float, cpus: int | None) -> str:
    if not is_busy(load, cpus):
        return ""
    return f" (**busy host**: above {BUSY_LOAD_PER_CPU:g} x {cpus} CPUs, so its step times are unreliable)"


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
