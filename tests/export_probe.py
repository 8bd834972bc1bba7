"""Export-parity probe, run in a subprocess by the export tests (the test process imports no framework).

    python -m tests.export_probe BACKEND [--workloads W ...] [--runtimes R ...] [--truncate] [--train]

Framework-neutral: it uses only `bench.core.backends.get(BACKEND).make(...)` and the adapter's `infer_fn()` and
`export_paths()`. For each workload it builds fresh weights (by default nothing is trained: parity of an
export does not need a trained model), takes the workload's inference inputs (a classifier's test split, the GAN's
`eval_z`, a DQN replay batch's observations), and compares with `backend.predict`:
- the backend's own inference path (infer_fn) over the whole set and at batch 1;
- every export path: export into a fresh folder (timed, sized), load (timed), run over the whole set and
  at batch 1; max |exported - predict|, argmax accuracy against the labels and argmax agreement;
- with --truncate, each artifact is then cut to half its size and loaded afresh: whether load (or the
  first call) raised, and the exception's type and message;
- with --train, the model first trains its quick profile's epochs (int8 accuracy means something only
  for a trained model).
Prints one JSON document on stdout; everything else the toolchains print goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import backends, workloads
from bench.core.spec import BackendOptions
from bench.measure import tasks

SAMPLE_ROWS = 8  # the export sample: more than one row, so that no exporter bakes in batch 1


def inference_set(task: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The inputs the export scenario checks a path on, and their labels where the task has any."""
    if isinstance(task, tasks.ClassifyTask):
        return task.ds.x_test, task.ds.y_test
    if isinstance(task, tasks.GanTask):
        return task.eval_z, None
    return task.example_batch()["obs"], None


def compare(out: np.ndarray, ref: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    """How far `out` is from the backend's predict `ref`."""
    if out.shape != ref.shape:
        return {"shape": list(out.shape), "expected_shape": list(ref.shape), "max_diff": None}
    diff = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64))))
    result: dict[str, Any] = {"max_diff": diff, "finite": bool(np.isfinite(out).all()), "dtype": str(out.dtype)}
    if out.ndim == 2:
        result["argmax_agreement"] = float((out.argmax(1) == ref.argmax(1)).mean())
        if y is not None:
            result["accuracy"] = float((out.argmax(1) == y).mean())
    return result


def one_line(e: BaseException) -> dict[str, Any]:
    text = str(e)
    return {"type": type(e).__name__, "message": text, "lines": len(text.splitlines())}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def truncated(path: Any, artifact: Path, x: np.ndarray) -> dict[str, Any]:
    """Cut the exported artifact to half its size, then load and call it afresh: what was raised."""
    with open(artifact, "r+b") as f:
        f.truncate(artifact.stat().st_size // 2)
    try:
        path.load(artifact)(x[:SAMPLE_ROWS])
    except Exception as e:
        return {"raised": True, **one_line(e)}
    return {"raised": False}


def run_path(path: Any, x: np.ndarray, ref: np.ndarray, y: np.ndarray | None, truncate: bool) -> dict[str, Any]:
    """Export, load and compare one path (the status as the export scenario records it); with `truncate`,
    then damage the artifact and load it again."""
    record: dict[str, Any] = {"engine": path.engine, "quantized": path.quantized}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            t0 = time.perf_counter()
            artifact = path.export(folder, x[:SAMPLE_ROWS])
            t1 = time.perf_counter()
            predict = path.load(artifact)
            t2 = time.perf_counter()
            record.update(compare(predict(x), ref, y))
            record["batch1"] = compare(predict(x[:1]), ref[:1], None)["max_diff"]
        except NotImplementedError as e:
            return {**record, "status": "unsupported", "error": one_line(e)}
        except Exception as e:
            return {**record, "status": "failed", "error": one_line(e)}
        record.update(status="ok", export_s=t1 - t0, load_s=t2 - t1, bytes=folder_bytes(folder))
        record["files"] = sorted(p.name for p in folder.rglob("*") if p.is_file())
        if truncate:
            record["truncated"] = truncated(path, artifact, x)
    record["settings"] = json.loads(json.dumps(path.settings, default=str))
    return record


def train(backend: Any, task: Any, epochs: int) -> None:
    """Epochs of the workload's own batches (--train: its quick-profile budget), so that accuracies, the
    int8 one above all, mean something."""
    for epoch in range(epochs):
        for batch in task.batches(epoch, backend):
            backend.train_step(backend.prepare(batch))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def probe_workload(name: str, backend_name: str, args: argparse.Namespace) -> dict[str, Any]:
    workload = workloads.get(name)
    backend: Any = backends.get(backend_name).make(BackendOptions("cpu", threads=2, interop_threads=1, seed=0))
    backend.build(workload, None)
    task = tasks.make(workload, seed=0)
    epochs = workload.quick_epochs if args.train else 0
    train(backend, task, epochs)
    x, y = inference_set(task)
    ref = backend.predict(x)
    result: dict[str, Any] = {"inputs": list(x.shape), "input_dtype": str(x.dtype), "trained_epochs": epochs}
    if y is not None:
        result["reference_accuracy"] = float((ref.argmax(1) == y).mean())
    infer = backend.infer_fn()
    result["infer"] = {**compare(infer(x), ref, y), "batch1": compare(infer(x[:1]), ref[:1], None)["max_diff"]}
    paths = [p for p in backend.export_paths() if args.runtimes is None or p.name in args.runtimes]
    result["order"] = [p.name for p in backend.export_paths()]
    result["paths"] = {p.name: run_path(p, x, ref, y, args.truncate) for p in paths}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend")
    parser.add_argument("--workloads", nargs="+", default=["mlp-iris"])
    parser.add_argument("--runtimes", nargs="+", default=None)
    parser.add_argument("--truncate", action="store_true", help="then load each artifact cut to half")
    parser.add_argument("--train", action="store_true", help="train the quick profile's epochs first")
    args = parser.parse_args(argv)
    stdout = os.dup(1)  # the JSON's; the toolchains' own prints (some from C++) go to stderr
    os.dup2(2, 1)
    report: dict[str, Any] = {"backend": args.backend, "workloads": {}}
    for name in args.workloads:
        started = time.perf_counter()
        try:
            report["workloads"][name] = probe_workload(name, args.backend, args)
        except NotImplementedError as e:
            report["workloads"][name] = {"unsupported": one_line(e)}
        report["workloads"][name]["seconds"] = time.perf_counter() - started
    sys.stdout.flush()
    with os.fdopen(stdout, "w") as out:
        json.dump(report, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
