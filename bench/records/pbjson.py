"""pytest-benchmark JSON (`pytest --benchmark-only --benchmark-json FILE`) -> a Suite for the report.

The benchmarks in tests/benchmarks/test_train_step.py time `train_step` per (workload, backend)
and put backend, framework, workload, metric and the metric's value after the rounds in
`extra_info`. Each benchmark becomes one `Result`: its raw round times are the steady-state step
times (pytest-benchmark keeps warm-up rounds out of them), so the report's step-time statistics
(median, bootstrap CI, ratio to torch-eager) are computed exactly as for `fwbench run` results.
pytest-benchmark records no memory, first-step time, time to target, FLOP/s or backend settings:
those cells stay empty and the report says so. Files are recognised by content (`load_any`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.core import stats, workloads
from bench.core.backends import BACKENDS
from bench.core.errors import UsageError
from bench.records import results
from bench.records.results import Deployment, Latency, Result, Source, Suite

PROFILE = "pytest-benchmark"
NOT_RECORDED = "memory, first-step time, time to target, FLOP/s and backend settings"
NOTE = (
    "pytest-benchmark JSON: step times are its timed rounds (warm-up rounds excluded), "
    "the metric is the value after those rounds (not after a full training budget), and "
    f"{NOT_RECORDED} are not recorded by pytest-benchmark (shown as `-`)."
)


def is_pytest_benchmark(doc: Any) -> bool:
    return isinstance(doc, Mapping) and isinstance(doc.get("benchmarks"), list) and "machine_info" in doc


def environment(doc: Mapping[str, Any]) -> dict[str, Any]:
    m = doc.get("machine_info", {})
    cpu = m.get("cpu", {}) if isinstance(m.get("cpu"), Mapping) else {}
    commit = doc.get("commit_info") or {}
    git = commit.get("id")
    return {
        "python": m.get("python_version"),
        "platform": " ".join(str(m[k]) for k in ("system", "release") if m.get(k)),
        "machine": m.get("machine"),
        "cpu_model": cpu.get("brand_raw") or m.get("processor") or m.get("machine") or "unknown",
        "cpu_count_logical": cpu.get("count"),
        "memory_gib": None,
        "hostname": m.get("node"),
        "git_commit": f"{git}-dirty" if git and commit.get("dirty") else git,
        "packages": {},
        "gpus": [],
    }


def to_result(bm: Mapping[str, Any], run_id: str, started_at: str, where: str) -> Result:
    info = {**(bm.get("params") or {}), **(bm.get("extra_info") or {})}
    workload, backend = info.get("workload"), info.get("backend")
    if not workload or not backend:
        raise UsageError(f"{where}: benchmark {bm.get('name')!r} has no workload/backend in extra_info or params")
    st = bm.get("stats")
    if not isinstance(st, Mapping) or "median" not in st:
        raise UsageError(f"{where}: benchmark {bm.get('name')!r} has no stats")
    step_ms = [float(t) * 1e3 for t in st.get("data") or []]
    summary = stats.summarize(step_ms) if step_ms else {}
    median = float(st["median"]) * 1e3
    spec = workloads.WORKLOADS[workload].to_dict() if workload in workloads.WORKLOADS else {"name": workload}
    samples = spec.get("batch_size")
    metric_name = str(info.get("metric", ""))
    metric = info.get("metric_after_rounds")
    scenario = str(info.get("scenario", "train"))  # tests/benchmarks/test_inference.py: "infer" | "export"
    framework = str(info.get("framework") or (BACKENDS[backend].framework if backend in BACKENDS else "?"))
    deployment = []
    if scenario in ("infer", "export"):  # one batch-1 row a call: the calls are the latency samples
        samples = 1
        deployment = [
            Deployment(
                runtime=str(info.get("runtime") or backend),
                framework=framework,
                latency=Latency(calls=len(step_ms), samples_ms=step_ms, **stats.percentiles(step_ms)),
                throughput_samples_s={"1": 1e3 / median} if median > 0 else {},
            )
        ]
    return Result(
        run_id=run_id,
        workload=str(workload),
        backend=str(backend),
        framework=framework,
        scenario=scenario,
        deployment=deployment,
        device=str(info.get("device", "cpu")),
        profile=PROFILE,
        repeat=0,
        status="ok",
        reason="",
        pid=None,
        started_at=started_at,
        wall_s=None,
        config=None,
        source=Source("pytest-benchmark", Path(where).name, NOTE, str(bm.get("fullname") or bm.get("name") or "")),
        workload_spec=spec,
        dataset={"name": spec.get("dataset", "?")},
        settings={},
        metric_name=metric_name,
        metric=float(metric) if isinstance(metric, int | float) else None,
        target=None,
        metrics={metric_name: float(metric)} if metric_name and isinstance(metric, int | float) else {},
        samples_per_step=samples,
        steps=int(st.get("rounds", len(step_ms))),
        step_ms=step_ms,
        median_step_ms=median,
        mean_step_ms=float(st["mean"]) * 1e3 if "mean" in st else None,
        iqr_step_ms=float(st["iqr"]) * 1e3 if "iqr" in st else None,
        ci95_step_ms=summary.get("ci95_step_ms"),  # type: ignore[arg-type]
        throughput_samples_s=samples / (median / 1e3) if samples and median > 0 else None,
        train_time_s=float(st["total"]) if "total" in st else None,
    )


def to_suite(doc: Mapping[str, Any], path: Path) -> Suite:
    when = str(doc.get("datetime") or "1970-01-01T00:00:00+00:00")
    try:
        stamp = datetime.fromisoformat(when).strftime("%Y%m%dT%H%M%SZ")
    except ValueError:
        raise UsageError(f"{path}: pytest-benchmark 'datetime' {when!r} is not an ISO date") from None
    run_id = f"pytest-benchmark-{stamp}"
    rs = []
    for i, bm in enumerate(doc["benchmarks"]):
        try:
            rs.append(to_result(bm, run_id, when, str(path)))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise UsageError(f"{path}: benchmarks[{i}] is not a pytest-benchmark record ({e})") from None
    if not rs:
        raise UsageError(f"{path}: pytest-benchmark JSON without benchmarks (was it run with --benchmark-only?)")
    return Suite(
        run_id=run_id,
        created_at=when,
        command=["pytest", "--benchmark-only", f"--benchmark-json={path.name}"],
        plan=None,
        environment=environment(doc),
        results=rs,
        finished_at=when,
        source=Source("pytest-benchmark", path.name, NOTE),
    )


def load_any(path: str | Path) -> Suite:
    """An fwbench results file or a pytest-benchmark JSON file, recognised by content."""
    p = Path(path)
    if p.is_file():
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            doc = None  # results.load names the problem
        if is_pytest_benchmark(doc):
            return to_suite(doc, p)
        if isinstance(doc, Mapping) and "schema" not in doc:
            raise UsageError(f"{p}: neither an fwbench results file nor pytest-benchmark JSON")
    return results.load(p)


def load_all_any(paths: Sequence[str | Path]) -> list[Suite]:
    return [load_any(p) for p in paths]
