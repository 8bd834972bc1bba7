"""Parity: the twins are the same network. Each side runs in its own process (bench/parity.py).

Per workload, from its `ParityCase` in bench/workloads.py: equal parameter counts (the hand-computed
count); forward outputs from the same weights equal within the case's tolerance; one SGD step from the
same weights on the same batch gives the same loss and the same updated weights. A mutated twin (another
activation) must fail the same checks: the test bites.

The Keras twin is checked on each Keras 3 backend (TensorFlow, JAX, PyTorch: keras, keras-jax,
keras-torch), each in its own process, against the one torch side. A twin whose training step is written
in TensorFlow is unsupported on JAX and PyTorch, and must say so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import parity
from bench.workloads import WORKLOADS

KERAS_SIDES = ("keras", "keras-jax", "keras-torch")
ROOT = Path(__file__).resolve().parent.parent


def tf_written_step(workload: str) -> bool:
    """Whether the keras twin brings its own training step (TensorFlow's GradientTape), read from its source."""
    return "\ndef train_step(" in (ROOT / "impls" / "keras" / f"{WORKLOADS[workload].model}.py").read_text()


pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.keras]


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_twins_are_the_same_network(workload: str, tmp_path: Path) -> None:
    case = WORKLOADS[workload].parity
    assert case is not None, f"workload {workload} has no ParityCase"
    sides = parity.prove(workload, tmp_path, keras_backends=KERAS_SIDES)
    for backend, r in sides.items():
        if backend != "keras" and tf_written_step(workload):
            assert "written in TensorFlow" in r.get("unsupported", ""), (backend, r)
            continue
        assert "unsupported" not in r, (backend, r)
        assert r["num_params"] == (case.params, case.params), (backend, r["num_params"])
        assert r["outputs_shape"][0] == r["outputs_shape"][1], backend
        assert r["outputs_max_abs"] < case.outputs_tol, (backend, r)
        assert r["loss_abs"] < case.loss_tol, (backend, r)
        worst = max(r["weights_max_abs"].items(), key=lambda kv: kv[1])
        assert worst[1] < case.weights_tol, f"{backend}: updated weight {worst[0]} differs by {worst[1]:.3g}"


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_parity_check_bites_on_a_mutated_twin(workload: str, tmp_path: Path) -> None:
    """Same weights, keras side built with the case's mutant (another activation, or its `mutant_kwargs`, e.g.
    a BatchNorm momentum in torch's convention): the outputs or the updated weights must differ beyond
    tolerance."""
    case = WORKLOADS[workload].parity
    assert case is not None
    r = parity.prove(workload, tmp_path, keras_overrides=case.mutant())["keras"]
    worst_weight = max(r["weights_max_abs"].values())
    assert r["outputs_max_abs"] > 1e-3 or worst_weight > 100 * case.weights_tol, r


BASE_SCALE = [w for w, spec in WORKLOADS.items() if spec.scale == "base"]


@pytest.mark.parametrize("workload", BASE_SCALE)
def test_bf16_forward_matches_within_the_stated_tolerance(workload: str, tmp_path: Path) -> None:
    """Both twins in bf16 (torch.autocast / Keras' mixed_bfloat16) from the same float32 weights: the outputs
    are bfloat16 numbers on both sides (so bf16 really ran) and agree within ParityCase.bf16_outputs_tol of
    the largest output. bf16 keeps 8 bits of mantissa and the frameworks round at different ops, so the
    tolerance is relative and loose; the fp32 tests above are the tight proof of the same network."""
    case = WORKLOADS[workload].parity
    assert case is not None
    r = parity.prove(workload, tmp_path, precision="bf16")["keras"]
    assert r["outputs_in_bf16"] == (True, True), r
    assert r["outputs_max_abs"] <= case.bf16_outputs_tol * max(1.0, r["outputs_scale"]), r
