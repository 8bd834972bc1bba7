"""Parity: the twins are the same network. Each side runs in its own process (bench/parity.py).

Per workload: equal parameter counts; forward outputs from the same weights equal to 1e-5;
one SGD step from the same weights on the same batch gives the same loss and the same updated
weights. A mutated twin (another activation) must fail the same checks: the test bites.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import parity

pytestmark = [pytest.mark.slow, pytest.mark.torch, pytest.mark.keras]

# workload -> (trainable parameters, output tolerance, loss tolerance, updated-weight tolerance);
# all float32 on CPU. Parameter counts are computed by hand in the comments.
CASES = {
    "mlp-iris": (131, 1e-5, 1e-5, 1e-5),  # (4*16 + 16) + (16*3 + 3) = 80 + 51
    # generator (32*512 + 512) + (32*1*16 + 1) = 16896 + 513, discriminator (1*16*16 + 16) + (16*32*16 + 32)
    # + (128 + 1) = 272 + 8224 + 129. One step updates D, then G through the new D; G moves by ~1e-5..1e-3
    # under SGD 0.1, so the weight tolerance is 1e-6.
    "dcgan-digits": (26034, 1e-5, 1e-5, 1e-6),
    # q only (the target is a copy): (4*64 + 64) + (64*64 + 64) + (64*2 + 2) = 320 + 4160 + 130. The example
    # batch sets sync_target: a twin that skipped the target <- q copy would differ in target.* by ~1e-3.
    "dqn-cartpole": (4610, 1e-5, 1e-5, 1e-6),
    # conv1 (1*16*9 + 16) + conv2 (16*32*9 + 32) + fc1 (2*2*32*64 + 64) + fc2 (64*10 + 10) = 160 + 4640 + 8256 + 650.
    # fc1 follows Flatten: its rows are reordered CHW -> HWC (seen: outputs 3e-8, weights 7e-9).
    "cnn-digits": (13706, 1e-5, 1e-5, 1e-6),
    # conv1 (3*32*9 + 32) + conv2 (32*64*9 + 64) + fc1 (8*8*64*128 + 128) + fc2 (128*10 + 10)
    # = 896 + 18496 + 524416 + 1290 (seen: outputs 2e-7, weights 1.5e-8).
    "cnn-cifar10": (545098, 1e-5, 1e-5, 1e-6),
    # conv1 (1*16*32 + 16) + conv2 (16*32*5 + 32) + conv3 (32*64*5 + 64) + fc (64*8 + 8)
    # = 528 + 2592 + 10304 + 520; channels-last input transposed to NCL on the torch side (seen: 3e-8, 7e-9).
    "conv1d-audio": (13944, 1e-5, 1e-5, 1e-6),
    # embedding 1000*32 + LSTM (4*64*32 + 4*64*64 + 4*64) + fc (64*2 + 2) = 32000 + 24832 + 130: one 4H bias, as
    # torch's b_hh is zeroed and frozen. Embedding rows are N(0, 1) (|w| up to ~4.5, float32 spacing 4.8e-7):
    # they end up a few ulps apart (seen 7e-7..1.7e-6; all other weights < 2e-8), so the weight tolerance is 5e-6,
    # still far below the ~6e-5 by which the step moves them.
    "lstm-sentiment": (56962, 1e-5, 1e-5, 5e-6),
    # token 1000*64 + position 16*64 + LayerNorm 2*64 + 2 layers * (4 * (64*64 + 64) + 2 * 2*64 + (64*128 + 128)
    # + (128*64 + 64)) + fc (64*2 + 2) = 64000 + 1024 + 128 + 2*33472 + 130. Embedding weights as for the
    # LSTM (seen 9.5e-7..1.5e-6; all other weights < 2e-8).
    "transformer-text": (132226, 1e-5, 1e-5, 5e-6),
}

# The activation the keras side is built with in the mutation check (default tanh); the LSTM's own is tanh.
MUTANT_ACTIVATION = {"lstm-sentiment": "relu"}


@pytest.mark.parametrize("workload", sorted(CASES))
def test_twins_are_the_same_network(workload: str, tmp_path: Path) -> None:
    params, out_tol, loss_tol, w_tol = CASES[workload]
    r = parity.prove(workload, tmp_path)
    assert r["num_params"] == (params, params), r["num_params"]
    assert r["outputs_shape"][0] == r["outputs_shape"][1]
    assert r["outputs_max_abs"] < out_tol, r
    assert r["loss_abs"] < loss_tol, r
    worst = max(r["weights_max_abs"].items(), key=lambda kv: kv[1])
    assert worst[1] < w_tol, f"updated weight {worst[0]} differs by {worst[1]:.3g}"


@pytest.mark.parametrize(
    "workload",
    [
        "mlp-iris",
        "dcgan-digits",
        "dqn-cartpole",
        "cnn-digits",
        "cnn-cifar10",
        "conv1d-audio",
        "lstm-sentiment",
        "transformer-text",
    ],
)
def test_parity_check_bites_on_a_mutated_twin(workload: str, tmp_path: Path) -> None:
    """Same weights, keras side built with another activation (tanh; relu where the twin's own is tanh):
    outputs must differ beyond tolerance."""
    mutant = MUTANT_ACTIVATION.get(workload, "tanh")
    r = parity.prove(workload, tmp_path, keras_overrides={"activation": mutant})
    assert r["outputs_max_abs"] > 1e-3, r
