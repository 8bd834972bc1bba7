"""The workloads: framework-neutral specs, every hyperparameter explicit.

Adding a workload = one entry here + impls/torch/<model>.py + impls/keras/<model>.py + a parity
case in tests/test_parity.py (docs/ADDING_A_WORKLOAD.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.errors import UsageError
from bench.spec import OptimizerSpec, Workload

MLP_IRIS = Workload(
    name="mlp-iris",
    model="mlp",
    task="classify",
    dataset="iris",
    batch_size=120,  # full batch: the whole 80% training split
    epochs=100,
    quick_epochs=100,
    optimizer=OptimizerSpec("adam", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.9,
    model_kwargs={"in_features": 4, "hidden": 16, "num_classes": 3, "activation": "relu"},
    description="The seed's Iris network: 4 -> 16 ReLU -> 3 logits, full batch",
    seed_use_case="Iris classification example",
)

WORKLOADS: Mapping[str, Workload] = {w.name: w for w in (MLP_IRIS,)}


def get(name: str) -> Workload:
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
    return WORKLOADS[name]
