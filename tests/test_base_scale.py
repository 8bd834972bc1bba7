"""The base-scale and precision axes end to end (issue 13): `fwbench run --scale base --steps N` trains
ResNet-18 in both frameworks on a step budget and records step time, peak memory and the share of the
measured matmul peak; `--precision` runs bf16 where both frameworks can and records tf32 and fp16 as
unsupported on a CPU, with the reason; the report shows both."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.records import results

from .conftest import fwbench, prose

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.keras]

STEPS = 7  # the first step, the quick profile's 5 warm-up steps, and one steady-state step at least


def only_suite(out: Path) -> results.Suite:
    (path,) = sorted((out / "runs").glob("*.json"))
    return results.load(path)


def test_resnet18_trains_on_a_step_budget_in_both_frameworks(tmp_path: Path) -> None:
    p = fwbench(
        "run", "--scale", "base", "--workloads", "resnet18-cifar10", "--steps", str(STEPS),
        "--backends", "torch-eager", "keras", "--threads", "1", "--seeds", "1", "--out", str(tmp_path), timeout=1500,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    suite = only_suite(tmp_path)
    assert sorted((r.backend, r.status) for r in suite.results) == [("keras", "ok"), ("torch-eager", "ok")]
    for r in suite.results:
        assert r.steps == STEPS and r.eval_history == [] and r.metric is None  # speed and memory only
        assert r.num_params == 11173962
        assert r.median_step_ms and r.median_step_ms > 0
        assert r.memory.peak_mib and r.memory.model_share_rss_mib and r.memory.model_share_rss_mib > 50
        assert r.peak_fraction is not None and 0 < r.peak_fraction < 1.5
        assert r.energy.joules is None and "cpu" in r.energy.note
    text = prose((tmp_path / "REPORT.md").read_text())
    assert "a budget of 7 steps (--steps)" in text and "speed only (--steps 7)" in text


def test_precisions_run_or_say_why_not(tmp_path: Path) -> None:
    p = fwbench(
        "run", "--workloads", "mlp-iris", "--steps", "20", "--precision", "fp32", "bf16", "tf32", "fp16",
        "--backends", "torch-eager", "keras", "--threads", "1", "--seeds", "1", "--out", str(tmp_path), timeout=900,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    by = {(r.backend, r.precision): r for r in only_suite(tmp_path).results}
    assert len(by) == 8
    for backend in ("torch-eager", "keras"):
        fp32, bf16 = by[backend, "fp32"], by[backend, "bf16"]
        assert fp32.status == bf16.status == "ok"
        assert fp32.settings["precision"] == "fp32" and bf16.settings["precision"] == "bf16"
        assert fp32.final_loss != bf16.final_loss  # bf16 really computed in bf16
        assert by[backend, "tf32"].status == "unsupported" and "TF32" in by[backend, "tf32"].reason
        assert by[backend, "fp16"].status == "unsupported" and "float16" in by[backend, "fp16"].reason
    assert by["torch-eager", "bf16"].settings["autocast_dtype"] == "bfloat16"
    assert by["keras", "bf16"].settings["dtype_policy"] == "mixed_bfloat16"
    text = prose((tmp_path / "REPORT.md").read_text())
    section = text.split("### Precision: each backend against its own fp32", 1)[1].split("\n## ", 1)[0]
    assert "| mlp-iris   | torch-eager | bf16 " in section and "| mlp-iris   | keras       | bf16 " in section
    assert "tf32 unsupported for mlp-iris/torch-eager, mlp-iris/keras (2 cells)" in section
