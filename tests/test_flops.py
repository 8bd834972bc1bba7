"""Analytic FLOPs (bench/core/flops.py) against torch's FlopCounterMode on one real training step.

FlopCounterMode counts matmuls and convolutions, forward and backward, as bench/core/flops.py does. It runs
in a subprocess: the test process imports no framework (tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.core import flops, workloads

from .conftest import REPO

# One torch-eager training step of WORKLOAD on its task's example batch under FlopCounterMode.
COUNT_SCRIPT = """
import sys
from torch.utils.flop_counter import FlopCounterMode
from bench.core import workloads
from bench.measure import tasks
from bench.core.spec import BackendOptions
from impls.torch.backend import TorchEager
wl = workloads.get(sys.argv[1])
backend = TorchEager(BackendOptions("cpu", 1, 1))
backend.build(wl, None)
batch = backend.prepare(tasks.make(wl, 0).example_batch())
with FlopCounterMode(display=False) as counter:
    backend.train_step(batch)
print(counter.get_total_flops())
"""


def counted_train_step_flops(workload: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", COUNT_SCRIPT, workload],
        cwd=REPO,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize(
    "workload", [w.name for w in workloads.WORKLOADS.values() if w.model not in flops.COUNTER_BLIND]
)
def test_analytic_flops_equal_flop_counter(workload: str) -> None:
    wl = workloads.get(workload)
    if wl.missing_packages():
        pytest.skip(f"{workload} needs {', '.join(wl.missing_packages())}: pip install -e '.[{wl.extra}]'")
    missed = flops.COUNTER_MISSES.get(wl.model, lambda w, b: 0.0)(wl, wl.batch_size)
    assert flops.train_step_flops(wl, wl.batch_size) == counted_train_step_flops(workload) + missed


def test_llama_tiny_flops_by_hand() -> None:
    """2 layers, width 128, 2 key-value heads of 32, SwiGLU 352, 512 ids; 32 sequences of 64 tokens: forward per
    token 2 * (2 * (q, o 128*128 + k, v 128*64 + 3 * 128*352) + 128*512) plus attention 2 * 2 * 64 * 128 a layer;
    training 3x the forward."""
    tokens = 32 * 64
    per_token = 2 * (2 * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 352) + 128 * 512) + 2 * (2 * 2 * 64 * 128)
    assert flops.train_step_flops(workloads.get("llama-tiny"), 32) == 3 * tokens * per_token


def test_dqn_flops_by_hand() -> None:
    """4 -> 64 -> 64 -> 2 on 64 transitions: q forward F, q backward 2F - first input grad, target forward F."""
    forward = 2 * 64 * (4 * 64 + 64 * 64 + 64 * 2)
    first_input_grad = 2 * 64 * 4 * 64
    assert flops.train_step_flops(workloads.get("dqn-cartpole"), 64) == 4 * forward - first_input_grad


def test_dcgan_flops_scale_with_batch() -> None:
    wl = workloads.get("dcgan-digits")
    assert flops.train_step_flops(wl, 2 * wl.batch_size) == 2 * flops.train_step_flops(wl, wl.batch_size)


def test_cnn_digits_flops_by_hand() -> None:
    """8x8x1 -> conv3x3 16 (same) -> pool -> 4x4x16 -> conv3x3 32 -> pool -> 2x2x32 -> 64 -> 10, 32 images:
    forward F, backward 2F less the first conv's input gradient."""
    conv1 = 2 * 32 * (8 * 8) * 1 * 16 * 9
    forward = conv1 + 2 * 32 * (4 * 4) * 16 * 32 * 9 + 2 * 32 * (2 * 2 * 32) * 64 + 2 * 32 * 64 * 10
    assert flops.train_step_flops(workloads.get("cnn-digits"), 32) == 3 * forward - conv1


def test_conv1d_flops_follow_the_valid_strided_lengths() -> None:
    """4000 samples -> conv k32 s8: 497 steps -> pool 4: 124 -> conv k5: 120 -> pool 4: 30 -> conv k5: 26 -> mean."""
    conv1 = 2 * 497 * 1 * 16 * 32
    forward = conv1 + 2 * 120 * 16 * 32 * 5 + 2 * 26 * 32 * 64 * 5 + 2 * 64 * 8
    assert flops.train_step_flops(workloads.get("conv1d-audio"), 1) == 3 * forward - conv1


def test_lstm_flops_by_hand() -> None:
    """FlopCounterMode counts nn.LSTM as 0, so by hand: 16 steps of the gates (4*64 outputs from 32 + 64
    inputs), the 64 -> 2 classifier, on 128 sequences; training = 3x forward (the embedding needs no matmul)."""
    forward = 2 * 128 * 16 * (4 * 64) * (32 + 64) + 2 * 128 * 64 * 2
    assert flops.train_step_flops(workloads.get("lstm-sentiment"), 128) == 3 * forward


def test_transformer_flops_by_hand() -> None:
    """Per layer and sequence of 16: q/k/v/o 4 * 2*16*64*64, scores and context 2 * 2*16*16*64,
    feed-forward 2 * 2*16*64*128; 2 layers, the 64 -> 2 classifier; training = 3x forward."""
    layer = 4 * 2 * 16 * 64 * 64 + 2 * 2 * 16 * 16 * 64 + 2 * 2 * 16 * 64 * 128
    assert flops.train_step_flops(workloads.get("transformer-text"), 1) == 3 * (2 * layer + 2 * 64 * 2)
