"""Safe loading, checked over the source tree (bench/, impls/, tests/): no pickle for data or
results, no shell, and every loader of arrays, checkpoints or models in its safe mode.

The Python files are parsed (ast), so that a comment or a string mentioning pickle does not count
and a call spread over several lines does. Rules:
- no import of pickle, cPickle, dill, cloudpickle, shelve, marshal or joblib; no pandas read_pickle;
- no shell: no `shell=True` anywhere, no os.system / os.popen / eval / exec, and every subprocess
  call gets its command as a list (so that a user's path is one argument, never shell text);
- np.load(..., allow_pickle=False), torch.load(..., weights_only=True), keras
  load_model(..., safe_mode=True): spelled out at every call;
- model-artifact loaders (torch.jit.load, torch.export.load, tf.saved_model.load, ONNX Runtime's
  InferenceSession, the TF Lite / LiteRT Interpreter) only in the export modules, which load only what
  the same run exported into its private folder (docs/FAILURE_MODES.md, "Exported models").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("bench", "impls", "tests") for p in (REPO / d).rglob("*.py"))

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib"}
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}
# Loaders of model artifacts (graphs or code someone wrote), by the last parts of the called name.
ARTIFACT_LOADERS = ("jit.load", "export.load", "saved_model.load", "InferenceSession", "Interpreter")
LOADER_MODULES = {"impls/torch/export.py", "impls/keras/export.py", "bench/measure/onnxrt.py"}


def dotted(node: ast.AST) -> str:
    """'np.load' for np.load(...), 'subprocess.run' for subprocess.run(...), '?.eval' for a method of a call's
    result (f().eval(): not the builtin eval), '' if not a plain name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else f"?.{node.attr}"
    return ""


def keyword(call: ast.Call, name: str) -> object:
    for k in call.keywords:
        if k.arg == name:
            return k.value.value if isinstance(k.value, ast.Constant) else "<expr>"
    return "<absent>"


def violations(source: str, label: str) -> list[str]:
    tree = ast.parse(source, filename=label)
    found: list[str] = []

    def bad(node: ast.AST, what: str) -> None:
        found.append(f"{label}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in UNSAFE_MODULES:
                    bad(node, f"imports {m}")
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        if keyword(node, "shell") not in ("<absent>", False):
            bad(node, f"{name}(shell=...)")
        if name in ("os.system", "os.popen", "eval", "exec", "os.execl", "os.execlp") or last == "read_pickle":
            bad(node, f"calls {name}")
        if name.startswith("subprocess.") and last in SUBPROCESS_CALLS:
            cmd = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
            if not isinstance(cmd, ast.List | ast.Tuple | ast.Name):
                bad(node, f"{name} without a command list")
        if name in ("np.load", "numpy.load") and keyword(node, "allow_pickle") is not False:
            bad(node, f"{name} without allow_pickle=False")
        if name == "torch.load" and keyword(node, "weights_only") is not True:
            bad(node, f"{name} without weights_only=True")
        if label not in LOADER_MODULES and any(name == a or name.endswith("." + a) for a in ARTIFACT_LOADERS):
            bad(node, f"{name}: a model-artifact loader outside {', '.join(sorted(LOADER_MODULES))}")
        if last == "load_model" and keyword(node, "safe_mode") is not True:
            bad(node, f"{name} without safe_mode=True")
    return found


def test_the_source_tree_is_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in SOURCES}
    assert {"bench/records/results.py", "bench/launching/launch.py", "bench/worker.py", "tests/test_safety.py"} <= names


def test_no_pickle_no_shell_and_safe_loaders_everywhere() -> None:
    found = [v for p in SOURCES for v in violations(p.read_text(encoding="utf-8"), str(p.relative_to(REPO)))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pickle", "imports pickle"),
        ("from joblib import load", "imports joblib"),
        ("import subprocess\nsubprocess.run('ls ' + p, shell=True)", "shell=..."),
        ("import subprocess\nsubprocess.check_output(f'ls {p}')", "without a command list"),
        ("import os\nos.system('rm ' + p)", "calls os.system"),
        ("import numpy as np\nnp.load(p)", "np.load without allow_pickle=False"),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", "np.load without allow_pickle=False"),
        ("import torch\ntorch.load(\n    p,\n)", "torch.load without weights_only=True"),
        ("import keras\nkeras.models.load_model(p)", "keras.models.load_model without safe_mode=True"),
        ("import pandas as pd\npd.read_pickle(p)", "calls pd.read_pickle"),
        ("import torch\ntorch.jit.load(p)", "torch.jit.load: a model-artifact loader outside"),
        ("import onnxruntime as ort\nort.InferenceSession(p)", "ort.InferenceSession: a model-artifact loader"),
        ("import tensorflow as tf\ntf.saved_model.load(p)", "tf.saved_model.load: a model-artifact loader"),
    ],
)
def test_the_check_bites(source: str, expected: str) -> None:
    found = violations(source, "probe.py")
    assert any(expected in v for v in found), found


def test_safe_calls_pass() -> None:
    source = (
        "import subprocess, sys, numpy as np\n"
        "subprocess.run([sys.executable, '-m', 'bench', p], check=False)\n"
        "with np.load(p, allow_pickle=False) as z:\n    pass\n"
        "torch.load(p, weights_only=True)\n"
    )
    assert violations(source, "probe.py") == []
