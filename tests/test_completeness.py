"""A workload is one unit: every registered workload has everything the suite needs, found from the
registry. Removing any one piece of a real workload makes this fail with a message naming it.
Framework-free: the twin modules are read as source (ast), not imported; impls/keras/weights.py is
numpy-only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.core import data, flops
from bench.core.workloads import WORKLOADS
from impls.keras import weights

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


def rule_kinds(path: Path) -> list[tuple[str, int]]:
    """(kind, line) of each `LayerMap(...)` call in a keras twin whose weight-rule kind is a string literal:
    the third positional argument or `kind=`. A kind computed at run time is not seen here (set_canonical
    still refuses it, naming it)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)) != "LayerMap":
            continue
        args = [*node.args[2:3], *(kw.value for kw in node.keywords if kw.arg == "kind")]
        out += [(a.value, node.lineno) for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return out


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
        if framework == "keras":
            out += [
                f"a weight rule {kind!r} (impls/keras/weights.py RULES), used in impls/keras/{wl.model}.py:{line}"
                for kind, line in rule_kinds(path)
                if kind not in weights.RULES
            ]
    if wl.model not in flops.TRAIN_STEP_FLOPS:
        out.append(f"a FLOPs function for model {wl.model!r} (bench/core/flops.py TRAIN_STEP_FLOPS)")
    if wl.parity is None:
        out.append("a parity case (Workload.parity in bench/core/workloads.py)")
    if wl.task != "dqn" and wl.dataset not in data.DATASETS:
        out.append(f"a dataset loader for {wl.dataset!r} (bench/core/data.py DATASETS)")
    return out


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_every_registered_workload_is_complete(name: str) -> None:
    lacks = missing(name)
    assert not lacks, f"workload {name} lacks: " + "; ".join(lacks)


def test_removing_a_registration_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    monkeypatch.delitem(flops.TRAIN_STEP_FLOPS, "cnn")
    assert missing("cnn-digits") == ["a FLOPs function for model 'cnn' (bench/core/flops.py TRAIN_STEP_FLOPS)"]
    monkeypatch.setitem(WORKLOADS, "mlp-iris", dataclasses.replace(WORKLOADS["mlp-iris"], parity=None))
    assert missing("mlp-iris") == ["a parity case (Workload.parity in bench/core/workloads.py)"]
    monkeypatch.setitem(WORKLOADS, "x", dataclasses.replace(WORKLOADS["mlp-iris"], name="x", model="nomodel"))
    assert missing("x")[:2] == ["a torch twin (impls/torch/nomodel.py)", "a keras twin (impls/keras/nomodel.py)"]


def test_a_weight_rule_kind_that_does_not_exist_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    impls = IMPLS
    for framework in ("torch", "keras"):  # a copy of the mlp twins whose layer map misspells "dense"
        (tmp_path / framework).mkdir()
        source = (impls / framework / "mlp.py").read_text()
        (tmp_path / framework / "mlp.py").write_text(source.replace('"dense"', '"dnese"'))
    monkeypatch.setattr(f"{__name__}.IMPLS", tmp_path)
    [lack] = missing("mlp-iris")
    assert lack.startswith("a weight rule 'dnese' (impls/keras/weights.py RULES), used in impls/keras/mlp.py:"), lack
    monkeypatch.setattr(f"{__name__}.IMPLS", impls)
    monkeypatch.delitem(weights.RULES, "conv")  # a rule removed: every twin that uses it is named
    assert [m for m in missing("conv1d-audio") if "weight rule" in m] == [
        "a weight rule 'conv' (impls/keras/weights.py RULES), used in impls/keras/conv1d.py:"
        + str(next(line for kind, line in rule_kinds(impls / "keras" / "conv1d.py") if kind == "conv"))
    ]


def test_rule_kinds_reads_positional_and_keyword_kinds(tmp_path: Path) -> None:
    path = tmp_path / "twin.py"
    path.write_text(
        "def layer_map(parts):\n"
        "    return [LayerMap('net.0', a, 'dense'), weights.LayerMap('net.1', b, kind='conv'), LayerMap('n', c, k)]\n"
    )
    assert rule_kinds(path) == [("dense", 2), ("conv", 2)]


def test_set_canonical_names_an_unknown_rule_kind() -> None:
    """Before any layer is touched (a stand-in layer will do: no framework needed)."""
    bad = weights.LayerMap("net.fc", object(), "flatten_dense")
    with pytest.raises(ValueError) as e:
        weights.set_canonical([bad], {})
    assert str(e.value) == (
        "layer map net.fc: weight rule kind 'flatten_dense' is not one of "
        + ", ".join(weights.RULES)
        + " (impls/keras/weights.py RULES)"
    )
    with pytest.raises(ValueError, match="weight rule kind 'flatten_dense'"):
        weights.get_canonical([bad])
