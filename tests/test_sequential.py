"""The adaptive runs' stopping rule (bench/core/sequential.py), simulated whole: a first round of 3 runs a side, one
more run a side after each look up to the cap, the answer re-taken at every look at the tuned constant level; and
the same procedure at the fixed-sample level (naive re-testing), which these tests show exceeds 5%. Plus the
launcher path for real (slow): `fwbench run ... --max-runs 4` adds runs only to open comparisons and records why
each stopped. docs/METHODOLOGY.md ("Adaptive runs") has the rates and the expected runs computed here."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.analysis import verdicts
from bench.core import sequential as sq
from bench.launching import adaptive
from bench.records import results

FIXTURE = Path(__file__).parent / "data" / "suite-mlp-iris.json"  # one run per backend, mlp-iris
QUIET = {"contended": False, "reason": "", "others_cores": 0.0, "steal_cores": 0.0}

REPS = 20_000
BOUND = 0.05  # at most 5%
MC = 0.004  # about 2.5 standard errors of a 4.5% rate over REPS replicates


def worst(ratio: float, level: float, outcomes: tuple[str, ...], cap: int = 8, seed: int = 7) -> float:
    """The largest rate of any of `outcomes` over the noise cases at a true ratio a / b."""
    rates = (sq.rates(ratio, case, cap, level, REPS, seed + i) for i, case in enumerate(sq.NOISE_CASES))
    return max(sum(r[o] for o in outcomes) for r in rates)


@pytest.mark.parametrize("cap", [5, 8])
def test_the_tuned_level_holds_false_sides_and_false_sames_at_5_percent_over_every_look(cap: int) -> None:
    level = sq.alpha(cap)
    false_side = worst(1.0, level, ("faster-a", "faster-b"), cap)  # either side, between equal sides
    false_same = worst(sq.SAME_TRUE_RATIO, level, ("same",), cap)  # the noise cases hold both orders of the SDs
    assert false_side <= BOUND + MC, false_side
    assert false_same <= BOUND, false_same


def test_naive_re_testing_at_the_fixed_level_calls_false_sides_more_than_5_percent_of_the_time() -> None:
    naive = max(
        sq.rates(1.0, case, 8, sq.NOMINAL_ALPHA, REPS, 11)["faster-a"]
        + sq.rates(1.0, case, 8, sq.NOMINAL_ALPHA, REPS, 11)["faster-b"]
        for case in sq.NOISE_CASES[:3]
    )
    assert naive > 0.08, naive  # 9-13% by 8 runs a side (docs/METHODOLOGY.md)


def selection_procedure(
    ratio: float, sd: float, cap: int, level: float, reps: int, seed: int, carry: float = 0.0, shuffled: bool = True
) -> np.ndarray:
    """The default run's whole procedure, simulated: a first round of MIN_LOOK blocks of four backends (cells 0, 1
    PyTorch at true log 0; cells 2, 3 TensorFlow at true log(ratio)), each block in a seeded shuffled order (or the
    old fixed order 0 1 2 3); at every look each framework's fastest backend (lowest mean log) is picked and
    compared at `level`; while open and under the cap, one more block of those two runs, in a shuffled order (or
    PyTorch first). `carry`: a carry-over, every run after the first in its block that much slower (log).
    Returns each replicate's answer code: 0 open, 1 a faster (PyTorch), 2 b faster (TensorFlow), 3 the same."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, sd, (reps, 4, cap)) + np.array([0, 0, 1, 1])[None, :, None] * math.log(ratio)
    order = (
        np.argsort(rng.random((reps, sq.MIN_LOOK, 4)), -1)
        if shuffled
        else np.tile(np.arange(4), (reps, sq.MIN_LOOK, 1))
    )
    position = np.argsort(order, -1)  # each cell's place in its block
    x[:, :, : sq.MIN_LOOK] += carry * (position.transpose(0, 2, 1) > 0)
    counts = np.full((reps, 4), sq.MIN_LOOK)
    answer = np.zeros(reps, dtype=int)
    live = np.ones(reps, dtype=bool)
    rows = np.arange(reps)
    while live.any():
        mask = np.arange(cap)[None, None, :] < counts[..., None]
        mean = (x * mask).sum(-1) / counts
        var = (((x - mean[..., None]) ** 2) * mask).sum(-1) / (counts - 1) / counts
        pt, tf = mean[:, :2].argmin(1), 2 + mean[:, 2:].argmin(1)
        d = mean[rows, tf] - mean[rows, pt]
        v1, v2 = var[rows, tf], var[rows, pt]
        n1, n2 = counts[rows, tf], counts[rows, pt]
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
        side = sq.side_p(d, se, df) < level
        same = sq.same_p(d, se, df, sq.TUNING_MARGIN) < level
        code = np.where(side, np.where(d < 0, 1, 2), np.where(same, 3, 0))
        answer = np.where(live, code, answer)
        at_cap = (
            np.maximum(n1, n2) >= cap
        )  # a backend picked again after the other framework's switch: no run past the cap
        live &= (code == 0) & ~at_cap
        r = rows[live]
        tf_second = rng.random(r.size) < 0.5 if shuffled else np.ones(r.size, dtype=bool)
        x[r, tf[live], counts[r, tf[live]]] += carry * tf_second
        x[r, pt[live], counts[r, pt[live]]] += carry * ~tf_second
        counts[r, tf[live]] += 1
        counts[r, pt[live]] += 1
    return answer


