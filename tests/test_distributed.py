"""The distributed scenario (bench.scenarios.distributed): 2 CPU ranks of mlp-iris on each framework's own engine.

Every cell with a framework runs in worker subprocesses (`python -m bench.worker JOB OUT`, the coordinator,
which starts the ranks); this process imports neither torch nor tensorflow. The cells run side by side
(they mostly wait on imports and rendezvous) from one module fixture, and the tests read their results:
(a) torch-eager (DDP) and keras (MultiWorkerMirroredStrategy) train ok with the update-equality check
passing; (b) the check's mutant (fault "no-average") fails it in both; (c) a rank that crashes ends its
cell "failed" naming rank 1, well before the deadline, a rank that hangs ends it "timeout" at the deadline,
and afterwards no process of any cell is left and their ports are free; (d) a backend without a
distributed path, a workload of another task and too many workers are "unsupported" with the reason;
(e) two "nodes" of one worker each on loopback (a torchrun per node; Keras processes node by node) train
ok with the update check passing over the world of 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest

from bench import cli
from bench.core import backends, workloads
from bench.core.plan import SuitePlan
from bench.core.spec import RunConfig, RunKey, job_document
from bench.core.typedjson import parse_json
from bench.interfaces.ranks import MUTANT_FAULT, UPDATE_TOL, world_size
from bench.launching import launch
from bench.measure import rank_training, tasks
from bench.records import results
from bench.scenarios import distributed, distributed_launch

from .conftest import REPO

WORKERS = 2
OK_EPOCHS = 15  # mlp-iris trains full batch, one step per epoch: 1 first + 5 warm-up + >= 9 steady steps
CRASH_BOUND_S = 200.0  # a crash ends its cell long before the deadline (deadline_s: 285 s in the quick profile)
NODES_EPOCHS = 8  # the two-node cells: 1 first + 5 warm-up + 2 steady steps
HANG_DEADLINE_S = 90.0  # the hang cell's deadline (patched: the quick profile's would take 285 s)
RANK_MODULES = ("impls.torch.distributed", "impls.keras.distributed")
FRAMEWORKS = ("torch-eager", "keras")

have_all = all(backends.get(b).installed() for b in FRAMEWORKS)
slow = pytest.mark.slow
needs_frameworks = pytest.mark.skipif(not have_all, reason="needs torch and tensorflow/keras")


def config(name: str, backend: str, fault: str | None = None, epochs: int = OK_EPOCHS, **kw: object) -> RunConfig:
    fields: dict[str, object] = {
        "run_id": f"dt{os.getpid()}-{name}",
        "workload": "mlp-iris",
        "backend": backend,
        "device": "cpu",
        "profile": "quick",
        "repeat": 0,
        "seed": 0,
        "init": "native",
        "init_path": None,
        "threads": WORKERS,
        "interop_threads": 1,
        "deterministic": False,
        "epochs_override": epochs,
        "fault": fault,
        "scenario": "distributed",
        "workers": WORKERS,
        **kw,
    }
    return RunConfig(**fields)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Cell:
    result: results.Result
    wall_s: float
    stderr: str


def run_worker(cfg: RunConfig) -> Cell:
    """One cell as the suite launcher runs it: `python -m bench.worker JOB OUT` (the coordinator)."""
    with tempfile.TemporaryDirectory(prefix="fwbench-test-dist-") as tmp:
        job, out = Path(tmp, "job.json"), Path(tmp, "out.json")
        job.write_text(json.dumps(job_document(cfg)))
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "bench.worker", str(job), str(out)],
            cwd=REPO,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall = time.monotonic() - t0
        assert done.returncode == 0 and out.exists(), f"worker exit {done.returncode}\n{done.stderr[-3000:]}"
        return Cell(results.Result.from_dict(parse_json(out.read_text())), wall, done.stderr)


def run_in_process(cfg: RunConfig) -> Cell:
    """The hang cell: the coordinator in this process (it imports no framework) with a short deadline."""
    t0 = time.monotonic()
    return Cell(distributed.measure(cfg), time.monotonic() - t0, "")


CELLS = {  # the hang first: its deadline is the longest wait, and the other cells run beside it on the other threads
    "torch-hang": (run_in_process, config("torch-hang", "torch-eager", "hang", epochs=50)),
    "torch-ok": (run_worker, config("torch-ok", "torch-eager")),
    "keras-ok": (run_worker, config("keras-ok", "keras")),
    "torch-mutant": (run_worker, config("torch-mutant", "torch-eager", MUTANT_FAULT, epochs=1)),
    "keras-mutant": (run_worker, config("keras-mutant", "keras", MUTANT_FAULT, epochs=1)),
    "torch-crash": (run_worker, config("torch-crash", "torch-eager", "crash", epochs=50)),
    "keras-crash": (run_worker, config("keras-crash", "keras", "crash", epochs=50)),
    "torch-2nodes": (run_worker, config("torch-2nodes", "torch-eager", epochs=NODES_EPOCHS, nodes=2, workers=1)),
    "keras-2nodes": (run_worker, config("keras-2nodes", "keras", epochs=NODES_EPOCHS, nodes=2, workers=1)),
}


@pytest.fixture(scope="module")
def cells() -> dict[str, Cell]:
    if not have_all:
        pytest.skip("needs torch and tensorflow/keras")
    patch = pytest.MonkeyPatch()
    patch.setattr(distributed, "deadline_s", lambda cfg: HANG_DEADLINE_S)  # in-process cells only (the hang)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {name: pool.submit(fn, cfg) for name, (fn, cfg) in CELLS.items()}
            return {name: f.result() for name, f in futures.items()}
    finally:
        patch.undo()


def check(cell: Cell) -> dict[str, object]:
    d = cell.result.distributed
    assert d is not None
    return d.settings


@slow
@needs_frameworks
@pytest.mark.parametrize("name", ["torch-ok", "keras-ok"])
def test_cells_train_with_the_update_check_passing(cells: dict[str, Cell], name: str) -> None:
    cell = cells[name]
    r = cell.result
    assert r.status == "ok", f"{r.reason}\n{cell.stderr[-2000:]}"
    s = check(cell)
    assert s["update_ok"] is True
    assert s["update_max_abs_diff"] < s["update_tol"] == UPDATE_TOL
    d = r.distributed
    assert d is not None
    assert d.workers == WORKERS and len(d.rank_median_step_ms) == WORKERS and len(d.rank_peak_rss_mib) == WORKERS
    assert d.global_batch == WORKERS * d.per_worker_batch == r.samples_per_step == 120  # capped at iris' split
    assert d.threads_per_worker == 1 and d.failed_rank is None
    assert r.steps == OK_EPOCHS and len(r.eval_history) == OK_EPOCHS
    assert r.median_step_ms and r.median_step_ms > 0 and r.throughput_samples_s
    assert r.metric is not None and 0.0 <= r.metric <= 1.0
    assert r.num_params == 131 and r.workers == WORKERS and r.scenario == "distributed"


@slow
@needs_frameworks
@pytest.mark.parametrize("name", ["torch-mutant", "keras-mutant"])
def test_the_mutant_fails_the_update_check(cells: dict[str, Cell], name: str) -> None:
    r = cells[name].result
    assert r.status == "failed", r.reason
    assert "update-equality check failed" in r.reason
    s = check(cells[name])
    assert s["update_ok"] is False and s["update_max_abs_diff"] > 100 * UPDATE_TOL


@slow
@needs_frameworks
@pytest.mark.parametrize("name", ["torch-crash", "keras-crash"])
def test_a_crashing_rank_ends_the_cell_naming_it(cells: dict[str, Cell], name: str) -> None:
    cell = cells[name]
    r = cell.result
    assert r.status == "failed", r.reason
    assert r.reason.startswith("rank 1 failed: killed by SIGKILL"), r.reason
    assert r.distributed is not None and r.distributed.failed_rank == 1
    assert cell.wall_s < CRASH_BOUND_S


@slow
@needs_frameworks
def test_a_hanging_rank_ends_the_cell_at_the_deadline(cells: dict[str, Cell]) -> None:
    cell = cells["torch-hang"]
    r = cell.result
    assert r.status == "timeout", r.reason
    assert "rank 1: training" in r.reason
    assert HANG_DEADLINE_S <= cell.wall_s < HANG_DEADLINE_S + 30


@slow
@needs_frameworks
def test_nothing_is_left_behind(cells: dict[str, Cell]) -> None:
    """No process of any cell (children of this process, or anything naming a cell's run id or a rank
    program), no cell folder, and every port the cells used is free again."""
    assert psutil.Process().children(recursive=True) == []
    run_ids = [cfg.run_id for _, cfg in CELLS.values()]
    left = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if any(rid in cmd for rid in run_ids) or any(m in cmd for m in RANK_MODULES):
            left.append(f"{p.info['pid']}: {cmd[:200]}")
    assert not left
    ports = [port for c in cells.values() for port in check(c).get("ports", [])]
    assert len(ports) >= len(cells)
    assert all(distributed_launch.port_free(p) for p in ports), ports
    assert not [d for rid in run_ids for d in Path(tempfile.gettempdir()).glob(f"fwbench-dist-{rid}-*")]


@slow
@needs_frameworks
@pytest.mark.parametrize(
    ("name", "world_setting"), [("torch-2nodes", "world_size"), ("keras-2nodes", "replicas_in_sync")]
)
def test_two_nodes_on_loopback_train_with_the_update_check_passing(
    cells: dict[str, Cell], name: str, world_setting: str
) -> None:
    cell = cells[name]
    r = cell.result
    assert r.status == "ok", f"{r.reason}\n{cell.stderr[-2000:]}"
    s = check(cell)
    assert s["update_ok"] is True and s["update_max_abs_diff"] < UPDATE_TOL
    d = r.distributed
    assert d is not None and d.nodes == 2 and d.workers == 1 and r.nodes == 2 and r.workers == 1
    assert len(d.rank_median_step_ms) == len(d.rank_peak_rss_mib) == 2 and r.settings[world_setting] == 2
    assert d.global_batch == 2 * d.per_worker_batch == r.samples_per_step == 120
    assert "2 nodes" in d.launcher or "--nnodes 2" in d.launcher
    assert r.steps == NODES_EPOCHS and r.median_step_ms and r.median_step_ms > 0


# ---------------------------------------------------------------------------------- no framework needed


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"backend": "torchscript"}, ["'torchscript' has no distributed path", "torch-eager, keras"]),
        ({"workload": "dqn-cartpole"}, ["classification workloads only", "'dqn'"]),
        ({"workers": 64}, ["64 workers", "CPUs"]),
        ({"workers": 7, "scaling": "strong"}, ["strong scaling", "7 workers do not divide"]),
        ({"fault": "oom"}, ["fault 'oom'", "no-average"]),
        ({"nodes": 32, "workers": 2}, ["32 nodes x 2 workers are", "CPUs (every node runs on it)"]),
        ({"nodes": 7, "workers": 1, "scaling": "strong"}, ["7 nodes x 1 worker do not divide"]),
    ],
)
def test_cells_that_cannot_run_are_unsupported(changes: dict[str, object], words: list[str]) -> None:
    if "workload" in changes and changes["workload"] not in workloads.WORKLOADS:
        pytest.skip(f"no workload {changes['workload']}")
    cfg = dataclasses.replace(config("unsupported", "torch-eager"), **changes)  # type: ignore[arg-type]
    r = distributed.measure(cfg)
    assert r.status == "unsupported"
    assert "\n" not in r.reason
    for w in words:
        assert w in r.reason
    assert "torch" not in sys.modules and "tensorflow" not in sys.modules


def test_shards_partition_each_global_batch_in_the_seeded_order() -> None:
    wl = workloads.get("mlp-iris")
    task = tasks.make(wl, 0)
    assert isinstance(task, tasks.ClassifyTask)
    n = len(task.ds.x_train)
    weak = config("shard", "torch-eager")
    strong = dataclasses.replace(weak, scaling="strong")
    assert rank_training.shard_sizes(weak, wl, n) == (60, 120, True)  # 2 x 120 > the split: capped
    assert rank_training.shard_sizes(strong, wl, n) == (60, 120, False)
    wide = dataclasses.replace(wl, batch_size=16)
    assert rank_training.shard_sizes(weak, wide, n) == (16, 32, False)
    assert rank_training.shard_sizes(strong, wide, n) == (8, 16, False)
    ranks = [rank_training.ShardTask(task, r, 2, 16, 32, lambda: None) for r in range(2)]
    for idx, a, b in zip(ranks[0].global_indices(1), ranks[0].batches(1, None), ranks[1].batches(1, None), strict=True):
        assert len(idx) == 32
        whole = ranks[0].whole(idx)
        np.testing.assert_array_equal(np.concatenate([a["x"], b["x"]]), whole["x"])
        np.testing.assert_array_equal(np.concatenate([a["y"], b["y"]]), whole["y"])


def test_the_step_is_the_slowest_ranks() -> None:
    docs = [{"step_ms": [5.0, 1.0, 3.0]}, {"step_ms": [4.0, 2.0, 1.0, 9.0]}]
    assert distributed.slowest_steps(docs) == [5.0, 2.0, 3.0]


def test_free_ports_are_distinct_and_free() -> None:
    ports = distributed_launch.free_ports(3)
    assert len(set(ports)) == 3 and all(distributed_launch.port_free(p) for p in ports)


def test_the_world_is_nodes_times_workers() -> None:
    cfg = config("world", "torch-eager", nodes=2, workers=1, threads=4)
    assert world_size(cfg) == 2 and distributed.threads_per_worker(cfg) == 2
    wl = workloads.get("mlp-iris")
    assert rank_training.shard_sizes(cfg, dataclasses.replace(wl, batch_size=16), 120) == (16, 32, False)
    with pytest.raises(ValueError, match="nodes must be >= 1, got 0"):
        config("no-nodes", "torch-eager", nodes=0)


def test_nodes_and_workers_make_a_cell_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--nodes 2 --workers 1`: one distributed cell of 2 nodes x 1 worker per backend; with --nodes 1 2 a
    2x1 cell beside the 1x1 one, never merged (their keys differ); `SuitePlan.run_config` carries nodes."""
    seen: dict[str, SuitePlan] = {}

    def stop(plan: SuitePlan, *args: object, **kwargs: object) -> None:
        seen["plan"] = plan
        raise KeyboardInterrupt

    monkeypatch.setattr(launch, "run_suite", stop)
    argv = ["run", "--workloads", "mlp-iris", "--backends", "torch-eager", "keras", "--scenario", "distributed"]
    assert cli.main([*argv, "--nodes", "2", "--workers", "1", "--threads", "2", "--out", str(tmp_path)]) == 130
    plan = seen["plan"]
    assert plan.nodes == (2,) and plan.workers == (1,) and plan.to_dict()["nodes"] == [2]
    runs = plan.runs()
    assert {(k.backend, k.nodes, k.workers) for k in runs} == {("torch-eager", 2, 1), ("keras", 2, 1)}
    assert plan.run_config("r", runs[0], None).nodes == 2
    both = dataclasses.replace(plan, nodes=(1, 2), seeds=1)
    assert [(k.nodes, k.workers) for k in both.runs() if k.backend == "keras"] == [(1, 1), (2, 1)]
    assert SuitePlan.from_dict(both.to_dict()).nodes == (1, 2)
    assert RunKey("mlp-iris", "keras", 0, 0, "distributed", "fp32", 1, 2) != RunKey(
        "mlp-iris", "keras", 0, 0, "distributed", "fp32", 1
    )


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--nodes", "0"], "--nodes: must be >= 1, got 0"),
        (["--nodes", "2", "--workers", "4096"], "--nodes 2 x --workers 4096: 8192 processes; this host"),
    ],
)
def test_bad_nodes_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], words: str
) -> None:
    argv = ["run", "--workloads", "mlp-iris", "--backends", "torch-eager", "--scenario", "distributed", *flags]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fwbench: error: ") and words in err[0], err
    assert not (tmp_path / "runs").exists()
