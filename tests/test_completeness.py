"""A workload is one unit: every registered workload has everything the suite needs, found from the
registry. Removing any one piece of a real workload makes this fail with a message naming it.
Framework-free: the twin modules are read as source (ast), not imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench import data, flops
from bench.workloads import WORKLOADS

IMPLS = Path(__file__).resolve().parent.parent / "impls"


def functions(path: Path) -> set[str]:
    """Module-level names a twin module defines (functions, classes, assignments, imports as a name)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def missing(name: str) -> list[str]:
    """What workload `name` lacks, each in words naming where it belongs."""
    wl = WORKLOADS[name]
    out = []
    for framework, needed in (("torch", {"build"}), ("keras", {"build", "layer_map"})):
        path = IMPLS / framework / f"{wl.model}.py"
        if not path.is_file():
            out.append(f"a {framework} twin (impls/{framework}/{wl.model}.py)")
            continue
        lacking = needed - functions(path)
        if lacking:
            out.append(f"{', '.join(sorted(lacking))} in impls/{framework}/{wl.model}.py")
    if wl.model not in flops.TRAIN_STEP_FLOPS:
        out.append(f"a FLOPs function for model {wl.model!r} (bench/flops.py TRAIN_STEP_FLOPS)")
    if wl.parity is None:
        out.append("a parity case (Workload.parity in bench/workloads.py)")
    if wl.task != "dqn" and wl.dataset not in data.DATASETS:
        out.append(f"a dataset loader for {wl.dataset!r} (bench/data.py DATASETS)")
    return out


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_every_registered_workload_is_complete(name: str) -> None:
    lacks = missing(name)
    assert not lacks, f"workload {name} lacks: " + "; ".join(lacks)


def test_removing_a_registration_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    monkeypatch.delitem(flops.TRAIN_STEP_FLOPS, "cnn")
    assert missing("cnn-digits") == ["a FLOPs function for model 'cnn' (bench/flops.py TRAIN_STEP_FLOPS)"]
    monkeypatch.setitem(WORKLOADS, "mlp-iris", dataclasses.replace(WORKLOADS["mlp-iris"], parity=None))
    assert missing("mlp-iris") == ["a parity case (Workload.parity in bench/workloads.py)"]
    monkeypatch.setitem(WORKLOADS, "x", dataclasses.replace(WORKLOADS["mlp-iris"], name="x", model="nomodel"))
    assert missing("x")[:2] == ["a torch twin (impls/torch/nomodel.py)", "a keras twin (impls/keras/nomodel.py)"]
