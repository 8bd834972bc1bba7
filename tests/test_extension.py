"""The extension cost the docs claim: a backend is one adapter plus one registry entry.

A fake backend registered in bench.backends.BACKENDS alone (here reusing the eager adapter and bare
loop) shows up in `fwbench list`, the report (its tables and its seed-table label), the plots
(its colour) and the overhead plan, without another file knowing its name."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from bench import backends, cli, plots, report, results

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
