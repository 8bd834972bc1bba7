"""Runs one framework's input pipelines (impls/<framework>/pipeline.py) over image files, in its own process,
for tests/test_pipeline_frameworks.py (the pytest process imports neither torch nor tensorflow):

    python -m tests.pipeline_probe torch|keras REQUEST.json

REQUEST: {"cores", "out" (an .npz path), "runs": [{"name", "root", "format", "setting" (a name from
settings(cores)), "epochs": [e, ...], "spec": PipelineSpec's fields, "keep_x": bool}]}. Writes the rows'
"index", "y" (and "x" where keep_x) of run R's epoch e to `out` as "R/e/index" ...; prints one JSON document:
per run its epochs' seconds, describe(), and a PipelineError's message and seconds to it (None: none).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.interfaces.pipeline_spec import PipelineError, PipelineSpec, list_images


def run(framework: str, request: dict[str, Any]) -> dict[str, Any]:
    mod = importlib.import_module(f"impls.{framework}.pipeline")
    by_name = {s.name: s for s in mod.settings(request["cores"])}
    arrays: dict[str, np.ndarray] = {}
    report: dict[str, Any] = {"settings": list(by_name)}
    for r in request["runs"]:
        files = list_images(Path(r["root"]), r["format"])
        spec = PipelineSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in r["spec"].items()})
        pipe = mod.open_pipeline(files, spec, by_name[r["setting"]])
        out: dict[str, Any] = {"seconds": [], "error": None, "error_s": None, "describe": pipe.describe()}
        start = time.perf_counter()
        try:
            for e in r["epochs"]:
                t0 = time.perf_counter()
                rows: dict[str, list[np.ndarray]] = {"index": [], "y": [], "x": []}
                for batch in pipe.epoch(e):
                    for k in ("index", "y", *(("x",) if r.get("keep_x") else ())):
                        rows[k].append(np.asarray(batch[k]))
                out["seconds"].append(time.perf_counter() - t0)
                for k, v in rows.items():
                    if v:
                        arrays[f"{r['name']}/{e}/{k}"] = np.concatenate(v)
        except PipelineError as err:
            out["error"], out["error_s"] = str(err), time.perf_counter() - start
        finally:
            pipe.close()
        report[r["name"]] = out
    np.savez(request["out"], **arrays)
    return report


if __name__ == "__main__":
    framework, request_path = sys.argv[1], sys.argv[2]
    print(json.dumps(run(framework, json.loads(Path(request_path).read_text())), default=str))
