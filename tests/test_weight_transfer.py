"""Loading canonical weights fails loudly, naming what the mapping misses or leaves unused.

Each case runs in a fresh process with one framework (the test process imports neither)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from bench.core import backends

from .conftest import REPO

pytestmark = pytest.mark.slow


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"),
    )  # fmt: skip


KERAS_SETUP = """
    import numpy as np
    from bench.core import workloads
    from impls.keras import weights
    from bench.core.spec import BackendOptions
    from impls.keras.backend import KerasGraph
    b = KerasGraph(BackendOptions("cpu", 1, 1))
    b.build(workloads.get("mlp-iris"), None)
    canonical = b.get_weights()
"""


@pytest.mark.skipif(not backends.get("keras").installed(), reason="keras not installed")
def test_keras_refuses_a_layer_map_that_leaves_a_trainable_weight_out() -> None:
    p = run(
        KERAS_SETUP
        + """
    partial = [m for m in b.maps if m.prefix != b.maps[-1].prefix]  # the Dense head left out of the map
    try:
        weights.set_canonical(partial, canonical, models=b.parts.values())
    except ValueError as e:
        print("ERROR", e)
    """
    )
    assert p.returncode == 0, p.stderr[-2000:]
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("ERROR"))
    assert "the layer map covers no canonical weights for keras weights" in line and "kernel" in line, line


@pytest.mark.skipif(not backends.get("keras").installed(), reason="keras not installed")
def test_keras_refuses_canonical_weights_that_no_layer_reads() -> None:
    p = run(
        KERAS_SETUP
        + """
    extra = {**canonical, "net.9.weight": np.zeros((3, 3), np.float32)}
    try:
        b.set_weights(extra)
    except ValueError as e:
        print("ERROR", e)
    b.set_weights(canonical)  # the exact set loads
    print("OK")
    """
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "ERROR canonical weights ['net.9.weight'] are used by no keras layer" in p.stdout, p.stdout
    assert p.stdout.strip().endswith("OK")


@pytest.mark.skipif(not backends.get("torch-eager").installed(), reason="torch not installed")
def test_torch_refuses_missing_and_unused_canonical_weights() -> None:
    p = run(
        """
    import numpy as np
    from bench.core import workloads
    from bench.core.spec import BackendOptions
    from impls.torch.backend import TorchEager
    b = TorchEager(BackendOptions("cpu", 1, 1))
    b.build(workloads.get("mlp-iris"), None)
    w = b.get_weights()
    for bad in ({**w, "net.9.weight": np.zeros(3, np.float32)}, {k: v for k, v in w.items() if k != sorted(w)[0]}):
        try:
            b.set_weights(bad)
        except ValueError as e:
            print("ERROR", e)
    """
    )
    assert p.returncode == 0, p.stderr[-2000:]
    errors = [ln for ln in p.stdout.splitlines() if ln.startswith("ERROR")]
    assert errors[0] == "ERROR weights ['net.9.weight'] match no tensor of model mlp"
    assert errors[1].startswith("ERROR weights lack ['net.") and "(model mlp)" in errors[1]


def test_parity_folds_only_declared_pairs() -> None:
    import numpy as np

    from bench.measure.parity import fold

    w = {"net.gru.bias_ih_l0": np.ones(3), "net.gru.bias_hh_l0": np.full(3, 2.0)}
    assert fold(w, {}) == w  # a GRU declares nothing: its two biases stay apart
    folded = fold(w, {"net.gru.bias_hh_l0": "net.gru.bias_ih_l0"})
    assert list(folded) == ["net.gru.bias_ih_l0"] and folded["net.gru.bias_ih_l0"].tolist() == [3.0] * 3
    with pytest.raises(ValueError, match=re.escape("PARITY_FOLDS names net.x -> net.gru.bias_ih_l0")):
        fold(w, {"net.x": "net.gru.bias_ih_l0"})