def test_picking_each_frameworks_fastest_of_two_backends_keeps_false_sides_at_5_percent() -> None:
    for sd in (0.05, 0.13):
        answer = selection_procedure(1.0, sd, 8, sq.alpha(8), REPS, 5)
        assert np.mean((answer == 1) | (answer == 2)) <= BOUND + MC
        answer = selection_procedure(sq.SAME_TRUE_RATIO, sd, 8, sq.alpha(8), REPS, 6)
        assert np.mean(answer == 3) <= BOUND


@pytest.mark.parametrize("cap", [5, 8])
def test_the_whole_procedure_with_a_carry_over_holds_false_sides_at_5_percent_at_every_cap(cap: int) -> None:
    # The shuffled order, the selection of each framework's fastest of two backends, the added runs and the
    # stopping rule together, with the second run of a block 5% slower: identical frameworks get a side at most 5%
    # of the time, at every cap (1.8-2.4%); the old fixed order (TensorFlow always after PyTorch: 9.0% at cap 5,
    # 16.1% at 8) or naive re-testing at 5% after every added run (8.6% by 8 runs a side) would not hold it.
    carry = math.log(1.05)
    for sd in (0.05, 0.13):
        shuffled = selection_procedure(1.0, sd, cap, sq.alpha(cap), REPS, 21, carry)
        assert np.mean((shuffled == 1) | (shuffled == 2)) <= BOUND + MC, (sd, cap)
    fixed = selection_procedure(1.0, 0.05, cap, sq.alpha(cap), REPS, 22, carry, shuffled=False)
    naive = selection_procedure(1.0, 0.13, 8, sq.NOMINAL_ALPHA, REPS, 23, carry)  # 8.6% by 8 runs a side
    assert np.mean((fixed == 1) | (fixed == 2)) > BOUND + MC
    assert np.mean((naive == 1) | (naive == 2)) > BOUND + MC


def expected_runs(difference: float, sd: float = 0.05, cap: int = 8) -> dict[str, float]:
    """The procedure's outcome at a true difference (TF / PT = 1 + difference), both sides' noise `sd`."""
    return sq.rates(1 + difference, ("normal", sd, sd), cap, sq.alpha(cap), REPS, 3)


def test_expected_runs_and_power() -> None:
    big = expected_runs(0.30)
    assert big["faster-b"] > 0.95 and big["runs"] < 4  # a 30% difference is found at once
    none = expected_runs(0.0)
    assert none["faster-a"] + none["faster-b"] <= BOUND + MC


def test_levels_are_stricter_with_more_looks_and_the_decision_uses_them() -> None:
    levels = [sq.alpha(c) for c in sorted(sq.ALPHA_AT_CAP)]
    assert levels == sorted(levels, reverse=True) and levels[0] == sq.NOMINAL_ALPHA
    assert sq.alpha(7) == sq.ALPHA_AT_CAP[8]  # between two tuned caps: the stricter one
    with pytest.raises(ValueError):
        sq.alpha(sq.MAX_RUNS_LIMIT + 1)
    a, b = [1.0, 1.02, 0.98], [1.0, 1.01, 0.99]
    assert sq.decide(a, b, 0.10, 0)[0] == sq.SAME  # the 90% interval within 10%
    assert sq.decide([1.0, 1.1], b, 0.10, 8) is None  # two runs: no look
    fixed = sq.decide([1.0, 1.05, 1.1], [1.12, 1.2, 1.25], 0.10, 0)
    sequential = sq.decide([1.0, 1.05, 1.1], [1.12, 1.2, 1.25], 0.10, 8)
    assert fixed[0] == sq.FASTER_A and sequential[0] == sq.UNKNOWN  # stricter: not yet a side


