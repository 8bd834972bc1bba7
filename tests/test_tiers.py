"""Out of the box vs tuned (issue 15): the default-tier backends (keras-fit, keras-eager beside
torch-eager) and the tuned torch-compile-step run real workloads, say why where they cannot, and the
report sets each framework's default path beside its tuned one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.core import backends
from bench.report import document

from .conftest import prose

NEW = ("keras-fit", "keras-eager", "torch-compile-step")
needs_both = pytest.mark.skipif(
    not all(backends.get(b).installed() for b in ("torch-eager", "keras")), reason="needs torch and tensorflow"
)


def test_every_framework_has_a_default_tier_backend() -> None:
    for fw in backends.FRAMEWORK_OF:
        assert [b.name for b in backends.BACKENDS.values() if b.framework == fw and b.tier == "default"], fw
    assert {backends.get(b).tier for b in NEW} == {"default", "tuned"}


@pytest.mark.slow
@needs_both
def test_default_and_tuned_paths_run_and_the_report_sets_them_side_by_side(
    iris_suite, keras_rl_gan_suite, tmp_path: Path
) -> None:
    """The shared mlp-iris suite (every CPU backend, tests/conftest.py) and the shared Keras DQN/GAN run."""
    _, suite = iris_suite
    by = {(r.workload, r.backend): r for r in [*suite.results, *keras_rl_gan_suite.results]}
    for b in ("torch-eager", "torch-compile-step", "keras", "keras-fit", "keras-eager"):
        r = by["mlp-iris", b]
        assert r.status == "ok" and r.median_step_ms and r.metric is not None, (b, r.status, r.reason)
    # the documented Keras path is train_on_batch, with Keras' own jit_compile default recorded
    fit, eager = by["mlp-iris", "keras-fit"].settings, by["mlp-iris", "keras-eager"].settings
    assert fit["compile"] == "Model.compile + train_on_batch" and fit["run_eagerly"] is False
    assert isinstance(fit["jit_compile"], bool) and eager["run_eagerly"] is True
    # the same initial weights and batches: the first losses agree across the default and tuned paths
    first = [by["mlp-iris", b].epoch_loss[0] for b in ("torch-eager", "torch-compile-step", "keras", "keras-fit")]
    assert max(first) - min(first) < 1e-3, first
    step = by["mlp-iris", "torch-compile-step"].settings
    assert step["compile"].startswith("torch.compile(step") and isinstance(step["graph_break_reasons"], list)
    # the GAN trains through its own step: no fit path, said in words
    for b in ("keras-fit", "keras-eager"):
        r = by["dcgan-digits", b]
        assert r.status == "unsupported" and "train_on_batch" in r.reason, (r.status, r.reason)

    text = document.write([suite], tmp_path / "r").read_text()
    section = text.split("### Out of the box vs tuned", 1)[1].split("\n#", 1)[0]
    row = next(ln for ln in section.splitlines() if ln.startswith("| mlp-iris"))
    # per framework and tier, the fastest backend of the suite by median step (every CPU backend ran)
    for fw in ("torch", "tensorflow"):
        for tier in ("default", "tuned"):
            info = {r.backend: backends.get(r.backend) for r in suite.results}
            ok = [
                r
                for r in suite.results
                if r.ok and r.framework == fw and info[r.backend].headline and info[r.backend].tier == tier
            ]
            fastest = min(ok, key=lambda r: r.median_step_ms or float("inf"))
            assert f"| {fastest.backend} " in row, (fw, tier, fastest.backend, row)
    assert "TensorFlow eager (optional)" in prose(text)  # the seed table's execution-mode row


SAME_TRAINING = """
import sys
import numpy as np
from bench.core import workloads
from bench.measure import tasks
from bench.core.spec import BackendOptions
from impls.torch.backend import TorchCompileStep, TorchEager
wl = workloads.get(sys.argv[1])
eager = TorchEager(BackendOptions("cpu", 1, 1))
eager.build(wl, None)
init = eager.get_weights()
step = TorchCompileStep(BackendOptions("cpu", 1, 1))
step.build(wl, init)
batches = [b for _, b in zip(range(4), tasks.make(wl, 0).batches(0, eager))]
losses = [(eager.train_step(eager.prepare(b)), step.train_step(step.prepare(b))) for b in batches]
after = step.get_weights()
unchanged = [k for k in init if k.endswith(("weight", "bias")) and np.array_equal(init[k], after[k])]
print(max(abs(a - b) for a, b in losses), unchanged)
"""


@pytest.mark.slow
@pytest.mark.skipif(not backends.get("torch-eager").installed(), reason="needs torch")
def test_the_whole_step_compiled_trains_like_eager_even_around_an_lstm() -> None:
    """nn.LSTM runs eagerly between compiled graphs: every weight must still be updated, and the losses
    follow eager's (dropout masks differ: inductor draws its own random numbers)."""
    import subprocess
    import sys

    from .conftest import REPO

    p = subprocess.run(
        [sys.executable, "-c", SAME_TRAINING, "lstm-sentiment"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]
    gap, unchanged = p.stdout.strip().splitlines()[-1].split(" ", 1)
    assert unchanged == "[]", f"weights the compiled step never updated: {unchanged}"
    assert float(gap) < 0.02, gap
