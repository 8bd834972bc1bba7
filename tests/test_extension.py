"""The extension cost the docs claim, measured by doing it.

- A backend is one adapter plus one registry entry: a fake backend registered in
  bench.backends.BACKENDS alone (reusing the eager adapter and bare loop) shows up in `fwbench list`,
  the report (its tables and its seed-table label), the plots (its colour) and the overhead plan,
  without another file knowing its name.
- A workload on an existing model is one registry entry, and a backend variant one subclass
  (tests/variant_backend.py) plus one entry: both are added in a worker-like process here, trained
  for real in both frameworks, and rendered (test_a_tiny_workload_and_a_backend_variant_run_end_to_end).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import backends, cli, plots, report, results, workloads
from bench.spec import ParityCase

from .conftest import REPO

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "suite-mlp-iris.json"

FAKE = backends.BackendInfo(
    name="torch-fake",
    framework="torch",
    module="impls.torch.backend",
    cls="TorchEager",
    description="a fake variant for the extension test",
    label="Fake eager (test)",
    color="#00ff00",
    packages=(),
    bare="impls.torch.bare",
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> backends.BackendInfo:
    monkeypatch.setitem(backends.BACKENDS, FAKE.name, FAKE)
    return FAKE


def test_a_registered_backend_is_listed(fake, capsys) -> None:
    assert cli.main(["list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("torch-fake"))
    assert "a fake variant for the extension test" in line and "installed" in line


def test_a_registered_backend_is_in_the_report_and_the_plots(fake, tmp_path: Path) -> None:
    suite = results.load(FIXTURE)
    eager = next(r for r in suite.results if r.backend == "torch-eager")
    suite = dataclasses.replace(suite, results=[*suite.results, dataclasses.replace(eager, backend="torch-fake")])
    text = report.write([suite], tmp_path).read_text()
    section = text.split("### mlp-iris\n", 1)[1]
    row = next(ln for ln in section.splitlines() if ln.startswith("| torch-fake "))
    assert "| PyTorch " in row and "| 1.00 " in row  # the same runs as eager: ratio 1
    assert "Fake eager (test)" in text.split("**Execution mode**", 1)[1].split("**Model building**", 1)[0]
    assert plots.color("torch-fake") == "#00ff00"
    assert (tmp_path / "plots" / "step_time.png").exists()


def test_a_registered_backend_is_in_the_overhead_plan(fake) -> None:
    a = argparse.Namespace(
        backends=None, device="cpu", repeats=1, threads=1, time_limit=None, workloads=None, blocks=1, out="x"
    )
    plan = cli.overhead_plan(a, ("mlp-iris",))
    assert "torch-fake" in plan.backends
    assert fake.bare == "impls.torch.bare"  # the worker takes make_loop from there (BackendInfo.bare_loop)


def test_a_backend_without_a_bare_loop_is_refused_by_overhead_by_name(monkeypatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "nobare", dataclasses.replace(FAKE, name="nobare", bare=None))
    a = argparse.Namespace(
        backends=["nobare"], device="cpu", repeats=1, threads=1, time_limit=None, workloads=None, blocks=1, out="x"
    )
    with pytest.raises(cli.UsageError, match="no bare loop to compare with for nobare; valid: torch-eager"):
        cli.overhead_plan(a, ("mlp-iris",))


TINY = dataclasses.replace(
    workloads.get("mlp-iris"),
    name="mlp-tiny",
    model_kwargs={"in_features": 4, "hidden": 4, "num_classes": 3, "activation": "relu"},
    epochs=5,
    quick_epochs=5,
    description="4 -> 4 ReLU -> 3: the extension test's workload",
    parity=ParityCase(35),  # (4*4 + 4) + (4*3 + 3)
)
VARIANT = dataclasses.replace(
    FAKE, name="torch-variant", module="tests.variant_backend", cls="TorchEagerVariant", label="Variant (test)"
)
ADD_AND_TRAIN = textwrap.dedent(
    """
    import json, sys
    from bench import backends, worker, workloads
    from bench.spec import RunConfig
    from tests.test_extension import TINY, VARIANT
    workloads.WORKLOADS[TINY.name] = TINY  # the workload: one entry
    backends.BACKENDS[VARIANT.name] = VARIANT  # the variant: its class and one entry
    cfg = RunConfig(run_id="ext", workload=TINY.name, backend=sys.argv[1], device="cpu", profile="quick",
                    repeat=0, seed=0, init="native", init_path=None, threads=1, interop_threads=1,
                    deterministic=False)
    print(json.dumps(worker.train(cfg).to_dict()))
    """
)


@pytest.mark.slow
def test_a_tiny_workload_and_a_backend_variant_run_end_to_end(monkeypatch, tmp_path: Path) -> None:
    from tests.test_completeness import missing

    monkeypatch.setitem(workloads.WORKLOADS, TINY.name, TINY)
    monkeypatch.setitem(backends.BACKENDS, VARIANT.name, VARIANT)
    assert missing(TINY.name) == []  # twins, FLOPs, parity case, dataset: all found from the registry
    runs = []
    for backend in ("torch-variant", "keras"):  # one process per framework
        p = subprocess.run(
            [sys.executable, "-c", ADD_AND_TRAIN, backend], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        assert p.returncode == 0, p.stderr[-3000:]
        runs.append(results.Result.from_dict(json.loads(p.stdout.strip().splitlines()[-1])))
    assert [(r.backend, r.status, r.num_params, r.steps) for r in runs] == [
        ("torch-variant", "ok", 35, 5),
        ("keras", "ok", 35, 5),
    ]
    assert all(r.flops_per_step and r.metric is not None for r in runs)
    suite = dataclasses.replace(results.load(FIXTURE), results=runs)
    text = report.write([suite], tmp_path).read_text()
    section = text.split("### mlp-tiny\n", 1)[1]
    assert any(ln.startswith("| torch-variant ") for ln in section.splitlines())
    assert "Variant (test)" in text
