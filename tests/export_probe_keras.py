"""Checks one Keras backend's inference and export paths on untrained workloads, in its own process, and
prints one JSON document on stdout (tests/test_export_keras.py runs it: the pytest process imports
neither torch nor tensorflow; each Keras backend needs its own process).

    python tests/export_probe_keras.py --backend keras --workloads mlp-iris lstm-sentiment \
        [--paths savedmodel tflite ...] [--truncate savedmodel tflite onnx-tf] [--no-export]

Per workload: `infer` (infer_fn against predict, over the whole inference set and at batch 1) and, for
backends that have export_paths, one entry per path: ok / unsupported / failed, max |exported - predict|,
the argmax accuracy of both (classification: against the labels; DQN: the greedy action agreement with
predict), export and load seconds and the artifact's bytes. `--truncate` exports the named paths of the first
workload again, cuts the main file to half its size, and records what loading and the first call raise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere

from bench.core import backends, spec, workloads  # noqa: E402
from bench.measure import tasks  # noqa: E402

CHUNK = 256  # the exported predict is called batch by batch, as a server would be


def inputs(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The workload's inference inputs and, for a classifier, their labels."""
    task = tasks.make(workloads.get(name), seed=0)
    if isinstance(task, tasks.ClassifyTask):
        return task.ds.x_test, task.ds.y_test
    if isinstance(task, tasks.GanTask):
        return task.eval_z, None
    return task.example_batch()["obs"], None


def in_chunks(predict: Any, x: np.ndarray) -> np.ndarray:
    return np.concatenate([predict(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)])


def accuracy(out: np.ndarray, ref: np.ndarray, y: np.ndarray | None) -> float | None:
    """Argmax accuracy against the labels; without labels, agreement with predict's argmax (a GAN's
    images have no argmax: None)."""
    if out.ndim != 2:
        return None
    target = y if y is not None else ref.argmax(axis=1)
    return float((out.argmax(axis=1) == target).mean())


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:400]


def check_infer(adapter: Any, x: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    fn = adapter.infer_fn()
    fn(x[:1])  # warm-up (the caller's job in the harness)
    out = fn(x)
    one = fn(x[:1])
    return {
        "max_diff": float(np.abs(out - ref).max()),
        "batch1_max_diff": float(np.abs(one - ref[:1]).max()),
        "dtype": str(out.dtype),
        "shape_ok": out.shape == ref.shape,
    }


def check_path(path: Any, x: np.ndarray, y: np.ndarray | None, ref: np.ndarray) -> dict[str, Any]:
    rec: dict[str, Any] = {"engine": path.engine, "quantized": path.quantized, "settings": path.settings}
    with tempfile.TemporaryDirectory(prefix="probe-export-") as tmp:
        folder = Path(tmp)
        try:
            t0 = time.perf_counter()
            main = path.export(folder, x[: min(len(x), 8)])
            rec["export_s"] = round(time.perf_counter() - t0, 3)
            rec["size_bytes"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            t0 = time.perf_counter()
            predict = path.load(main)
            rec["load_s"] = round(time.perf_counter() - t0, 3)
            out = in_chunks(predict, x)
            one = predict(x[:1])
        except NotImplementedError as e:
            return {**rec, "status": "unsupported", "error": one_line(e)}
        except Exception as e:
            return {**rec, "status": "failed", "error": one_line(e), "trace": traceback.format_exc()[-3000:]}
    rec.update(
        status="ok",
        dtype=str(out.dtype),
        shape_ok=out.shape == ref.shape,
        max_diff=float(np.abs(out - ref).max()),
        batch1_max_diff=float(np.abs(one - ref[:1]).max()),
        accuracy=accuracy(out, ref, y),
        agreement=accuracy(out, ref, None),  # argmax agreement with predict
        predict_accuracy=accuracy(ref, ref, y),
    )
    return rec


def check_truncated(path: Any, x: np.ndarray) -> dict[str, Any]:
    """Export, cut the main file to half, then load and call: what is raised, and where."""
    with tempfile.TemporaryDirectory(prefix="probe-trunc-") as tmp:
        main = path.export(Path(tmp), x[: min(len(x), 8)])
        data = main.read_bytes()
        main.write_bytes(data[: len(data) // 2])
        stage = "load"
        try:
            predict = path.load(main)
            stage = "call"
            predict(x[:2])
        except Exception as e:
            return {"raised": True, "stage": stage, "error": one_line(e), "multiline": "\n" in one_line(e)}
    return {"raised": False}


def probe_workload(adapter_info: Any, name: str, args: argparse.Namespace, truncate: list[str]) -> dict[str, Any]:
    adapter = adapter_info.make(spec.BackendOptions("cpu", 1, 1, 0))
    try:
        adapter.build(workloads.get(name), None)
    except NotImplementedError as e:  # this backend cannot train the model (e.g. keras-fit and the GAN)
        return {"unsupported": one_line(e)}
    x, y = inputs(name)
    ref = np.asarray(adapter.predict(x), dtype=np.float32)
    rec: dict[str, Any] = {"inputs": list(x.shape), "infer": check_infer(adapter, x, ref)}
    if args.no_export or not hasattr(adapter, "export_paths"):
        return rec
    paths = adapter.export_paths()
    rec["path_order"] = [p.name for p in paths]
    chosen = [p for p in paths if not args.paths or p.name in args.paths]
    rec["paths"] = {p.name: check_path(p, x, y, ref) for p in chosen}
    if truncate:
        rec["truncated"] = {p.name: check_truncated(p, x) for p in paths if p.name in truncate}
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="keras")
    parser.add_argument("--workloads", nargs="+", default=["mlp-iris"])
    parser.add_argument("--paths", nargs="*", default=[])
    parser.add_argument("--truncate", nargs="*", default=[])
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    info = backends.get(args.backend)
    doc: dict[str, Any] = {"backend": args.backend, "runtimes": list(spec.EXPORT_RUNTIMES["tensorflow"])}
    first = args.workloads[0]  # truncation is checked on the first workload only (it exports every path again)
    doc["workloads"] = {
        name: probe_workload(info, name, args, args.truncate if name == first else []) for name in args.workloads
    }
    doc["modules"] = sorted(m for m in ("torch", "tensorflow", "jax") if m in sys.modules)
    sys.stdout.flush()
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
