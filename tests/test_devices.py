"""Results of different hardware stay apart: the cross-device view of the report (bench/report/devices.py) and
the merge of shards that ran on different device models (bench/shard.merge_by_device)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench import cli
from bench.analysis import cells
from bench.analysis.verdicts import workload_verdicts
from bench.core.errors import UsageError
from bench.planning import shard
from bench.records import results
from bench.report import document

from .conftest import REPO, prose

EXAMPLE = next((REPO / "results" / "example" / "runs").glob("*.json"))  # the default run: 3 seeds a cell


def on(suite: results.Suite, model: str, torch_factor: float = 1.0) -> results.Suite:
    """The suite as if measured on a CPU named `model`, PyTorch's step times multiplied by `torch_factor`."""

    def scaled(r: results.Result) -> results.Result:
        if r.framework != "torch" or not r.step_ms:
            return r
        return dataclasses.replace(
            r, step_ms=[t * torch_factor for t in r.step_ms], median_step_ms=r.median_step_ms * torch_factor
        )

    return dataclasses.replace(
        suite,
        run_id=f"{suite.run_id}-{shard.slug(model)}",
        environment={**suite.environment, "cpu_model": model},
        results=[scaled(r) for r in suite.results],
    )


def section(text: str) -> str:
    start = text.index("## Across devices")
    return text[start : text.index("\n#", start + 5)]


def column(table_text: str, model: str) -> list[str]:
    rows = [ln.split("|")[1:-1] for ln in table_text.splitlines() if ln.startswith("|")]
    i = [c.strip() for c in rows[0]].index(model)
    return [r[i].strip() for r in rows[2:]]


def test_the_report_compares_devices_each_on_its_own_runs() -> None:
    here = results.load(EXAMPLE)
    slow_torch = on(here, "Imaginary CPU 9000", torch_factor=4.0)
    text = prose(document.render([here, slow_torch]))
    part = section(text)
    model = cells.suite_device_model(here)
    mine = column(part, model)
    other = column(part, "Imaginary CPU 9000")
    verdicts = {v.workload: v for v in workload_verdicts(cells.cells([here]))}
    assert len(mine) == len(other) == len(verdicts)
    for own, theirs in zip(mine, other, strict=True):
        # each column is its own device's comparison: PyTorch 4x slower there flips every called PyTorch win
        assert not own.startswith("PyTorch") or theirs.startswith(
            ("TensorFlow", "the same", "not yet known", "no verdict")
        )
        assert theirs.startswith("TensorFlow") or not own.startswith("TensorFlow")
    assert sum(t.startswith("TensorFlow") for t in other) > sum(t.startswith("TensorFlow") for t in mine)
    assert f"{model}: PyTorch faster on" in part and "Imaginary CPU 9000: PyTorch faster on 0," in part
    assert "## Across devices" not in document.render([here])  # one device: no such section


@pytest.mark.slow
def test_shards_of_different_devices_merge_apart_and_each_says_what_it_lacks(tmp_path: Path, capsys) -> None:
    full = results.load(EXAMPLE)
    keys = full.plan.runs()
    planned = set(keys)  # the planned runs: the adaptive phase's added runs belong to no shard (refused with --shard)
    whole = dataclasses.replace(
        full, results=[r for r in full.results if r.key(full.plan.seed) in planned], adaptive=[]
    )
    parts = []
    for k, model in ((1, "CPU A"), (2, "CPU B")):
        mine = shard.Shard(k, 2).part(keys)
        part = dataclasses.replace(
            on(whole, model),
            run_id=whole.run_id,
            shard=f"{k}/2",
            results=[r for r in whole.results if r.key(whole.plan.seed) in mine],
        )
        results.save(tmp_path / f"s{k}.json", part)
        parts.append(part)
    assert cli.main(["merge", str(tmp_path / "out"), str(tmp_path / "s1.json"), str(tmp_path / "s2.json")]) == 0
    captured = capsys.readouterr()
    a = results.load(tmp_path / "out" / "runs" / f"{whole.run_id}.cpu-a.json")
    b = results.load(tmp_path / "out" / "runs" / f"{whole.run_id}.cpu-b.json")
    assert len(a.results) + len(b.results) == len(whole.results)  # nothing pooled, nothing lost
    assert {cells.suite_device_model(a), cells.suite_device_model(b)} == {"CPU A", "CPU B"}
    assert len(a.missing) == len(b.results) + 1 and "shard 2/2: no file" in a.missing  # each device partial
    assert "fwbench merge: partial on CPU A:" in captured.err and "fwbench merge: partial on CPU B:" in captured.err
    text = prose((tmp_path / "out" / "REPORT.md").read_text())
    assert "## Across devices: which framework wins where" in text and "is partial" in text
    # a shard of another run id is refused whatever its device
    results.save(tmp_path / "other.json", dataclasses.replace(parts[1], run_id="other"))
    with pytest.raises(UsageError, match="run id 'other'"):
        shard.merge_by_device(
            [(tmp_path / "s1.json", parts[0]), (tmp_path / "other.json", results.load(tmp_path / "other.json"))]
        )