def suite_of(torch_ms: list[float], keras_ms: list[float], **plan: object) -> results.Suite:
    """The fixture with torch-eager and keras runs of these per-run medians (seeds 0, 1, 2 in turn), quiet."""
    base = results.load(FIXTURE)
    assert base.plan is not None
    one = {r.backend: r for r in base.results}
    rs = [
        dataclasses.replace(one[b], seed=i % 3, repeat=i // 3, median_step_ms=ms, cpu=QUIET, wall_s=5.0)
        for b, series in (("torch-eager", torch_ms), ("keras", keras_ms))
        for i, ms in enumerate(series)
    ]
    full = dataclasses.replace(base.plan, backends=("torch-eager", "keras"), seeds=3, max_runs=4, **plan)  # type: ignore[arg-type]
    return dataclasses.replace(base, plan=full, results=rs)


def test_only_open_comparisons_get_runs_and_each_says_why_it_stopped() -> None:
    decided = suite_of([1.0, 1.01, 0.99], [2.0, 2.02, 1.98])
    (record,), open_ = adaptive.stop_records(decided, 0.10, 4, budget_left=True)
    assert record["stopped"] == "decided" and record["answer"] == sq.FASTER_B and not open_

    undecided = suite_of([1.0, 1.3, 0.8], [1.1, 0.9, 1.4])
    (record,), open_ = adaptive.stop_records(undecided, 0.10, 4, budget_left=True)
    assert record["stopped"] == "open" and record["runs"] == [3, 3]
    assert undecided.plan is not None
    keys = adaptive.next_round(undecided.plan, undecided, open_, 1)
    assert sorted((k.backend, k.seed, k.repeat) for k in keys) == [("keras", 0, 1), ("torch-eager", 0, 1)]
    assert adaptive.stop_records(undecided, 0.10, 4, budget_left=False)[0][0]["stopped"] == "budget"

    at_cap = suite_of([1.0, 1.3, 0.8, 1.2], [1.1, 0.9, 1.4, 1.0])
    assert adaptive.stop_records(at_cap, 0.10, 4, budget_left=True)[0][0]["stopped"] == "cap"

    broke = dataclasses.replace(
        undecided,
        results=[dataclasses.replace(undecided.results[0], cpu={**QUIET, "contended": None}), *undecided.results[1:]],
    )
    assert adaptive.stop_records(broke, 0.10, 4, budget_left=True)[0][0]["stopped"] == "no verdict"

    spent = suite_of([1.0, 1.3, 0.8], [1.1, 0.9, 1.4], budget_s=40.0)  # 6 runs of 5 s and 15 s of the suite's own
    assert spent.plan is not None
    assert adaptive.next_round(spent.plan, spent, open_, 1) == []


def test_the_launchers_adaptive_phase_adds_rounds_until_the_cap_and_saves_each_run(tmp_path, monkeypatch) -> None:
    from bench.launching import launch

    suite = suite_of([1.0, 1.3, 0.8], [1.1, 0.9, 1.4], init="native")
    assert suite.plan is not None
    path = results.create(tmp_path, suite)
    noisy = iter([1.25, 0.85, 0.8, 1.3] * 4)

    def fake_run(plan, run_id, key, init_path):  # a worker's quiet result, still undecided
        template = next(r for r in suite.results if r.backend == key.backend)
        return dataclasses.replace(template, seed=key.seed, repeat=key.repeat, median_step_ms=next(noisy))

    monkeypatch.setattr(launch, "run_one", fake_run)
    done = launch.add_runs(suite.plan, suite, path, tmp_path, 0.10)
    (record,) = done.adaptive
    assert record["stopped"] == "cap" and record["runs"] == [4, 4]
    assert sorted((r.backend, r.seed, r.repeat) for r in done.results if r.repeat) == [
        ("keras", 0, 1),
        ("torch-eager", 0, 1),
    ]
    assert results.load(path).adaptive == done.adaptive  # saved


def test_the_report_judges_a_run_with_a_cap_at_the_sequential_level() -> None:
    a, b = [1.0, 1.05, 1.1], [1.12, 1.2, 1.25]
    fixed = verdicts.judged(a, b, True, True, "", 0.10)
    capped = verdicts.judged(a, b, True, True, "", 0.10, cap=8)
    assert fixed is not None and capped is not None
    assert fixed.answer == verdicts.FASTER_A and capped.answer == verdicts.UNKNOWN
    assert capped.low < fixed.low and capped.high > fixed.high  # the interval shown is the one judged


@pytest.mark.slow
def test_the_launcher_adds_runs_only_to_open_comparisons_and_records_why_each_stopped(tmp_path, monkeypatch) -> None:
    from bench import cli

    monkeypatch.setenv("FWBENCH_REDO_CONTENDED", "0")
    argv = ["run", "--workloads", "mlp-iris", "--backends", "torch-eager", "keras", "--seeds", "3", "--steps", "2000",
            "--max-runs", "4", "--threads", "1", "--out", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == 0
    doc = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert doc["plan"]["max_runs"] == 4
    (stop,) = doc["adaptive"]
    assert stop["stopped"] in ("decided", "cap", "budget", "no verdict")
    runs = {b: sum(r["backend"] == b for r in doc["results"]) for b in ("torch-eager", "keras")}
    assert list(runs.values()) == stop["runs"]
    if stop["stopped"] == "cap":
        assert runs == {"torch-eager": 4, "keras": 4}
    if stop["stopped"] == "decided":
        assert stop["answer"] in ("faster-a", "faster-b", "same")
    added = [r for r in doc["results"] if r["repeat"] > 0]
    assert len(added) == 2 * (stop["runs"][0] - 3)  # one a side per round, new repeat indices
    report = (tmp_path / "REPORT.md").read_text()
    assert f"{stop['runs'][0]} runs a side ({stop['stopped']}" in report and "--max-runs 4" in report
