"""Measurement mechanics: interleaving, separate processes, memory figures, FLOP/s and peaks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from bench.core.plan import SuitePlan
from bench.records import results

from .conftest import REPO, fwbench, small_plan


def blocks(p: SuitePlan) -> list[tuple[tuple[object, ...], list[str]]]:
    """The plan's runs as its interleaved blocks: each block's (workload, seed, repeat, scenario, precision, workers,
    nodes) and the backends in the block's order."""
    out: list[tuple[tuple[object, ...], list[str]]] = []
    for k in p.runs():
        block = (k.workload, k.seed, k.repeat, k.scenario, k.precision, k.workers, k.nodes)
        if out and out[-1][0] == block:
            out[-1][1].append(k.backend)
        else:
            out.append((block, [k.backend]))
    return out


def test_interleaving_is_repeat_major_then_seed_then_scenario_then_workload_then_backend() -> None:
    p = small_plan(backends=("torch-eager", "torchscript", "keras"), repeats=2)
    assert [b for b, _ in blocks(p)] == [
        ("mlp-iris", 0, 0, "train", "fp32", 1, 1),
        ("mlp-iris", 0, 1, "train", "fp32", 1, 1),
    ]
    assert all(
        sorted(order) == sorted(p.backends) for _, order in blocks(p)
    )  # each block: every backend once, seeded order
    p = small_plan(backends=("torch-eager", "keras"), repeats=2, seeds=2, seed=7)
    assert [b for b, _ in blocks(p)] == [
        ("mlp-iris", 7, 0, "train", "fp32", 1, 1), ("mlp-iris", 8, 0, "train", "fp32", 1, 1),
        ("mlp-iris", 7, 1, "train", "fp32", 1, 1), ("mlp-iris", 8, 1, "train", "fp32", 1, 1),
    ]  # fmt: skip
    assert all(sorted(order) == sorted(p.backends) for _, order in blocks(p))


def test_each_worker_count_is_a_run_of_the_distributed_scenario_only() -> None:
    p = small_plan(scenarios=("train", "distributed"), workers=(1, 2))
    assert [b for b, _ in blocks(p)] == [
        ("mlp-iris", 0, 0, "train", "fp32", 1, 1), ("mlp-iris", 0, 0, "distributed", "fp32", 1, 1),
        ("mlp-iris", 0, 0, "distributed", "fp32", 2, 1),
    ]  # fmt: skip
    assert all(sorted(order) == ["keras", "torch-eager"] for _, order in blocks(p))


