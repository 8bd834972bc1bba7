"""End to end, as a user runs it: `fwbench run` on mlp-iris in every backend, then the document.

One suite run (the session fixture `iris_suite` in tests/conftest.py, shared with test_tiers.py and
test_keras_backends.py) feeds several checks: each backend trains Iris to the target with its full budget,
the loss falls, every run was its own process with the same thread settings, and the report's numbers
are the JSON's. A second run must give a second file with other timings.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.core import formatting
from bench.core.backends import BACKENDS
from bench.measure import harness
from bench.records import results

from .conftest import cpu_backends_installed, fwbench

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.keras]


def test_every_backend_trains_iris_to_the_target(iris_suite) -> None:
    _, suite = iris_suite
    assert {r.backend for r in suite.results} == set(cpu_backends_installed())
    assert len(suite.results) >= len([b for b, info in BACKENDS.items() if info.runs_on("cpu")]) - 1  # keras-jax aside
    for r in suite.results:
        assert r.status == "ok", (r.backend, r.reason)
        assert r.metric >= 0.9, (r.backend, r.metric)
        assert r.epoch_loss[-1] < 0.5 * r.epoch_loss[0], (r.backend, r.epoch_loss[0], r.epoch_loss[-1])
        assert r.num_params == 131
        assert r.time_to_target_s is not None and r.epochs_to_target is not None


def test_runs_are_separate_processes_with_identical_thread_settings(iris_suite) -> None:
    _, suite = iris_suite
    assert len({r.pid for r in suite.results}) == len(suite.results)
    threads = {(r.settings["intra_op_threads"], r.settings["inter_op_threads"]) for r in suite.results}
    assert len(threads) == 1, threads


def test_timings_are_recorded_raw_and_apart_from_the_first_step(iris_suite) -> None:
    _, suite = iris_suite
    for r in suite.results:
        # every step after the first is warm-up or steady, and the steady window was timed on to MIN_STEADY_S
        assert r.first_step_ms > 0 and len(r.step_ms) == r.steps - 1 - len(r.warmup_step_ms) + r.extension_steps
        assert sum(r.step_ms) / 1e3 >= harness.MIN_STEADY_S
        assert r.median_step_ms == pytest.approx(sorted(r.step_ms)[len(r.step_ms) // 2], rel=0.5)
        assert r.ci95_step_ms[0] <= r.median_step_ms <= r.ci95_step_ms[1]
        assert r.memory.kind == "peak_rss" and r.memory.peak_mib > r.memory.rss_after_imports_mib * 0.5


def test_torchscript_deprecation_is_recorded(iris_suite) -> None:
    _, suite = iris_suite
    ts = next(r for r in suite.results if r.backend == "torchscript")
    assert any("deprecated" in w for w in ts.warnings), ts.warnings


def test_report_numbers_equal_the_json(iris_suite) -> None:
    out, _ = iris_suite
    text = (out / "REPORT.md").read_text().split("## Per workload", 1)[1]  # the tables after the summary
    doc = json.loads(next((out / "runs").glob("*.json")).read_text())
    for r in doc["results"]:
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| {r['backend']} "))
        assert formatting.fmt(r["median_step_ms"]) in row
        assert formatting.fmt(r["metric"]) in row


def test_a_second_run_gives_a_second_file_with_other_timings(iris_suite, tmp_path: Path) -> None:
    shared, first = iris_suite
    out = tmp_path / "out"
    shutil.copytree(shared, out)  # the shared suite's folder stays as the other tests read it
    p = fwbench("run", "--workloads", "mlp-iris", "--backends", "torch-eager", "keras", "--epochs", "12",
                "--seeds", "1", "--out", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    runs = sorted((out / "runs").glob("*.json"))
    assert len(runs) == 2
    second = results.load(runs[1])
    assert second.run_id != first.run_id
    # each run keeps its own report and plots; REPORT.md is the newest and lists the first
    for run_id in (first.run_id, second.run_id):
        assert (out / "reports" / run_id / "REPORT.md").is_file() and any(
            (out / "reports" / run_id / "plots").glob("*.png")
        )
    assert f"reports/{first.run_id}/REPORT.md" in (out / "REPORT.md").read_text()
    for b in ("torch-eager", "keras"):
        a = next(r for r in first.results if r.backend == b)
        c = next(r for r in second.results if r.backend == b)
        assert a.step_ms != c.step_ms  # measured, not fixed
