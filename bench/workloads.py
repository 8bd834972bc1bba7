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

LSTM_SENTIMENT = Workload(
    name="lstm-sentiment",
    model="lstm",
    task="classify",
    dataset="text",
    batch_size=64,
    epochs=12,
    quick_epochs=2,
    optimizer=OptimizerSpec("adam", lr=0.005, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.9,
    model_kwargs={
        "vocab_size": 1000,  # bench/datasets/text.py VOCAB_SIZE
        "seq_len": 48,  # bench/datasets/text.py SEQ_LEN, pre-padded, no masking
        "embed_dim": 32,
        "hidden": 64,
        "num_classes": 2,
        "activation": "tanh",  # the LSTM cell activation (nn.LSTM: tanh only); gates sigmoid on both sides
        "dropout": 0.1,  # on the last hidden state, before the classifier
    },
    description="Embedding(1000, 32) -> LSTM(64), last hidden state -> Dense(2) logits; torch's b_hh zeroed and frozen",
    seed_use_case="Sentiment analysis: LSTM + Embedding + Dense",
)

WORKLOADS: Mapping[str, Workload] = {w.name: w for w in (MLP_IRIS, LSTM_SENTIMENT)}


def get(name: str) -> Workload:
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
    return WORKLOADS[name]
