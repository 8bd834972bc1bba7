"""The Scaling section on a fixed results file: the mlp-iris fixture's runs turned into distributed runs at
1 and 2 workers on one node, and at 2 nodes of 1 worker, with known step times, so that throughput and
efficiency are known in advance."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.records import results
from bench.report import document

DATA = Path(__file__).parent / "data"


def distributed(r: results.Result, workers: int, step_ms: float, global_batch: int, nodes: int = 1) -> results.Result:
    steps = [step_ms] * 50
    world = nodes * workers
    return dataclasses.replace(
        r,
        scenario="distributed",
        workers=workers,
        config=dataclasses.replace(r.config, scenario="distributed", workers=workers, nodes=nodes)
        if r.config
        else None,
        step_ms=steps,
        median_step_ms=step_ms,
        ci95_step_ms=[step_ms, step_ms],
        samples_per_step=global_batch,
        throughput_samples_s=global_batch / (step_ms / 1e3),
        distributed=results.Distributed(
            workers=workers,
            nodes=nodes,
            per_worker_batch=16,
            global_batch=global_batch,
            engine="test",
            rank_median_step_ms=[step_ms] * world,
            rank_peak_rss_mib=[300.0 + 10 * i for i in range(world)],
            settings={"update_max_abs_diff": 3e-8, "update_tol": 1e-5, "update_ok": True},
        ),
    )


def test_the_scaling_section_gives_throughput_and_efficiency_per_worker_count(tmp_path: Path) -> None:
    suite = results.load(DATA / "suite-mlp-iris.json")
    torch_run = next(r for r in suite.results if r.backend == "torch-eager")
    keras_run = next(r for r in suite.results if r.backend == "keras")
    runs = [
        distributed(torch_run, 1, 1.0, 16),  # 16,000 samples/s
        distributed(torch_run, 2, 1.25, 32),  # 25,600 samples/s: 80% of 2 x 16,000
        distributed(keras_run, 1, 2.0, 16),  # 8,000 samples/s
        distributed(keras_run, 2, 4.0, 32),  # 8,000 samples/s: 50%
        distributed(torch_run, 1, 1.6, 32, nodes=2),  # 20,000 samples/s: 62.5% of 2 x 16,000 (not merged with 1x2)
    ]
    text = document.write([dataclasses.replace(suite, results=[*suite.results, *runs])], tmp_path).read_text()
    section = text.split("## Scaling: data-parallel training", 1)[1].split("\n## ", 1)[0]
    core, details = (
        {
            (cells[1], cells[2]): cells
            for ln in table.splitlines()
            if ln.startswith("|") and (cells := [c.strip() for c in ln.split("|")])[1] in ("torch-eager", "keras")
        }
        for table in section.split("### mlp-iris", 1)[1].strip().split("\n\n")[:2]
    )
    assert list(core) == [
        ("keras", "1x1"),
        ("keras", "1x2"),
        ("torch-eager", "1x1"),
        ("torch-eager", "1x2"),
        ("torch-eager", "2x1"),
    ]
    assert core["torch-eager", "1x2"][5] == "25,600" and core["torch-eager", "1x2"][6] == "80%"
    assert core["torch-eager", "2x1"][5] == "20,000" and core["torch-eager", "2x1"][6] == "62%"
    assert core["keras", "1x2"][6] == "50%" and core["keras", "1x1"][6] == "100%"
    assert details["torch-eager", "1x2"][4] == "3.0e-08 / 1e-05" and details["torch-eager", "1x2"][3] == "16 / 32"
    assert [c.strip() for c in section.split("### mlp-iris", 1)[1].strip().splitlines()[0].split("|")][1:4] == [
        "backend",
        "nodes x workers",
        "status",
    ]
    assert all(ln.count("|") <= 7 for ln in section.split("### mlp-iris", 1)[1].strip().split("\n\n")[0].splitlines())
    assert (tmp_path / "plots" / "scaling.png").read_bytes()[:4] == b"\x89PNG"
