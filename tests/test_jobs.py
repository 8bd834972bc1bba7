"""The one worker protocol: every worker gets one tagged JSON job document and writes one document
back, through spawn.run_job, which owns the temp files, the spawn and the reading back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.core import spec
from bench.core.plan import SuitePlan
from bench.core.spec import BackendOptions, ExportInitJob, OverheadJob, PeakJob, RunConfig
from bench.launching import spawn

from .conftest import REPO

OPTS = BackendOptions("cpu", 1, 1, seed=3)
JOBS = [
    RunConfig(
        run_id="r", workload="mlp-iris", backend="keras", device="cpu", profile="quick", repeat=0, seed=1,
        init="native", init_path=None, threads=1, interop_threads=1, deterministic=False,
    ),
    ExportInitJob(seeds=(0, 1), workloads=("mlp-iris",), folder="/tmp/x"),
    PeakJob("torch-eager", OPTS),
    OverheadJob("keras", "cnn-digits", OPTS, blocks=3, bare_first=True),
]  # fmt: skip


def plan(**kw) -> SuitePlan:
    base = dict(
        workloads=("mlp-iris",), backends=("torch-eager",), device="cpu", profile="quick", repeats=1, seed=0,
        init="native", threads=1, interop_threads=1, deterministic=False, time_limit_s=60.0,
    )  # fmt: skip
    return SuitePlan(**{**base, **kw})


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.kind)
def test_every_job_round_trips_through_its_json_document(job: spec.Job) -> None:
    doc = json.loads(json.dumps(spec.job_document(job)))
    assert doc["job"] == job.kind
    assert spec.read_job(doc) == job


def test_a_bad_job_document_names_the_bad_field_or_kind() -> None:
    with pytest.raises(ValueError, match="job 'train' is not one of run, export-init, peak, overhead"):
        spec.read_job({"job": "train"})
    doc = spec.job_document(PeakJob("keras", OPTS))
    doc["options"]["threads"] = "two"
    with pytest.raises(ValueError, match=r"options\.threads: expected int, got string 'two'"):
        spec.read_job(doc)
    with pytest.raises(ValueError, match="scenario 'serve' is not one of train"):
        spec.read_job({**spec.job_document(JOBS[0]), "scenario": "serve"})


def test_a_worker_imports_no_pandas() -> None:
    """pandas is for reports; a worker process stays light (results and typed JSON need none)."""
    code = "import sys, bench.worker, bench.launching.launch; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_worker_given_anything_but_one_job_and_one_output_says_how_it_is_used() -> None:
    p = subprocess.run([sys.executable, "-m", "bench.worker", "run"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 2 and "usage: python -m bench.worker JOB.json OUT.json" in p.stderr


def test_a_job_that_fails_in_the_worker_is_a_status_and_a_reason() -> None:
    doc, done = spawn.run_job(PeakJob("no-such-backend", OPTS), plan())
    assert doc is None and done.status == "failed"
    assert "unknown backend 'no-such-backend'; valid: torch-eager" in done.reason


def test_a_job_past_its_time_limit_is_killed_and_is_a_status() -> None:
    job = RunConfig(**{**JOBS[0].to_dict(), "fault": "hang", "backend": "torch-eager"})
    doc, done = spawn.run_job(job, plan(), time_limit_s=3.0)
    assert doc is None and done.status == "timeout"
    assert done.reason.startswith("exceeded the time limit of 3 s")


def test_every_scenario_has_a_worker() -> None:
    from bench import scenarios

    for name in spec.SCENARIOS:
        assert callable(scenarios.entry(name)), name
    with pytest.raises(ValueError, match="scenario 'serve' has no worker entry"):
        scenarios.entry("serve")
