"""Failure isolation, driven through the real CLI: a worker that crashes, raises, runs out of memory,
diverges or hangs becomes a result with that status and the reason, and the suite goes on.

Faults are injected with the FWBENCH_FAULT testing hook (docs/FAILURE_MODES.md). Two suites run at
the same time to keep this quick: "faults" has one fault per repeat of mlp-iris/torch-eager under
the default time limit and a last repeat without one, which must come out ok; "hang" has a
torch-eager run that hangs under a short time limit, then a torchscript run that must come out ok.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench.core import backends, formatting
from bench.core.errors import UsageError
from bench.core.plan import SuitePlan, parse_faults
from bench.launching import launch, spawn
from bench.records import results
from bench.report import document

from .conftest import REPO

FAULTS = ("crash", "raise", "oom", "diverge")  # repeats 0..3 of the "faults" suite; repeat 4 runs clean
HANG_LIMIT_S = 30.0  # the "hang" suite's --time-limit: its clean run must fit in it on a loaded 2-core box
SMALL = ["--workloads", "mlp-iris", "--init", "native", "--epochs", "10", "--seeds", "1"]

needs_torch = pytest.mark.skipif(not backends.get("torch-eager").installed(), reason="needs torch")


def slow(test):  # trains in worker processes
    return pytest.mark.slow(pytest.mark.torch(needs_torch(test)))


def start(out: Path, fault: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "run", *SMALL, *args, "--out", str(out)],
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", FWBENCH_FAULT=fault),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclasses.dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    suite: results.Suite
    report: str

    def run(self, backend: str, repeat: int = 0) -> results.Result:
        (r,) = [r for r in self.suite.results if (r.backend, r.repeat) == (backend, repeat)]
        return r


def finish(proc: subprocess.Popen[str], out: Path) -> Outcome:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    (path,) = (out / "runs").glob("*.json")
    return Outcome(stdout, stderr, results.load(path), (out / "REPORT.md").read_text())


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    faults_out, hang_out = tmp_path_factory.mktemp("faults"), tmp_path_factory.mktemp("hang")
    faults = ",".join(f"mlp-iris/torch-eager#{i}={f}" for i, f in enumerate(FAULTS))
    p_faults = start(faults_out, faults, "--backends", "torch-eager", "--repeats", str(len(FAULTS) + 1))
    p_hang = start(
        hang_out, "mlp-iris/torch-eager=hang", "--backends", "torch-eager", "torchscript",
        "--time-limit", f"{HANG_LIMIT_S:g}",
    )  # fmt: skip
    return {"faults": finish(p_faults, faults_out), "hang": finish(p_hang, hang_out)}


@pytest.mark.parametrize(
    ("repeat", "status", "first_line", "last_line"),
    [
        (0, "failed", "worker died with SIGSEGV", "fwbench worker: injecting fault 'crash'"),
        (1, "failed", "worker exit code 1", "RuntimeError: injected failure"),
        (2, "oom", "", "numpy._core._exceptions._ArrayMemoryError: Unable to allocate 8.00 GiB"),
        (3, "diverged", "loss nan at step 3", "loss nan at step 3"),
    ],
    ids=FAULTS,
)
@slow
def test_each_fault_is_recorded_with_its_status_and_reason(
    suites: dict[str, Outcome], repeat: int, status: str, first_line: str, last_line: str
) -> None:
    r = suites["faults"].run("torch-eager", repeat)
    assert r.status == status, (r.status, r.reason)
    lines = r.reason.splitlines()
    assert len(lines) <= spawn.STDERR_TAIL_LINES + 1
    assert lines[0].startswith(first_line), r.reason  # oom: the traceback's last lines
    assert lines[-1].startswith(last_line), r.reason
    assert r.pid is not None and r.wall_s is not None and r.wall_s > 0
    # the report shows the failure where it is the cell's state
    only = dataclasses.replace(suites["faults"].suite, results=[r])
    assert f"{status}: {formatting.one_line(r.reason)}" in document.render([only])


@slow
def test_a_diverged_run_keeps_its_steps_and_nan_loss(suites: dict[str, Outcome]) -> None:
    r = suites["faults"].run("torch-eager", 3)
    assert r.steps == 4  # the poisoned step 3 was the last
    assert isinstance(r.final_loss, float) and r.final_loss != r.final_loss  # NaN, stored as "nan", read back


@slow
def test_the_suite_goes_on_after_every_fault(suites: dict[str, Outcome]) -> None:
    o = suites["faults"]
    assert sorted(r.repeat for r in o.suite.results) == list(range(len(FAULTS) + 1))  # each run exactly once
    ok = o.run("torch-eager", len(FAULTS))
    assert ok.status == "ok", ok.reason
    assert ok.steps == 10 and ok.metric is not None
    assert len({r.pid for r in o.suite.results}) == len(o.suite.results)  # every run its own process
    assert o.suite.finished_at is not None
    assert f"{len(FAULTS)} run(s) did not finish" in o.stdout
    progress = " ".join(o.stderr.split())  # rich wraps long lines
    for r in o.suite.results[: len(FAULTS)]:
        assert " ".join(f"#{r.repeat} {r.status}: {r.reason.splitlines()[-1][:40]}".split()) in progress


@slow
def test_a_hang_is_killed_at_the_time_limit_and_the_suite_goes_on(suites: dict[str, Outcome]) -> None:
    o = suites["hang"]
    hung, ok = o.run("torch-eager"), o.run("torchscript")
    assert hung.status == "timeout"
    assert hung.reason.startswith(f"exceeded the time limit of {HANG_LIMIT_S:g} s"), hung.reason
    assert HANG_LIMIT_S <= hung.wall_s < HANG_LIMIT_S + 15
    gone = not psutil.pid_exists(hung.pid) or psutil.Process(hung.pid).status() == psutil.STATUS_ZOMBIE
    assert gone, "the hung worker was not killed"
    assert ok.status == "ok", ok.reason
    cell = f"timeout: {formatting.one_line(hung.reason)}"  # the cell shows the reason's last line
    assert any("| torch-eager " in ln and cell in ln for ln in o.report.splitlines()), o.report[:3000]


def test_classify_failure_names_oom_and_signals() -> None:
    assert spawn.classify_failure(-signal.SIGKILL, "")[0] == "oom"
    assert "OOM killer" in spawn.classify_failure(-signal.SIGKILL, "")[1]
    assert spawn.classify_failure(1, "torch.OutOfMemoryError: CUDA out of memory.")[0] == "oom"
    assert spawn.classify_failure(1, "ResourceExhaustedError: OOM when allocating tensor")[0] == "oom"
    assert spawn.classify_failure(-signal.SIGABRT, "") == ("failed", "worker died with SIGABRT")
    assert spawn.classify_failure(3, "a\n\nb\n") == ("failed", "worker exit code 3\na\nb")


def plan(fault: str, repeats: int = 1) -> SuitePlan:
    return SuitePlan(
        workloads=("mlp-iris",), backends=("torch-eager",), device="cpu", profile="quick", repeats=repeats, seed=0,
        init="native", threads=1, interop_threads=1, deterministic=False, time_limit_s=10,
        fault=parse_faults(fault),
    )  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ["mlp-iris/torch-eager=explode", "mlp-iris/keras=crash", "cnn-digits/torch-eager=hang", "mlp-iris", "x#y=hang"],
)
def test_a_bad_fault_hook_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="WORKLOAD/BACKEND"):
        plan(text)


def test_a_repeat_fault_wins_and_a_resumed_plan_keeps_its_faults() -> None:
    p = plan("mlp-iris/torch-eager=raise, mlp-iris/torch-eager#1=hang", repeats=3)
    assert [p.fault_for("mlp-iris", "torch-eager", r) for r in range(3)] == ["raise", "hang", "raise"]
    assert SuitePlan.from_dict(p.to_dict()) == p


@needs_torch
def test_a_failed_weight_export_fails_that_workload_only_and_order_does_not_change_weights(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("FWBENCH_NO_CACHE", "1")  # the second export must start a worker of its own
    import numpy as np

    plan = SuitePlan(
        workloads=("mlp-iris",), backends=("torch-eager",), device="cpu", profile="quick", repeats=1, seed=0,
        init="shared", threads=1, interop_threads=1, deterministic=False, time_limit_s=300.0,
    )  # fmt: skip
    names = ["dqn-cartpole", "no-such-workload", "mlp-iris"]
    paths, errors = launch.export_inits(plan, names, tmp_path, "a", seeds=[0, 1])
    assert sorted(paths) == [("dqn-cartpole", 0), ("dqn-cartpole", 1), ("mlp-iris", 0), ("mlp-iris", 1)]
    assert sorted(errors) == [("no-such-workload", 0), ("no-such-workload", 1)]
    reason = errors["no-such-workload", 0]
    assert reason.startswith("exporting initial weights of no-such-workload (seed 0) failed: ")
    assert "'no-such-workload'" in reason and "mlp-iris" in reason  # the bad name and the valid ones
    # every workload is seeded on its own: exported alone or after others, the same bits
    alone, _ = launch.export_inits(plan, ["mlp-iris"], tmp_path, "b")
    assert list(alone) == [("mlp-iris", 0)]  # the plan's seeds by default

    def load(path: str) -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    x, y, other = load(paths["mlp-iris", 0]), load(alone["mlp-iris", 0]), load(paths["mlp-iris", 1])
    assert sorted(x) == sorted(y) and x
    for k in x:
        np.testing.assert_array_equal(x[k], y[k])
    assert any(not np.array_equal(x[k], other[k]) for k in x)  # another seed, other initial weights
