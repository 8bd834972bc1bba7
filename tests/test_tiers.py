"""Out of the box vs tuned (issue 15): the default-tier backends (keras-fit, keras-eager beside
torch-eager) and the tuned torch-compile-step run real workloads, say why where they cannot, and the
report sets each framework's default path beside its tuned one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import backends, report, results

from .conftest import fwbench

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
def test_default_and_tuned_paths_run_and_the_report_sets_them_side_by_side(tmp_path: Path) -> None:
    p = fwbench(
        "run", "--workloads", "mlp-iris", "--backends", "torch-eager", "torch-compile-step", "keras", "keras-fit",
        "keras-eager", "--epochs", "12", "--threads", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    gan = fwbench(
        "run", "--workloads", "dcgan-digits", "--backends", "keras-fit", "keras-eager", "--epochs", "1",
        "--threads", "1", "--out", str(tmp_path / "gan"),
    )  # fmt: skip
    assert gan.returncode == 0, gan.stderr[-3000:]
    (path,) = (tmp_path / "runs").glob("*.json")
    (gan_path,) = (tmp_path / "gan" / "runs").glob("*.json")
    by = {(r.workload, r.backend): r for p_ in (path, gan_path) for r in results.load(p_).results}
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
    assert "trace_autograd_ops" in step["compile"] and isinstance(step["graph_break_reasons"], list)
    # the GAN trains through its own step: no fit path, said in words
    for b in ("keras-fit", "keras-eager"):
        r = by["dcgan-digits", b]
        assert r.status == "unsupported" and "train_on_batch" in r.reason, (r.status, r.reason)

    text = report.write([results.load(path)], tmp_path / "r").read_text()
    section = text.split("### Out of the box vs tuned", 1)[1].split("\n#", 1)[0]
    row = next(ln for ln in section.splitlines() if ln.startswith("| mlp-iris"))
    assert "torch-eager" in row and "torch-compile-step" in row and "keras-fit" in row and "| keras " in row
    assert "TensorFlow eager (optional)" in text  # the seed table's execution-mode row
