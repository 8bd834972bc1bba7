"""The codebase's shape (docs/ARCHITECTURE.md): bench/ in subpackages along the data's path, imports flowing
one way between them, no import circle, impls/ importing interfaces only, each module and function of a
size a reader can hold, and every `bench.` name the docs give existing. Reads the source with ast: imports
nothing of bench/ or impls/, so it runs without torch or tensorflow."""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO

# bench's packages from the bottom up: a module may import its own package and the ones before it, never one
# after (the data's path: command -> plan -> launch -> worker -> scenario -> result -> analysis -> report).
LAYERS = (
    "bench",  # the package itself: REPO, the version
    "bench.core",
    "bench.machine",
    "bench.records",
    "bench.planning",
    "bench.interfaces",
    "bench.measure",
    "bench.scenarios",
    "bench.worker",
    "bench.launching",
    "bench.analysis",
    "bench.report",
    "bench.cli",
    "bench.__main__",
)
# What impls/ (the twins and adapters, run inside workers) may import from bench/.
IMPLS_MAY_IMPORT = ("bench", "bench.core", "bench.machine", "bench.interfaces", "bench.measure")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(p): p for root in ("bench", "impls") for p in sorted((REPO / root).rglob("*.py"))}


def runtime_imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every module an import statement names (at any depth, in functions too), except under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for a in node.names:  # `from bench.core import spec` names the module bench.core.spec
                yield f"{prefix}.{a.name}"
            yield prefix


def import_graph() -> dict[str, set[str]]:
    mods = sources()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        targets = {t for t in runtime_imports(tree, name, path.name == "__init__.py") if t in mods and t != name}
        graph[name] = targets
    return graph


def layer(module: str) -> int:
    matches = [i for i, p in enumerate(LAYERS) if module == p or module.startswith(p + ".")]
    assert matches, f"{module} is in no layer of LAYERS: add its package there"
    return max(matches)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_circle_in_bench_and_impls() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_finder_sees_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_bench_imports_flow_one_way_between_packages() -> None:
    wrong = [
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        if a.startswith("bench")
        for b in sorted(targets)
        if b.startswith("bench") and layer(b) > layer(a)
    ]
    assert not wrong, "imports against the data's path (LAYERS): " + "; ".join(wrong)


def test_impls_import_interfaces_never_a_scenario_the_worker_or_the_launcher() -> None:
    wrong = [
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        if a.startswith("impls")
        for b in sorted(targets)
        if b.startswith("bench")
        and not any(b == p or b.startswith(p + ".") for p in IMPLS_MAY_IMPORT[1:])
        and b != "bench"
    ]
    assert not wrong, "impls/ may import only " + ", ".join(IMPLS_MAY_IMPORT) + ": " + "; ".join(wrong)


def test_no_scenario_imports_the_worker_or_the_launcher() -> None:
    wrong = [
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        if a.startswith("bench.scenarios")
        for b in targets
        if b == "bench.worker" or b.startswith("bench.launching") or b == "bench.cli"
    ]
    assert not wrong, "; ".join(wrong)


def test_modules_and_functions_stay_readable_sizes() -> None:
    too_long = []
    for name, path in sources().items():
        text = path.read_text()
        if name.startswith("bench") and len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"module {name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and name.startswith("bench"):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"function {name}.{node.name}: {n} lines")
    assert not too_long, f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function: {too_long}"


DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "docs" / "slurm").glob("*"))]
DOTTED = re.compile(r"(?<![\w./-])(bench(?:\.\w+)+)(?![\w*{-])")  # bench.core.spec.RunConfig; not bench.json (a file)
PATHS = re.compile(
    r"(?<![\w./-])((?:bench|impls|tests)/[\w/.-]*\w)(?![\w*{-])"
)  # not a pattern: tests/test_export_*.py
FILE_SUFFIXES = (".json", ".md", ".png", ".txt", ".npz")


def named_in_docs() -> list[tuple[str, str]]:
    found = []
    for doc in DOC_FILES:
        text = doc.read_text()
        found += [(doc.name, m) for m in DOTTED.findall(text) if not m.endswith(FILE_SUFFIXES)]
        found += [(doc.name, m) for m in PATHS.findall(text)]
    return found


def exists(name: str) -> bool:
    """A dotted name (a module, or an attribute of one, at any depth) or a path in the checkout."""
    if "/" in name:
        return (REPO / name).exists() or any(REPO.glob(name))
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        if importlib.util.find_spec(module) if i == 1 else module in sources() or module == "bench.worker":
            path = sources().get(module)
            if path is None:
                return i == len(parts)
            defined = {
                t.id if isinstance(t, ast.Name) else getattr(t, "name", "")
                for node in ast.walk(ast.parse(path.read_text()))
                for t in ([node] if isinstance(node, ast.FunctionDef | ast.ClassDef) else getattr(node, "targets", []))
            } | {
                node.target.id
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            }
            rest = parts[i:]
            return not rest or rest[0] in defined
    return False


def test_every_bench_name_and_path_in_the_docs_exists() -> None:
    missing = sorted({f"{doc}: {name}" for doc, name in named_in_docs() if not exists(name.rstrip("."))})
    assert not missing, "the docs name what is not there: " + "; ".join(missing)


def test_the_docs_checker_sees_a_missing_name() -> None:
    assert exists("bench.core.spec.RunConfig") and exists("bench/core/spec.py") and exists("bench.worker")
    assert not exists("bench.worker.SCENARIOS_THAT_ARE_NOT") and not exists("bench/nowhere.py")
    assert not exists("bench.report.slug")


@pytest.mark.parametrize("layered", LAYERS[1:-2])
def test_every_layer_is_a_package_or_module_that_exists(layered: str) -> None:
    assert layered in sources(), f"{layered} is in LAYERS but not in bench/"
