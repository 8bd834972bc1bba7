"""The plan before it is spent: estimates from earlier runs on this machine, --budget, backend groups."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import pytest

from bench import cli
from bench.analysis.cells import MIN_RUNS_FOR_RUN_LEVEL_CI
from bench.core import backends
from bench.core.errors import UsageError
from bench.core.spec import PROFILES
from bench.launching import launch
from bench.planning import estimate, selection
from bench.records import results

from .conftest import prose

FIXTURE = Path(__file__).parent / "data" / "suite-mlp-iris.json"


def test_a_run_is_estimated_from_the_same_run_on_this_machine_else_the_stated_default() -> None:
    suite = results.load(FIXTURE)
    cpu = suite.environment["cpu_model"]
    past = estimate.history([suite], cpu)
    plan = dataclasses.replace(suite.plan, seeds=2, workloads=("mlp-iris", "cnn-digits"))
    est = estimate.estimate(plan, plan.runs(), past)
    by_backend = {r.backend: r.wall_s for r in suite.results}
    for key, s in est.per_run_s.items():  # every seed of a run seen here: that run's time; a new workload: default
        assert s == (by_backend[key.backend] if key.workload == "mlp-iris" else estimate.DEFAULT_RUN_S), key
    assert est.measured == 2 * len(plan.backends)
    assert est.total_s == pytest.approx(estimate.FIXED_S + sum(est.per_run_s.values()))
    assert f"from earlier runs on this machine for {est.measured} of {len(est.per_run_s)}" in est.describe()
    # another machine's files, or another training budget, say nothing about this one
    assert estimate.history([suite], "another CPU") == {}
    other = dataclasses.replace(plan, epochs_override=3)
    assert estimate.estimate(other, other.runs(), past).measured == 0
    # several earlier runs of one key: their median
    twice = dataclasses.replace(
        suite, results=[*suite.results, dataclasses.replace(suite.results[0], wall_s=100.0, seed=1)]
    )
    key = suite.results[0].key(suite.plan.seed)
    again = estimate.estimate(suite.plan, [key], estimate.history([twice], cpu))
    assert again.per_run_s[key] == statistics.median([suite.results[0].wall_s, 100.0])


def fake_history(plan, seconds_by_workload_backend):
    return {
        estimate.history_key(plan, k): [seconds_by_workload_backend[k.workload, k.backend]]
        for k in plan.runs()
        if (k.workload, k.backend) in seconds_by_workload_backend
    }


def test_the_budget_cuts_the_documented_path_beside_a_tuned_one_then_the_costliest_workload() -> None:
    base = results.load(FIXTURE).plan
    plan = dataclasses.replace(
        base,
        workloads=("mlp-iris", "cnn-digits", "transformer-text"),
        backends=("torch-eager", "keras-fit", "keras"),
        seeds=3,
    )
    cost = {"mlp-iris": 5.0, "cnn-digits": 10.0, "transformer-text": 30.0}
    past = fake_history(plan, {(w, b): s for w, s in cost.items() for b in plan.backends})
    full = estimate.estimate(plan, plan.runs(), past).total_s
    assert full == estimate.FIXED_S + 3 * 3 * 45.0

    same, left_out, _ = estimate.fit_to_budget(plan, past, full)
    assert same == plan and left_out == []

    fitted, left_out, est = estimate.fit_to_budget(plan, past, full - 1)  # one backend less is enough
    assert fitted.backends == ("torch-eager", "keras") and left_out == ["backend keras-fit"]
    assert est.total_s <= full - 1

    small, left_out, est = estimate.fit_to_budget(plan, past, estimate.FIXED_S + 2 * 3 * 15.0)
    assert left_out == ["backend keras-fit", "workload transformer-text (about 3.0 min)"]
    assert small.workloads == ("mlp-iris", "cnn-digits") and small.seeds == plan.seeds  # seeds are never cut

    floor, left_out, est = estimate.fit_to_budget(plan, past, 1.0)  # as small as it goes, still over
    assert floor.backends == ("torch-eager", "keras") and floor.workloads == ("mlp-iris",)
    assert est.total_s > 1.0 and floor.seeds == 3


def test_run_prints_the_plan_and_records_what_the_budget_left_out(tmp_path, monkeypatch, capsys) -> None:
    seen = {}

    def stop_before_running(plan, *args, **kwargs):
        seen["plan"] = plan
        raise KeyboardInterrupt

    monkeypatch.setattr(launch, "run_suite", stop_before_running)
    code = cli.main(
        ["run", "--workloads", "mlp-iris", "cnn-digits", "--threads", "1", "--budget", "0.5", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 130
    plan = seen["plan"]
    assert plan.budget_s == 30.0 and plan.backends == ("torch-eager", "keras")  # keras-fit went first
    assert plan.left_out[0] == "backend keras-fit" and plan.left_out[1].startswith("workload ")
    assert "fwbench: --budget 0.5 min: left out backend keras-fit; workload " in err
    n = len(plan.runs())
    assert f"fwbench: plan: {n} runs (1 workload x 2 backends x 3 seeds), about " in err
    assert f"{estimate.DEFAULT_RUN_S:g} s a run: none was run here before" in err


def test_the_default_run_is_the_default_group_with_the_runs_a_verdict_needs(monkeypatch) -> None:
    assert PROFILES["quick"].seeds == MIN_RUNS_FOR_RUN_LEVEL_CI  # the default run can give a verdict
    installed = [b for b in backends.group("default", "cpu") if backends.get(b).installed()]
    assert selection.chosen_backends(None, "cpu") == tuple(installed)
    for device in ("cpu", "cuda"):
        default = backends.group("default", device)
        frameworks = {backends.get(b).framework for b in default}
        tiers = {(backends.get(b).framework, backends.get(b).tier) for b in default}
        assert frameworks == {"torch", "tensorflow"}  # both sides of the headline
        assert ("torch", "default") in tiers and ("tensorflow", "default") in tiers  # each documented path
    assert backends.group("keras3", "cpu") == tuple(b for b in backends.BACKENDS if backends.get(b).keras_backend)
    assert "torch-compile-step-autotune" not in backends.group("all", "cpu")  # CUDA only
    # a group brings only what is installed, and says what it left out
    monkeypatch.setattr(backends.BackendInfo, "installed", lambda self: self.name != "keras-jax")
    assert "keras-jax" not in selection.chosen_backends(["keras3", "torch-eager"], "cpu")
    assert selection.chosen_backends(["keras3,torch-eager", "keras"], "cpu")[-1] == "torch-eager"  # order, no repeats


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["defualt"], "unknown backend 'defualt'; valid: torch-eager"),
        (["defualt"], "or a group: default, all, pytorch, tensorflow, keras3"),
        ([","], "no backend named"),
    ],
)
def test_an_unknown_backend_or_group_names_the_valid_ones(given, expected) -> None:
    with pytest.raises(UsageError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        selection.chosen_backends(given, "cpu")


def test_the_report_says_what_the_budget_left_out() -> None:
    from bench.report import document

    suite = results.load(FIXTURE)
    fitted = dataclasses.replace(
        suite, plan=dataclasses.replace(suite.plan, budget_s=300.0, left_out=("backend keras-fit", "workload x"))
    )
    note = f"Note: `{suite.run_id}` was fitted to `--budget 5` minutes, leaving out backend keras-fit; workload x."
    assert note in prose(document.render([fitted]))
    assert "fitted to `--budget" not in document.render([suite])
