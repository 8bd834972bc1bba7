"""Parity proof between the twins, one framework per process.

`python -m bench.measure.parity BACKEND WORKLOAD INIT.npz OUT.npz [--precision=P] [KEY=VALUE ...]` builds the
twin of WORKLOAD (at its ParityCase's reduced size) in BACKEND's framework (float32 unless --precision,
CPU, deterministic, one thread); native torch writes its initial weights to INIT.npz (canonical layout),
every other backend loads them; then it writes to OUT.npz:
  outputs    forward outputs (eval mode) on the task's first batch
  loss       the loss of one SGD step (lr 0.1, momentum 0) from those weights on that batch
  w/<name>   the canonical weights after that step
  num_params trainable parameters
KEY=VALUE pairs override model_kwargs on this side only (the mutation check of the tests).
Dropout is set to 0 for the step, so both sides compute the same function.

A backend that cannot train WORKLOAD (its adapter raises NotImplementedError) writes no OUT.npz and
exits 3 with `unsupported: REASON` on stderr.

`compare(a, b)` gives the differences; tests/test_parity.py asserts them. The test process
imports neither framework: torch and tensorflow never meet in one process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import backends, workloads
from bench.core.spec import BackendOptions, OptimizerSpec, Workload
from bench.measure import tasks
from bench.measure.run_support import load_weights

PARITY_SGD = OptimizerSpec("sgd", lr=0.1, momentum=0.0)


def parity_workload(name: str, overrides: dict[str, Any]) -> Workload:
    """The workload as the parity test runs it: SGD, no dropout, at its ParityCase's reduced size (both
    sides), then `overrides` (the mutant's, keras side only)."""
    wl = workloads.get(name)
    case = wl.parity
    kwargs = dict(wl.model_kwargs)
    if "dropout" in kwargs:
        kwargs["dropout"] = 0.0
    kwargs.update(case.model_kwargs if case else {})
    kwargs.update(overrides)
    return dataclasses.replace(
        wl,
        optimizer=PARITY_SGD,
        model_kwargs=kwargs,
        batch_size=(case.batch_size if case else None) or wl.batch_size,
        dataset=(case.dataset if case else None) or wl.dataset,
    )


def run_side(
    backend_name: str,
    workload: str,
    init_path: Path,
    out_path: Path,
    overrides: dict[str, Any],
    precision: str = "fp32",
) -> None:
    """One side. Native torch (the reference) builds from its own seeded initialisers and writes them to
    `init_path`, in the canonical layout; every other side loads them from there. In a mixed `precision`
    (bf16) the forward runs as training does (torch.autocast, Keras' mixed dtype policy)."""
    wl = parity_workload(workload, overrides)
    info = backends.get(backend_name)
    backend = info.make(BackendOptions("cpu", 1, 1, 0, deterministic=True, precision=precision))
    task = tasks.make(wl, seed=0)
    batch = task.example_batch()
    if info.framework == "torch" and info.keras_backend is None:
        backend.build(wl, None)
        np.savez(init_path, **backend.get_weights())
    else:
        backend.build(wl, load_weights(init_path))
    outputs = backend.predict(batch[task.predict_key])
    loss = backend.train_step(backend.prepare(batch))
    after = fold(backend.get_weights(), getattr(backend.mod, "PARITY_FOLDS", {}))
    np.savez(
        out_path,
        outputs=outputs,
        loss=np.float64(loss),
        num_params=np.int64(backend.num_params()),
        **{f"w/{k}": v for k, v in after.items()},
    )


def fold(weights: dict[str, np.ndarray], folds: dict[str, str]) -> dict[str, np.ndarray]:
    """Canonical weights with the redundant pairs a twin module declares (`PARITY_FOLDS`, source -> target)
    merged by addition: e.g. nn.LSTM's b_ih + b_hh, which Keras' LSTM holds as one bias. Only declared
    pairs fold: a GRU's two biases are not interchangeable, so a GRU twin declares none. Both twins
    declare the same pairs; if they do not, the weight names differ and `compare` says which."""
    out = dict(weights)
    for source, target in folds.items():
        if source not in out or target not in out:
            raise ValueError(
                f"PARITY_FOLDS names {source} -> {target}, but the weights lack {source if source not in out else target}"
            )
        out[target] = out[target] + out.pop(source)
    return out


def load_side(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        w = {k[2:]: z[k] for k in z.files if k.startswith("w/")}
        return {
            "outputs": z["outputs"],
            "loss": float(z["loss"]),
            "num_params": int(z["num_params"]),
            "weights": w,
        }


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Max absolute differences between two sides' outputs, loss and updated weights."""
    wa, wb = a["weights"], b["weights"]
    if set(wa) != set(wb):
        raise AssertionError(f"canonical weight names differ: {sorted(set(wa) ^ set(wb))}")
    shape_ok = a["outputs"].shape == b["outputs"].shape
    return {
        "num_params": (a["num_params"], b["num_params"]),
        "outputs_shape": (a["outputs"].shape, b["outputs"].shape),
        "outputs_max_abs": float(np.max(np.abs(a["outputs"] - b["outputs"]))) if shape_ok else float("inf"),
        "outputs_scale": float(np.max(np.abs(a["outputs"]))),  # the largest |output| of the first side
        # whether every output is a bfloat16 value (float32 with the low 16 bits zero): computed in bf16
        "outputs_in_bf16": (bf16_values(a["outputs"]), bf16_values(b["outputs"])),
        "loss_abs": abs(a["loss"] - b["loss"]),
        "weights_max_abs": {k: float(np.max(np.abs(wa[k] - wb[k]))) for k in wa},
    }


def bf16_values(x: np.ndarray) -> bool:
    """Whether every element of float32 `x` is exactly a bfloat16 number (its low 16 bits are zero)."""
    return bool(np.all(np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) & 0xFFFF == 0))


UNSUPPORTED_EXIT = 3


@dataclasses.dataclass(frozen=True)
class Case:
    """One side of one parity check, as a batch lists it (`python -m bench.measure.parity --batch PLAN.json`).
    `variant` names the check ("fp32", "mutant", "bf16"); `overrides` are the keras side's model_kwargs
    overrides (the mutant's)."""

    workload: str
    variant: str
    init: str  # INIT.npz path: written by native torch, read by every other backend
    out: str  # OUT.npz path
    precision: str = "fp32"
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


def run_batch(backend_name: str, cases: list[Case]) -> dict[str, str]:
    """Every case of one backend in this one process (each case builds its twin afresh from the same
    seeded settings, so the order of cases changes nothing). Returns {out path: "ok" | "unsupported:
    REASON" | "error: ..."}; a case that fails does not stop the others."""
    import gc
    import traceback

    status: dict[str, str] = {}
    for c in cases:
        try:
            run_side(backend_name, c.workload, Path(c.init), Path(c.out), c.overrides, c.precision)
            status[c.out] = "ok"
        except NotImplementedError as e:
            status[c.out] = f"unsupported: {e}"
        except Exception:  # recorded for the test that reads this case; the other cases go on
            status[c.out] = "error: " + traceback.format_exc()[-3000:]
        gc.collect()
    return status


def _run_batch_process(backend: str, cases: list[Case], tmp: Path, timeout: float) -> dict[str, str]:
    """`python -m bench.measure.parity --batch` for one backend, in its own process (one framework per process)."""
    plan, status = tmp / f"plan-{backend}.json", tmp / f"status-{backend}.json"
    plan.write_text(json.dumps({"backend": backend, "cases": [dataclasses.asdict(c) for c in cases]}))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.measure.parity", "--batch", str(plan), str(status)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or not status.is_file():
        err = f"error: parity batch of {backend} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        return {c.out: err for c in cases}
    return json.loads(status.read_text())


@dataclasses.dataclass(frozen=True)
class Check:
    """What tests/test_parity.py asks: a workload, the keras-side backend, the variant ("fp32": the twins;
    "mutant": the keras side built with the case's mutant; "bf16": both sides in bf16)."""

    workload: str
    backend: str
    variant: str = "fp32"


def prove_all(checks: list[Check], tmp: Path, parallel: int = 2, timeout: float = 1800) -> dict[Check, dict[str, Any]]:
    """Every check with one process per backend instead of one per check: native torch first (it writes
    the initial weights of every workload and precision), then each keras-side backend's batch, `parallel`
    at a time (each its own process: TensorFlow, JAX and Keras-on-torch never share one). Returns
    {check: `compare`'s report} or {"unsupported": reason} or {"error": text}."""
    from concurrent.futures import ThreadPoolExecutor

    def init(c: Check) -> Path:
        return tmp / f"{c.workload}-{c.variant if c.variant == 'bf16' else 'fp32'}-init.npz"

    def torch_out(c: Check) -> Path:
        return tmp / f"{c.workload}-{c.variant if c.variant == 'bf16' else 'fp32'}-torch-eager.npz"

    def precision(c: Check) -> str:
        return "bf16" if c.variant == "bf16" else "fp32"

    torch_cases = {
        torch_out(c): Case(c.workload, precision(c), str(init(c)), str(torch_out(c)), precision(c)) for c in checks
    }
    torch_status = _run_batch_process("torch-eager", list(torch_cases.values()), tmp, timeout)

    by_backend: dict[str, list[tuple[Check, Case]]] = {}
    for c in checks:
        overrides = workloads.get(c.workload).parity.mutant() if c.variant == "mutant" else {}  # type: ignore[union-attr]
        case = Case(c.workload, c.variant, str(init(c)), str(tmp / f"{c.workload}-{c.variant}-{c.backend}.npz"),
                    precision(c), overrides)  # fmt: skip
        by_backend.setdefault(c.backend, []).append((c, case))
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = {
            b: pool.submit(_run_batch_process, b, [case for _, case in pairs], tmp, timeout)
            for b, pairs in by_backend.items()
        }
        statuses = {b: f.result() for b, f in futures.items()}

    out: dict[Check, dict[str, Any]] = {}
    for b, pairs in by_backend.items():
        for c, case in pairs:
            t = torch_status[str(torch_out(c))]
            k = statuses[b][case.out]
            if t != "ok":
                out[c] = {"error": f"torch side: {t}"}
            elif k.startswith("unsupported: "):
                out[c] = {"unsupported": k.removeprefix("unsupported: ")}
            elif k != "ok":
                out[c] = {"error": k}
            else:
                out[c] = compare(load_side(torch_out(c)), load_side(Path(case.out)))
    return out


USAGE = (
    "usage: python -m bench.measure.parity BACKEND WORKLOAD INIT.npz OUT.npz [--precision=P] [KEY=JSON ...]\n"
    "       python -m bench.measure.parity --batch PLAN.json STATUS.json"
)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--batch"]:
        if len(argv) != 3:
            print(USAGE, file=sys.stderr)
            return 2
        plan = json.loads(Path(argv[1]).read_text())
        status = run_batch(plan["backend"], [Case(**c) for c in plan["cases"]])
        Path(argv[2]).write_text(json.dumps(status))
        return 0
    if len(argv) < 4:
        print(USAGE, file=sys.stderr)
        return 2
    flags = [a for a in argv[4:] if a.startswith("--precision=")]
    precision = flags[-1].split("=", 1)[1] if flags else "fp32"
    overrides = {k: json.loads(v) for k, v in (a.split("=", 1) for a in argv[4:] if a not in flags)}
    try:
        run_side(argv[0], argv[1], Path(argv[2]), Path(argv[3]), overrides, precision)
    except NotImplementedError as e:
        print(f"unsupported: {e}", file=sys.stderr)
        return UNSUPPORTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
