"""Parity: the twins are the same network. Each framework runs in its own process (bench/measure/parity.py).

Per workload, from its `ParityCase` in bench/core/workloads.py: equal parameter counts (the hand-computed
count); forward outputs from the same weights equal within the case's tolerance; one SGD step from the
same weights on the same batch gives the same loss and the same updated weights. A mutated twin (another
activation) must fail the same checks: the test bites.

The Keras twin is checked on each Keras 3 backend (TensorFlow, JAX, PyTorch: keras, keras-jax,
keras-torch) against the one torch side. A twin whose training step is written in TensorFlow is
unsupported on JAX and PyTorch, and must say so.

All checks of the selected tests run in one process per backend (`parity.prove_all`, a module fixture):
native torch first (it writes every initial weight file), then the three Keras backends, two at a time.
Each case builds its twin afresh with the same seeded settings, so sharing a process changes no number;
each test then asserts on its own case. Keras on JAX needs the `jax` extra: without it, its cases skip
and name the install that enables them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.core import backends
from bench.core.workloads import WORKLOADS
from bench.measure import parity

from .conftest import install_hint

KERAS_SIDES = ("keras", "keras-jax", "keras-torch")
ROOT = Path(__file__).resolve().parent.parent
BASE_SCALE = [w for w, spec in WORKLOADS.items() if spec.scale == "base"]

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.keras]


def tf_written_step(workload: str) -> bool:
    """Whether the keras twin brings its own training step (TensorFlow's GradientTape), read from its source."""
    return "\ndef train_step(" in (ROOT / "impls" / "keras" / f"{WORKLOADS[workload].model}.py").read_text()


def skip_unless_installed(backend: str) -> None:
    hint = install_hint(backend)
    if hint:
        pytest.skip(hint)


def skip_unless_packages(workload: str) -> None:
    """A workload whose twins need packages beyond the frameworks (Workload.packages: the decoder's transformers
    and keras-hub) skips without them, naming the extra that installs them (.ci/run installs it)."""
    wl = WORKLOADS[workload]
    if wl.missing_packages():
        pytest.skip(f"{workload} needs {', '.join(wl.missing_packages())}: pip install -e '.[{wl.extra}]'")


def checks_of(item: pytest.Item) -> list[parity.Check]:
    """The parity checks a collected test of this module reads from the `proofs` fixture."""
    name = item.originalname  # type: ignore[attr-defined]
    if name == "test_one_process_per_backend_gives_the_numbers_of_one_process_per_case":
        return list(BATCHED)
    params = getattr(item, "callspec", None)
    p = params.params if params is not None else {}
    if name == "test_twins_are_the_same_network":
        return [parity.Check(p["workload"], p["backend"])]
    if name == "test_parity_check_bites_on_a_mutated_twin":
        return [parity.Check(p["workload"], "keras", "mutant")]
    if name == "test_bf16_forward_matches_within_the_stated_tolerance":
        return [parity.Check(p["workload"], "keras", "bf16")]
    return []


# The order test's batch: mlp-iris after another workload in the same torch and keras processes.
BATCHED = (parity.Check("cnn-digits", "keras"), parity.Check("mlp-iris", "keras"))


@pytest.fixture(scope="module")
def proofs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[parity.Check, Any]:
    """The checks of the tests selected in this module (all of them in a full run; one workload's with
    `-k mlp-iris`), on installed backends, one process per backend, each backend's cases in the order
    (variant, workload)."""
    checks = {
        c
        for item in request.session.items
        if item.module is request.module
        for c in checks_of(item)
        if backends.get(c.backend).installed() and not WORKLOADS[c.workload].missing_packages()
    }
    return parity.prove_all(sorted(checks, key=lambda c: (c.backend, c.variant, c.workload)),
                            tmp_path_factory.mktemp("parity"))  # fmt: skip


def proof(proofs: dict[parity.Check, Any], check: parity.Check) -> dict[str, Any]:
    r = proofs[check]
    assert "error" not in r, f"{check}: {r['error']}"
    return r


@pytest.mark.parametrize("backend", KERAS_SIDES)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_twins_are_the_same_network(workload: str, backend: str, proofs) -> None:
    skip_unless_installed(backend)
    skip_unless_packages(workload)
    case = WORKLOADS[workload].parity
    assert case is not None, f"workload {workload} has no ParityCase"
    r = proof(proofs, parity.Check(workload, backend))
    if backend != "keras" and tf_written_step(workload):
        assert "written in TensorFlow" in r.get("unsupported", ""), r
        return
    assert "unsupported" not in r, r
    assert r["num_params"] == (case.params, case.params), r["num_params"]
    assert r["outputs_shape"][0] == r["outputs_shape"][1]
    assert r["outputs_max_abs"] < case.outputs_tol, r
    assert r["loss_abs"] < case.loss_tol, r
    worst = max(r["weights_max_abs"].items(), key=lambda kv: kv[1])
    assert worst[1] < case.weights_tol, f"{backend}: updated weight {worst[0]} differs by {worst[1]:.3g}"


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_parity_check_bites_on_a_mutated_twin(workload: str, proofs) -> None:
    """Same weights, keras side built with the case's mutant (another activation, or its `mutant_kwargs`, e.g.
    a BatchNorm momentum in torch's convention): the outputs or the updated weights must differ beyond
    tolerance."""
    skip_unless_packages(workload)
    case = WORKLOADS[workload].parity
    assert case is not None
    r = proof(proofs, parity.Check(workload, "keras", "mutant"))
    worst_weight = max(r["weights_max_abs"].values())
    assert r["outputs_max_abs"] > 1e-3 or worst_weight > 100 * case.weights_tol, r


@pytest.mark.parametrize("workload", BASE_SCALE)
def test_bf16_forward_matches_within_the_stated_tolerance(workload: str, proofs) -> None:
    """Both twins in bf16 (torch.autocast / Keras' mixed_bfloat16) from the same float32 weights: the outputs
    are bfloat16 numbers on both sides (so bf16 really ran) and agree within ParityCase.bf16_outputs_tol of
    the largest output. bf16 keeps 8 bits of mantissa and the frameworks round at different ops, so the
    tolerance is relative and loose; the fp32 tests above are the tight proof of the same network."""
    skip_unless_packages(workload)
    case = WORKLOADS[workload].parity
    assert case is not None
    r = proof(proofs, parity.Check(workload, "keras", "bf16"))
    assert r["outputs_in_bf16"] == (True, True), r
    assert r["outputs_max_abs"] <= case.bf16_outputs_tol * max(1.0, r["outputs_scale"]), r


def test_one_process_per_backend_gives_the_numbers_of_one_process_per_case(proofs, tmp_path: Path) -> None:
    """Sharing a process between cases changes no number: mlp-iris, checked in the fixture's torch and keras
    processes after other workloads (cnn-digits at least), gives bit for bit the differences it gives in
    processes of its own."""
    skip_unless_installed("keras")
    alone = parity.prove_all([BATCHED[-1]], tmp_path, parallel=1)[BATCHED[-1]]
    assert proof(proofs, BATCHED[-1]) == alone
