"""The extension cost the docs claim, measured by doing it.

- A backend is one adapter plus one registry entry: a fake backend registered in
  bench.core.backends.BACKENDS alone (reusing the eager adapter and bare loop) shows up in `fwbench list`,
  the report (its tables and its seed-table label), the plots (its colour) and the overhead plan,
  without another file knowing its name.
- A workload on an existing model is one registry entry, and a backend variant one subclass
  (tests/variant_backend.py) plus one entry: both are added in a worker-like process here, trained
  for real in both frameworks, and rendered (test_a_tiny_workload_and_a_backend_variant_run_end_to_end).
- A variant of an existing model (a deeper MLP; a conv1d with 'same' padding and a flatten head) is also
  one registry entry, its shape in `model_kwargs`: complete, FLOPs by hand
  (test_model_variants_are_one_entry_each) and against torch's FlopCounterMode, and the same network
  in both frameworks by the parity proof (test_model_variants_count_flops_and_match_across_frameworks).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import cli
from bench.core import backends, flops, workloads
from bench.core.spec import ParityCase
from bench.measure import parity
from bench.planning import selection
from bench.records import results
from bench.report import document, plots

from .conftest import REPO

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "suite-mlp-iris.json"

FAKE = backends.BackendInfo(
    name="torch-fake",
    framework="torch",
    module="impls.torch.backend",
    cls="TorchEager",
    description="a fake variant for the extension test",
    label="Fake eager (test)",
    color="#00ff00",
    packages=(),
    bare="impls.torch.bare",
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> backends.BackendInfo:
    monkeypatch.setitem(backends.BACKENDS, FAKE.name, FAKE)
    return FAKE


def test_a_registered_backend_is_listed(fake, capsys) -> None:
    assert cli.main(["list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("torch-fake"))
    assert "a fake variant for the extension test" in line and "installed" in line


def test_a_registered_backend_is_in_the_report_and_the_plots(fake, tmp_path: Path) -> None:
    suite = results.load(FIXTURE)
    eager = next(r for r in suite.results if r.backend == "torch-eager")
    suite = dataclasses.replace(suite, results=[*suite.results, dataclasses.replace(eager, backend="torch-fake")])
    text = document.write([suite], tmp_path).read_text()
    section = text.split("### mlp-iris\n", 1)[1]
    row = next(ln for ln in section.splitlines() if ln.startswith("| torch-fake "))
    assert "| PyTorch " in row and "| 1.00 " in row  # the same runs as eager: ratio 1
    assert "Fake eager (test)" in text.split("**Execution mode**", 1)[1].split("**Model building**", 1)[0]
    assert plots.color("torch-fake") == "#00ff00"
    assert (tmp_path / "plots" / "step_time.png").exists()


def test_a_registered_backend_is_in_the_overhead_plan(fake) -> None:
    a = argparse.Namespace(
        backends=None, device="cpu", repeats=1, threads=1, time_limit=None, workloads=None, blocks=1, out="x"
    )
    plan = selection.overhead_plan(a, ("mlp-iris",))
    assert "torch-fake" in plan.backends
    assert fake.bare == "impls.torch.bare"  # the worker takes make_loop from there (BackendInfo.bare_loop)


def test_a_backend_without_a_bare_loop_is_refused_by_overhead_by_name(monkeypatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "nobare", dataclasses.replace(FAKE, name="nobare", bare=None))
    a = argparse.Namespace(
        backends=["nobare"], device="cpu", repeats=1, threads=1, time_limit=None, workloads=None, blocks=1, out="x"
    )
    with pytest.raises(cli.UsageError, match="no bare loop to compare with for nobare; valid: torch-eager"):
        selection.overhead_plan(a, ("mlp-iris",))


TINY = dataclasses.replace(
    workloads.get("mlp-iris"),
    name="mlp-tiny",
    model_kwargs={"in_features": 4, "hidden": 4, "num_classes": 3, "activation": "relu"},
    epochs=5,
    quick_epochs=5,
    description="4 -> 4 ReLU -> 3: the extension test's workload",
    parity=ParityCase(35),  # (4*4 + 4) + (4*3 + 3)
)
VARIANT = dataclasses.replace(
    FAKE, name="torch-variant", module="tests.variant_backend", cls="TorchEagerVariant", label="Variant (test)"
)
ADD_AND_TRAIN = textwrap.dedent(
    """
    import json, sys
    from bench.core import backends, workloads
    from bench.core.spec import RunConfig
    from bench.scenarios import train
    from tests.test_extension import TINY, VARIANT
    workloads.WORKLOADS[TINY.name] = TINY  # the workload: one entry
    backends.BACKENDS[VARIANT.name] = VARIANT  # the variant: its class and one entry
    cfg = RunConfig(run_id="ext", workload=TINY.name, backend=sys.argv[1], device="cpu", profile="quick",
                    repeat=0, seed=0, init="native", init_path=None, threads=1, interop_threads=1,
                    deterministic=False)
    print(json.dumps(train.measure(cfg).to_dict()))
    """
)


@pytest.mark.slow
def test_a_tiny_workload_and_a_backend_variant_run_end_to_end(monkeypatch, tmp_path: Path) -> None:
    from tests.test_completeness import missing

    monkeypatch.setitem(workloads.WORKLOADS, TINY.name, TINY)
    monkeypatch.setitem(backends.BACKENDS, VARIANT.name, VARIANT)
    assert missing(TINY.name) == []  # twins, FLOPs, parity case, dataset: all found from the registry
    runs = []
    for backend in ("torch-variant", "keras"):  # one process per framework
        p = subprocess.run(
            [sys.executable, "-c", ADD_AND_TRAIN, backend], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        assert p.returncode == 0, p.stderr[-3000:]
        runs.append(results.Result.from_dict(json.loads(p.stdout.strip().splitlines()[-1])))
    assert [(r.backend, r.status, r.num_params, r.steps) for r in runs] == [
        ("torch-variant", "ok", 35, 5),
        ("keras", "ok", 35, 5),
    ]
    assert all(r.flops_per_step and r.metric is not None for r in runs)
    suite = dataclasses.replace(results.load(FIXTURE), results=runs)
    text = document.write([suite], tmp_path).read_text()
    section = text.split("### mlp-tiny\n", 1)[1]
    assert any(ln.startswith("| torch-variant ") for ln in section.splitlines())
    assert "Variant (test)" in text


MLP_IRIS = workloads.get("mlp-iris")
MLP_DEEP = dataclasses.replace(
    MLP_IRIS,
    name="mlp-iris-deep",
    model_kwargs={**MLP_IRIS.model_kwargs, "hidden": [8, 8]},
    description="4 -> 8 -> 8 -> 3: mlp-iris with two hidden layers, by model_kwargs alone",
    parity=ParityCase(139, weights_tol=1e-5),  # (4*8 + 8) + (8*8 + 8) + (8*3 + 3) = 40 + 72 + 27
)
CONV1D_AUDIO = workloads.get("conv1d-audio")
CONV1D_FLAT = dataclasses.replace(
    CONV1D_AUDIO,
    name="conv1d-audio-flat",
    # Kernels 31 and 4 make 'same' pad unevenly (11 + 12 at stride 8, 1 + 2 at stride 1), 5 evenly (2 + 2).
    # 4000 samples -> conv1 ceil(4000/8) = 500 -> pool 125 -> conv2 125 -> pool 31 -> conv3 31 -> flatten 64*31
    model_kwargs={**CONV1D_AUDIO.model_kwargs, "kernel_sizes": (31, 4, 5), "padding": "same", "head": "flatten"},
    description="conv1d-audio with 'same' padding and a flatten head, by model_kwargs alone",
    # conv1 (1*16*31 + 16) + conv2 (16*32*4 + 32) + conv3 (32*64*5 + 64) + fc (64*31*8 + 8)
    # = 512 + 2080 + 10304 + 15880
    parity=ParityCase(28776),
)
MODEL_VARIANTS = (MLP_DEEP, CONV1D_FLAT)


def test_model_variants_are_one_entry_each(monkeypatch) -> None:
    from tests.test_completeness import missing

    for wl in MODEL_VARIANTS:
        monkeypatch.setitem(workloads.WORKLOADS, wl.name, wl)
        assert missing(wl.name) == []  # the existing twins, FLOPs function, dataset; its own parity case
    # 4 -> 8 -> 8 -> 3 on 120 samples: forward F, backward 2F less the first layer's input gradient
    forward = 2 * 120 * (4 * 8 + 8 * 8 + 8 * 3)
    assert flops.train_step_flops(MLP_DEEP, 120) == 3 * forward - 2 * 120 * 4 * 8
    # the 'same' lengths above (conv1 500, conv2 125, conv3 31) and the flatten head's Linear 64*31 -> 8
    conv1 = 2 * 500 * 1 * 16 * 31
    forward = conv1 + 2 * 125 * 16 * 32 * 4 + 2 * 31 * 32 * 64 * 5 + 2 * (64 * 31) * 8
    assert flops.train_step_flops(CONV1D_FLAT, 1) == 3 * forward - conv1


# One process per framework for all the variants: each registers them (one entry each), runs its parity
# side of each (torch-eager writes the shared initial weights) and, on torch, counts one training step of
# each under FlopCounterMode. Prints {workload: counted FLOPs}.
VARIANT_SIDE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from bench.core import workloads
    from bench.measure import parity
    from tests.test_extension import MODEL_VARIANTS
    backend, tmp = sys.argv[1], Path(sys.argv[2])
    for wl in MODEL_VARIANTS:
        workloads.WORKLOADS[wl.name] = wl  # the variant: one entry
    for wl in MODEL_VARIANTS:
        parity.run_side(backend, wl.name, tmp / f"{wl.name}-init.npz", tmp / f"{wl.name}-{backend}.npz", {})
    counted = {}
    if backend == "torch-eager":
        from torch.utils.flop_counter import FlopCounterMode
        from bench.measure import tasks
        from bench.core.spec import BackendOptions
        from impls.torch.backend import TorchEager
        for wl in MODEL_VARIANTS:
            b = TorchEager(BackendOptions("cpu", 1, 1))
            b.build(wl, None)
            batch = b.prepare(tasks.make(wl, 0).example_batch())
            with FlopCounterMode(display=False) as counter:
                b.train_step(batch)
            counted[wl.name] = counter.get_total_flops()
    print(json.dumps(counted))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(
    not (backends.get("torch-eager").installed() and backends.get("keras").installed()), reason="needs torch and keras"
)
def test_model_variants_count_flops_and_match_across_frameworks(tmp_path: Path) -> None:
    counted = {}
    for backend in ("torch-eager", "keras"):  # torch first: it writes the initial weights keras loads
        p = subprocess.run(
            [sys.executable, "-c", VARIANT_SIDE, backend, str(tmp_path)],
            cwd=REPO,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1"),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, p.stderr[-3000:]
        counted.update(json.loads(p.stdout.strip().splitlines()[-1]))
    for wl in MODEL_VARIANTS:
        assert flops.train_step_flops(wl, wl.batch_size) == counted[wl.name], wl.name
        case = wl.parity
        diff = parity.compare(
            parity.load_side(tmp_path / f"{wl.name}-torch-eager.npz"),
            parity.load_side(tmp_path / f"{wl.name}-keras.npz"),
        )
        assert diff["num_params"] == (case.params, case.params), wl.name
        assert diff["outputs_max_abs"] < case.outputs_tol, (wl.name, diff["outputs_max_abs"])
        assert diff["loss_abs"] < case.loss_tol, (wl.name, diff["loss_abs"])
        assert max(diff["weights_max_abs"].values()) < case.weights_tol, (wl.name, diff["weights_max_abs"])
