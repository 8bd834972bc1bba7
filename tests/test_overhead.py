"""`fwbench overhead`: harness and bare loop paired in one worker process, blocks in ABBA order."""

from __future__ import annotations

import json

import pytest

from bench import backends, overhead
from bench.launch import SuitePlan

from .conftest import fwbench


@pytest.mark.parametrize("backend", ["torch-eager", "keras"])
def test_overhead_pairs_blocks_in_one_process_and_writes_its_figures(backend: str, tmp_path) -> None:
    if not backends.get(backend).installed():
        pytest.skip(f"{backend} not installed")
    p = fwbench(
        "overhead", "--workloads", "mlp-iris", "--backends", backend, "--repeats", "2", "--blocks", "3",
        "--threads", "1", "--out", str(tmp_path), timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "harness/bare [95% CI]" in p.stdout and f"| {backend}" in p.stdout
    (path,) = (tmp_path / "overhead").glob("*.json")
    (row,) = json.loads(path.read_text())["rows"]
    assert (row["workload"], row["backend"], row["processes"]) == ("mlp-iris", backend, 2)
    # mlp-iris is one full batch per epoch: a block is OVERHEAD_BLOCK_STEPS epochs of one step
    assert row["steps_per_block"] == 48
    assert len(row["bare_ms"]) == len(row["harness_ms"]) == 2 * 3
    assert all(0 < x < 1e4 for x in row["bare_ms"] + row["harness_ms"])
    ratio, low, high = row["ratio"]
    assert low <= ratio <= high
    assert 0.2 < ratio < 5  # sanity bound only: the goal itself is checked by the command, not by a timed test


def test_overhead_refuses_workloads_without_a_supervised_loss() -> None:
    p = fwbench("overhead", "--workloads", "dqn-cartpole", timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "fwbench: error: overhead runs classification workloads only; not: dqn-cartpole"
    ]


def test_overhead_table_flags_a_ratio_above_the_goal() -> None:
    fast = overhead.OverheadRow("w", "b", bare_ms=[10.0] * 8, harness_ms=[10.1] * 8, processes=1, steps_per_block=4)
    slow = overhead.OverheadRow("w", "c", bare_ms=[10.0] * 8, harness_ms=[11.0] * 8, processes=1, steps_per_block=4)
    t = overhead.table([fast, slow])
    assert list(t[f"<= {overhead.GOAL}"]) == ["yes", "NO"]
    assert t["harness/bare [95% CI]"][1].startswith("1.100")


def test_processes_interleave_backends_and_alternate_which_side_goes_first(monkeypatch) -> None:
    calls: list[tuple[str, str, bool]] = []

    def fake(plan: SuitePlan, workload: str, backend: str, blocks: int, bare_first: bool) -> dict:
        calls.append((workload, backend, bare_first))
        return {"bare_ms": [1.0] * blocks, "harness_ms": [1.0] * blocks, "steps_per_block": 48}

    monkeypatch.setattr(overhead, "blocks_in_process", fake)
    plan = SuitePlan(
        workloads=("mlp-iris",), backends=("torch-eager", "keras"), device="cpu", profile="quick", repeats=3,
        seed=0, init="native", threads=1, interop_threads=1, deterministic=False, time_limit_s=60.0,
    )  # fmt: skip
    rows = overhead.run(plan, blocks=2)
    assert calls == [
        ("mlp-iris", "torch-eager", False), ("mlp-iris", "keras", False),
        ("mlp-iris", "torch-eager", True), ("mlp-iris", "keras", True),
        ("mlp-iris", "torch-eager", False), ("mlp-iris", "keras", False),
    ]  # fmt: skip
    assert [(r.backend, r.processes, len(r.bare_ms)) for r in rows] == [("torch-eager", 3, 6), ("keras", 3, 6)]
