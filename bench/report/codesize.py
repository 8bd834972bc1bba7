"""Lines of code of each twin, counted from impls/ by the tool itself (the report's "model building" row).

The rule, for one module impls/<framework>/<model>.py:
- a *code line* is a source line that holds part of a statement: blank lines, comment-only lines and
  docstrings (a string literal standing alone as the first statement of a module, class or function)
  do not count;
- *model definition*: the code lines of `build` and of every module-level function or class that
  `build` refers to by name, transitively (e.g. an nn.Module subclass or a `q_network` helper);
  the training hooks (`train_step`, `make_optimizers`, `predict`, `prepare`, `count_params`) and
  the keras twin's `layer_map` (the benchmark's weight mapping for the parity test) are not part of it;
- *twin module*: every code line of the file except imports and the keras twin's `layer_map`, so the
  training hooks count.
Only the twin's own file is counted: helpers shared by a framework's twins (impls/<framework>/common.py)
are not.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

from bench import REPO

IMPLS = REPO / "impls"
FRAMEWORK_DIRS = {"torch": "PyTorch", "keras": "Keras"}


@dataclass(frozen=True)
class CodeSize:
    """Code lines of one twin module: its model definition, and the module without imports and layer_map."""

    path: str  # relative to the repository root
    model_lines: int
    twin_lines: int


def docstring_lines(tree: ast.Module) -> set[int]:
    """Line numbers taken by docstrings of the module, its classes and functions."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                out.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return out


def code_lines(source: str) -> set[int]:
    """Line numbers holding code: every line a non-comment token spans, docstrings removed."""
    skip = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines - docstring_lines(ast.parse(source))


def model_definition_lines(source: str) -> set[int]:
    """Line numbers of `build` and the module-level definitions it uses (transitively)."""
    tree = ast.parse(source)
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    if "build" not in defs:
        return set()
    todo, seen = ["build"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for n in ast.walk(defs[name]):
            if isinstance(n, ast.Name) and n.id in defs and n.id not in seen:
                todo.append(n.id)
    spans: set[int] = set()
    for name in seen:
        node = defs[name]
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        spans.update(range(start, (node.end_lineno or node.lineno) + 1))
    return spans


def excluded_lines(source: str) -> set[int]:
    """Line numbers of module-level imports and of `layer_map` (not part of the twin's own code)."""
    out: set[int] = set()
    for node in ast.parse(source).body:
        named_layer_map = isinstance(node, ast.FunctionDef) and node.name == "layer_map"
        if isinstance(node, ast.Import | ast.ImportFrom) or named_layer_map:
            out.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return out


def measure(path: Path, root: Path | None = None) -> CodeSize:
    source = path.read_text(encoding="utf-8")
    code = code_lines(source)
    rel = path.relative_to(root) if root else path
    return CodeSize(str(rel), len(code & model_definition_lines(source)), len(code - excluded_lines(source)))


def twins(model: str, impls: Path = IMPLS) -> dict[str, CodeSize]:
    """{framework dir: CodeSize} for the twins of one model that exist under impls/."""
    out: dict[str, CodeSize] = {}
    for fw in FRAMEWORK_DIRS:
        p = impls / fw / f"{model}.py"
        if p.is_file():
            out[fw] = measure(p, impls.parent)
    return out
