"""A run's fixed cost (docs/METHODOLOGY.md, "A run's fixed cost"): what the user cache (bench/core/cache.py) keeps
between suites gives back what a fresh measurement, export or generation gives, misses on a changed key,
survives a corrupt entry, and a torch worker imports no library it does not use."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench.core import cache, data
from bench.core.errors import UsageError
from bench.core.plan import SuitePlan
from bench.core.spec import PeakJob, RunConfig, job_document
from bench.launching import launch, spawn
from tests.conftest import REPO, install_hint

TORCH_MISSING = install_hint("torch-eager")


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test here gets an empty cache of its own (and so do the workers it starts: they inherit it)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    return folder


def plan(**kw: object) -> SuitePlan:
    base = dict(
        workloads=("mlp-iris",), backends=("torch-eager",), device="cpu", profile="quick", repeats=1, seed=0,
        init="shared", threads=1, interop_threads=1, deterministic=False, time_limit_s=120.0,
    )  # fmt: skip
    return SuitePlan(**{**base, **kw})  # type: ignore[arg-type]


def same_dataset(a: data.Dataset, b: data.Dataset) -> bool:
    arrays = all(
        np.array_equal(getattr(a, f), getattr(b, f)) and getattr(a, f).dtype == getattr(b, f).dtype for f in data.ARRAYS
    )
    return arrays and a.describe() == b.describe() and type(a.info) is type(b.info) and a.num_classes == b.num_classes


@pytest.mark.parametrize("name", ["iris", "text-bert"])  # embedded in scikit-learn; generated from a seed
def test_a_cached_dataset_is_the_dataset_the_loader_makes(name: str, own_cache: Path) -> None:
    fresh = data.DATASETS[name](3, None)
    first = data.load(name, 3)  # made, and stored
    entries = list((own_cache / data.CACHE_KIND).glob("*.npz"))
    assert len(entries) == 1
    assert same_dataset(first, fresh)
    again = data.load(name, 3)  # from the entry
    assert same_dataset(again, fresh)
    assert not same_dataset(data.load(name, 4), fresh)  # another seed is another entry
    assert len(list((own_cache / data.CACHE_KIND).glob("*.npz"))) == 2


def test_a_dataset_entry_misses_on_a_new_version_and_survives_corruption(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = data.DATASETS["iris"]

    def counted(seed: int, data_dir: Path | None) -> data.Dataset:
        calls.append(seed)
        return real(seed, data_dir)

    monkeypatch.setattr(data, "BUILT_IN", {**data.BUILT_IN, "iris": counted})  # the built-in loader, counted
    monkeypatch.setitem(data.DATASETS, "iris", counted)
    data.load("iris", 0)
    data.load("iris", 0)
    assert calls == [0]  # the second came from the cache
    (entry,) = (own_cache / data.CACHE_KIND).glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    assert same_dataset(data.load("iris", 0), real(0, None)) and calls == [0, 0]  # made afresh
    monkeypatch.setattr(np, "__version__", "0.0.1")  # the generator's numpy changed: a new key
    data.load("iris", 0)
    assert calls == [0, 0, 0]
    monkeypatch.setitem(data.DATASETS, "iris", lambda seed, d: real(seed, d))  # a replaced loader: never cached
    data.load("iris", 0)
    assert calls == [0, 0, 0]


def test_folder_datasets_are_never_cached(own_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"missing data_batch_1\.bin"):
        data.load("cifar10", 0, tmp_path / "empty")
    assert not (own_cache / data.CACHE_KIND).exists()


def test_the_cache_can_be_turned_off(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    data.load("iris", 0)
    assert cache.write_json("peak", {"a": 1}, {"gflops_best": 1.0}) is None
    assert not own_cache.exists()


def test_a_json_entry_needs_its_exact_key(own_cache: Path) -> None:
    key = {"cpu_model": "X", "threads": 1, "versions": {"torch": "2.0"}}
    path = cache.write_json("peak", key, {"gflops_best": 5.0})
    assert path is not None and path.exists()
    hit = cache.read_json("peak", key)
    assert hit is not None and hit[0]["value"] == {"gflops_best": 5.0} and hit[1] == path
    assert cache.read_json("peak", {**key, "threads": 2}) is None
    assert cache.read_json("peak", {**key, "versions": {"torch": "2.1"}}) is None
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "key": {**doc["key"], "threads": 2}}))  # a (hash-colliding) other key
    assert cache.read_json("peak", key) is None
    path.write_text("{not json")
    assert cache.read_json("peak", key) is None


def test_peaks_are_cached_by_machine_versions_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher's side, with a stand-in worker: which key measures anew, and what the record says."""
    measured: list[tuple[str, int]] = []

    def fake_run_job(job: PeakJob, p: SuitePlan, time_limit_s: float | None = None) -> tuple[dict, None]:
        measured.append((job.backend, job.options.threads))
        return {"backend": job.backend, "n": 1024, "gflops_best": 10.0 * job.options.threads}, None

    monkeypatch.setattr(spawn, "run_job", fake_run_job)
    first = launch.measure_peaks(plan())
    assert first["torch"]["measured"] is True and "cached_from" not in first["torch"]
    again = launch.measure_peaks(plan())
    assert measured == [("torch-eager", 1)]
    assert again["torch"]["gflops_best"] == first["torch"]["gflops_best"]
    assert Path(again["torch"]["cached_from"]).is_file() and again["torch"]["measured_at"]
    assert "measured" not in again["torch"]
    launch.measure_peaks(plan(threads=2))  # other threads: measured
    assert measured[-1] == ("torch-eager", 2)
    real_version = cache.version
    monkeypatch.setattr(cache, "version", lambda p: "9.9" if p == "torch" else real_version(p))
    launch.measure_peaks(plan())  # another torch: measured
    assert measured[-1] == ("torch-eager", 1) and len(measured) == 3
    monkeypatch.setattr(cache, "version", real_version)
    Path(again["torch"]["cached_from"]).write_text("garbage")  # corrupt: measured again, and rewritten
    launch.measure_peaks(plan())
    assert len(measured) == 4
    assert "cached_from" in launch.measure_peaks(plan())["torch"] and len(measured) == 4


@pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING))
def test_a_cached_peak_is_the_measured_one(tmp_path: Path) -> None:
    fresh = launch.measure_peaks(plan())["torch"]
    assert fresh.get("measured") is True and fresh["gflops_best"] > 0, fresh
    cached = launch.measure_peaks(plan())["torch"]
    assert {k: cached[k] for k in ("backend", "n", "gflops_best", "gflops_median")} == {
        k: fresh[k] for k in ("backend", "n", "gflops_best", "gflops_median")
    }
    assert "cached_from" in cached


@pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING))
def test_initial_weights_are_exported_once_and_copied_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    paths, errors = launch.export_inits(plan(), ["mlp-iris"], out, "run-a")
    assert not errors and not (out / "init" / "run-a" / "CACHED.json").exists()

    def no_worker(*a: object, **k: object) -> None:
        raise AssertionError("a cached export started a worker")

    monkeypatch.setattr(spawn, "run_job", no_worker)
    again, errors = launch.export_inits(plan(), ["mlp-iris"], out, "run-b")
    assert not errors
    a, b = paths["mlp-iris", 0], again["mlp-iris", 0]
    assert Path(b).parent.name == "run-b"
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        assert za.files == zb.files and all(
            np.array_equal(za[k], zb[k]) and za[k].dtype == zb[k].dtype for k in za.files
        )
    sources = json.loads((out / "init" / "run-b" / "CACHED.json").read_text())
    assert set(sources) == {"mlp-iris-seed0.npz"} and Path(sources["mlp-iris-seed0.npz"]).is_file()
    monkeypatch.setattr(launch, "init_key", lambda w, s: {"workload": w, "seed": s, "torch": "other"})
    with pytest.raises(AssertionError, match="started a worker"):  # another torch: exported anew
        launch.export_inits(plan(), ["mlp-iris"], out, "run-c")


WORKER_PROBE = textwrap.dedent(
    """
    import json, sys
    from bench import worker
    worker.main(sys.argv[1:3])
    heavy = ["sklearn", "matplotlib", "pandas", "tensorflow"]
    print(json.dumps({m: m in sys.modules for m in heavy}))
    """
)


@pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING))
def test_a_torch_worker_imports_no_library_it_does_not_use(tmp_path: Path) -> None:
    data.load("iris", 0)  # in the cache, as after any earlier run on this machine
    cfg = RunConfig(
        run_id="r", workload="mlp-iris", backend="torch-eager", device="cpu", profile="quick", repeat=0, seed=0,
        init="native", init_path=None, threads=1, interop_threads=1, deterministic=False, epochs_override=2,
    )  # fmt: skip
    job, out = tmp_path / "job.json", tmp_path / "out.json"
    job.write_text(json.dumps(job_document(cfg)))
    env = dict(spawn.worker_env(plan()))
    p = subprocess.run(
        [sys.executable, "-c", WORKER_PROBE, str(job), str(out)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr[-2000:]
    loaded = json.loads(p.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text())["status"] == "ok"
    assert not loaded["sklearn"] and not loaded["matplotlib"] and not loaded["pandas"] and not loaded["tensorflow"]