@pytest.mark.slow
def test_repeats_are_separate_processes_in_interleaved_order(tmp_path) -> None:
    # 300 steps: a training window of 0.1 s or more, ten of the CPU clock's 10 ms ticks (12 epochs were 13 ms,
    # and the process's CPU time over them could read 0)
    p = fwbench(
        "run", "--workloads", "mlp-iris", "--backends", "torch-eager", "keras", "--repeats", "2", "--steps", "300",
        "--threads", "1", "--seeds", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    suite = results.load(next((tmp_path / "runs").glob("*.json")))
    assert [(r.backend, r.repeat) for r in suite.results] == [(k.backend, k.repeat) for k in suite.plan.runs()]
    assert sorted((r.backend, r.repeat) for r in suite.results) == [
        ("keras", 0),
        ("keras", 1),
        ("torch-eager", 0),
        ("torch-eager", 1),
    ]
    assert len({r.pid for r in suite.results}) == 4
    starts = [r.started_at for r in suite.results]
    assert starts == sorted(starts)
    # every run carries FLOPs, achieved GFLOP/s and the device's measured matmul peak: the best of both
    # frameworks, one denominator for every run
    peaks = suite.environment["matmul_peak"]
    assert set(peaks) == {"torch", "tensorflow"} and all(p["gflops_best"] > 0 for p in peaks.values())
    assert suite.environment["cpu_isa"] is not None and suite.environment["cpu_mhz"] > 0
    for r in suite.results:
        assert r.flops_per_step == pytest.approx(3 * 2 * 120 * (4 * 16 + 16 * 3) - 2 * 120 * 4 * 16)
        assert r.achieved_gflops == pytest.approx(r.flops_per_step / (r.median_step_ms / 1e3) / 1e9)
        assert r.matmul_peak_gflops == max(p["gflops_best"] for p in peaks.values())
        assert r.seed == 0 and r.settled is not None
        assert r.cpu["threads"] == 1 and r.cpu["wall_s"] > 0 and r.cpu["process_cpu_s"] > 0
        assert 0 < r.peak_fraction < 1
        assert r.memory.kind == "peak_rss"
        assert r.memory.peak_mib >= r.memory.rss_after_data_mib >= r.memory.rss_after_imports_mib > 50


MEMORY_PROBE = textwrap.dedent(
    """
    import dataclasses, json, sys
    from bench.core import workloads
    from bench.core.spec import RunConfig
    from bench.scenarios import train
    hidden = int(sys.argv[1])
    base = workloads.get("mlp-iris")
    wl = dataclasses.replace(base, name=f"mlp-{hidden}", model_kwargs={**base.model_kwargs, "hidden": hidden})
    workloads.WORKLOADS[wl.name] = wl
    cfg = RunConfig(run_id="probe", workload=wl.name, backend=sys.argv[2], device="cpu", profile="quick", repeat=0,
                    seed=0, init="native", init_path=None, threads=1, interop_threads=1, deterministic=False,
                    epochs_override=3)
    r = train.measure(cfg)
    print(json.dumps({"params": r.num_params, **dataclasses.asdict(r.memory)}))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch-eager", "keras"])
def test_ten_times_the_parameters_shows_a_larger_model_share(backend: str) -> None:
    """Peak RSS minus RSS after data loading grows with the model (weights, grads, Adam state)."""

    def probe(hidden: int) -> dict:
        p = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(hidden), backend], cwd=REPO, capture_output=True, text=True,
            timeout=300, check=True, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        return json.loads(p.stdout.strip().splitlines()[-1])

    small, big = probe(100_000), probe(1_000_000)
    assert big["params"] == pytest.approx(10 * small["params"], rel=0.01)
    # 7M more float32 parameters, with gradients and two Adam moments: >= 4 x 28 MB more
    assert big["model_share_rss_mib"] - small["model_share_rss_mib"] > 60, (small, big)


@pytest.mark.slow  # two torch.compile runs
def test_compile_cache_is_cold_per_workload_until_that_workload_was_compiled(tmp_path) -> None:
    pytest.importorskip("torch")
    base = tmp_path / "inductor"
    cache = {"TORCHINDUCTOR_CACHE_DIR": str(base)}
    args = ("--backends", "torch-compile", "--epochs", "1", "--init", "native", "--seeds", "1", "--out", str(tmp_path))

    def states(*workloads: str) -> dict[str, tuple[str, str]]:
        p = fwbench("run", "--workloads", *workloads, *args, env=cache, timeout=600)
        assert p.returncode == 0, p.stderr
        (newest,) = sorted((tmp_path / "runs").glob("*.json"))[-1:]
        return {
            r.workload: (r.settings["compile_cache"], r.settings["inductor_cache_dir"])
            for r in results.load(newest).results
        }

    first = states("mlp-iris")
    assert first == {"mlp-iris": ("cold", str(base / "fwbench" / "mlp-iris"))}
    # mlp-iris now finds its own graphs; dqn-cartpole compiles from nothing although the cache holds files
    second = states("mlp-iris", "dqn-cartpole")
    assert second["mlp-iris"][0] == "warm"
    assert second["dqn-cartpole"] == ("cold", str(base / "fwbench" / "dqn-cartpole"))


@pytest.mark.slow
def test_training_memory_does_not_grow_with_the_step_count(tmp_path) -> None:
    """The peak is read before the harness's own statistics (a bootstrap over every step time, which
    once moved a 6000-step run's peak from 99 to 283 MiB): mlp-iris, whose training state is fixed, uses
    the same memory for 100 steps as for 5000."""
    pytest.importorskip("torch")
    share = {}
    for steps in (100, 5000):
        out = tmp_path / str(steps)
        p = fwbench(
            "run", "--workloads", "mlp-iris", "--backends", "torch-eager", "--steps", str(steps), "--threads", "1",
            "--seeds", "1", "--out", str(out), timeout=600,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr[-2000:]
        (r,) = results.load(next((out / "runs").glob("*.json"))).results
        assert r.status == "ok" and r.steps == steps, (r.status, r.steps)
        share[steps] = r.memory.model_share_rss_mib
    assert abs(share[5000] - share[100]) <= 10, share
