"""`fwbench overhead`: harness and bare loop paired in one worker process, blocks in ABBA order."""

from __future__ import annotations

import json

import pytest

from bench.core import backends
from bench.core.plan import SuitePlan
from bench.launching import overhead

from .conftest import fwbench


@pytest.mark.slow  # real worker processes in both frameworks
@pytest.mark.alone  # it times the harness against the bare loop
@pytest.mark.parametrize("backend", ["torch-eager", "keras"])
def test_overhead_pairs_blocks_in_one_process_and_writes_its_figures(backend: str, tmp_path) -> None:
    if not backends.get(backend).installed():
        pytest.skip(f"{backend} not installed")
    p = fwbench(
        "overhead", "--workloads", "mlp-iris", "--backends", backend, "--repeats", "2", "--blocks", "3",
        "--threads", "1", "--out", str(tmp_path), timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "harness/bare, median step [95% CI]" in p.stdout and f"| {backend}" in p.stdout
    (path,) = (tmp_path / "overhead").glob("*.json")
    (row,) = json.loads(path.read_text())["rows"]
    assert (row["workload"], row["backend"], row["processes"]) == ("mlp-iris", backend, 2)
    # mlp-iris is one full batch per epoch: a block is OVERHEAD_BLOCK_STEPS epochs of one step
    assert row["steps_per_block"] == 48
    assert len(row["bare_step_ms"]) == len(row["harness_step_ms"]) == 2 * 3  # blocks
    steps = [x for block in row["bare_step_ms"] + row["harness_step_ms"] for x in block]
    assert len(steps) == 2 * 2 * 3 * 48 and all(0 < x < 1e4 for x in steps)  # every step kept
    for figure in ("ratio_median_step", "ratio_mean_step"):
        ratio, low, high = row[figure]
        assert low <= ratio <= high
        assert 0.2 < ratio < 5  # sanity bound only: the goal itself is checked by the command, not by a timed test


def test_overhead_refuses_workloads_without_a_supervised_loss() -> None:
    p = fwbench("overhead", "--workloads", "dqn-cartpole", timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "fwbench: error: overhead runs classification workloads only; not: dqn-cartpole"
    ]


def test_overhead_table_judges_the_goal_on_block_medians_and_shows_block_means() -> None:
    # every block: 47 steps at 10 ms and one slow step (after an evaluation, say)
    bare = [[10.0] * 47 + [12.0]] * 8
    fast = overhead.OverheadRow("w", "b", bare, [[10.1] * 47 + [30.0]] * 8, processes=1, steps_per_block=48)
    slow = overhead.OverheadRow("w", "c", bare, [[11.0] * 47 + [12.0]] * 8, processes=1, steps_per_block=48)
    t = overhead.table([fast, slow])
    assert list(t[f"<= {overhead.GOAL}"]) == ["yes", "NO"]
    assert t["harness/bare, median step [95% CI]"][0].startswith("1.010")
    assert t["harness/bare, mean step [95% CI]"][0].startswith(f"{(10.1 * 47 + 30) / (10 * 47 + 12):.3f}")
    assert t["harness/bare, median step [95% CI]"][1].startswith("1.100")
    assert list(t["harness median ms/step"]) == ["10.1", "11"]


def test_processes_interleave_backends_and_alternate_which_side_goes_first(monkeypatch) -> None:
    calls: list[tuple[str, str, bool]] = []

    def fake(plan: SuitePlan, workload: str, backend: str, blocks: int, bare_first: bool) -> dict:
        calls.append((workload, backend, bare_first))
        return {"bare_step_ms": [[1.0]] * blocks, "harness_step_ms": [[1.0]] * blocks, "steps_per_block": 1}

    monkeypatch.setattr(overhead, "blocks_in_process", fake)
    plan = SuitePlan(
        workloads=("mlp-iris",), backends=("torch-eager", "keras"), device="cpu", profile="quick", repeats=3,
        seed=0, init="native", threads=1, interop_threads=1, deterministic=False, time_limit_s=60.0,
    )  # fmt: skip
    rows, failures = overhead.run(plan, blocks=2)
    assert failures == []
    assert calls == [
        ("mlp-iris", "torch-eager", False), ("mlp-iris", "keras", False),
        ("mlp-iris", "torch-eager", True), ("mlp-iris", "keras", True),
        ("mlp-iris", "torch-eager", False), ("mlp-iris", "keras", False),
    ]  # fmt: skip
    assert [(r.backend, r.processes, len(r.bare_step_ms)) for r in rows] == [("torch-eager", 3, 6), ("keras", 3, 6)]


def test_overhead_workers_past_their_time_limit_are_recorded_as_timed_out_not_a_traceback(tmp_path) -> None:
    installed = [b for b in ("torch-eager", "keras") if backends.get(b).installed()]
    if not installed:
        pytest.skip("no backend installed")
    p = fwbench(
        "overhead", "--workloads", "mlp-iris", "--backends", *installed, "--repeats", "2", "--blocks", "1",
        "--threads", "1", "--time-limit", "0.5", "--out", str(tmp_path), timeout=120,
    )  # fmt: skip
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("fwbench: overhead ")]
    assert len(lines) == 2 * len(installed)  # one line per worker that ran out of time
    for ln in lines:
        assert "timeout: exceeded the time limit of 0.5 s" in ln, ln
    (path,) = (tmp_path / "overhead").glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["rows"] == [] and {f["status"] for f in doc["failures"]} == {"timeout"}
    assert sorted((f["backend"], f["process"]) for f in doc["failures"]) == sorted(
        (b, r) for b in installed for r in (1, 2)
    )
