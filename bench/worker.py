"""One measured run in a fresh process: `python -m bench.worker run CONFIG.json OUT.json`.

The launcher (bench/launch.py) starts one of these per (workload, backend, repeat), so that
torch and tensorflow never share a process and memory peaks never mix. Thread counts come in
through the environment (set by the launcher before the interpreter starts) and through the
backend's constructor (before the framework's first op). Also:
`python -m bench.worker export-init WORKLOAD SEED OUT.npz` writes the torch twin's initial
weights in canonical layout, which every backend loads under `--init shared`.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench import backends, harness, results, stats, tasks, workloads
from bench.spec import PROFILES, RunConfig

MIB = 1024.0**2


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / MIB


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


def load_weights(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def base_result(cfg: RunConfig, framework: str, started_at: str, **kw: Any) -> results.Result:
    wl = workloads.get(cfg.workload)
    return results.Result(
        run_id=cfg.run_id,
        workload=cfg.workload,
        backend=cfg.backend,
        framework=framework,
        device=cfg.device,
        profile=cfg.profile,
        repeat=cfg.repeat,
        pid=os.getpid(),
        started_at=started_at,
        wall_s=None,
        config=cfg.to_dict(),
        workload_spec=wl.to_dict(),
        metric_name=wl.metric,
        target=wl.target,
        **kw,
    )


def inject(fault: str | None) -> None:
    """Fault injection for the isolation tests (RunConfig.fault)."""
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif fault == "hang":
        time.sleep(3600)
    elif fault == "raise":
        raise RuntimeError("injected failure")
    elif fault == "oom":
        raise MemoryError("injected: out of memory")


def measure(cfg: RunConfig) -> results.Result:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_start = os.getloadavg()[0]
    info = backends.get(cfg.backend)
    wl = workloads.get(cfg.workload)
    profile = PROFILES[cfg.profile]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        backend = info.load()(cfg.device, cfg.threads, cfg.interop_threads, cfg.seed, cfg.deterministic)
        rss_imports = rss_mib()
        task = tasks.make(wl, cfg.seed, cfg.data_dir)
        rss_data = rss_mib()
        init = load_weights(cfg.init_path) if cfg.init == "shared" and cfg.init_path else None
        try:
            backend.build(wl, init)
        except NotImplementedError as e:
            return base_result(
                cfg,
                info.framework,
                started_at,
                status="unsupported",
                reason=str(e),
                dataset=task.describe(),
                settings=backend.settings(),
            )
        inject(cfg.fault)
        backend.reset_peak_memory()
        epochs = cfg.epochs_override or wl.epochs_for(cfg.profile)
        m = harness.run(backend, task, epochs, profile.warmup_steps, poison_step=3 if cfg.fault == "diverge" else None)
    summary = stats.summarize(m.step_ms, seed=cfg.seed)
    median = summary["median_step_ms"]
    peak = peak_rss_mib()
    device_mem = backend.device_memory()
    memory: dict[str, Any] = {
        "kind": "allocator_peak" if device_mem else "peak_rss",
        "peak_mib": device_mem.get("allocator_peak_allocated_mib", peak) if device_mem else peak,
        "peak_rss_mib": peak,
        "rss_after_imports_mib": rss_imports,
        "rss_after_data_mib": rss_data,
        "model_share_rss_mib": peak - rss_data,
        **{f"device_{k}": v for k, v in device_mem.items()},
    }
    seen: dict[str, None] = {}
    for w in caught:
        seen.setdefault(f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}", None)
    status, reason = "ok", ""
    if m.diverged_at_step is not None:
        status, reason = "diverged", f"loss {m.final_loss} at step {m.diverged_at_step}"
    return base_result(
        cfg,
        info.framework,
        started_at,
        status=status,
        reason=reason,
        dataset=task.describe(),
        settings=backend.settings(),
        warnings=list(seen)[:20],
        metric=m.final_metrics.get(wl.metric),
        metrics=m.final_metrics,
        final_loss=m.final_loss,
        epoch_loss=m.epoch_loss,
        eval_history=m.eval_history,
        num_params=backend.num_params(),
        samples_per_step=task.samples_per_step,
        steps=m.steps,
        first_step_ms=m.first_step_ms,
        warmup_step_ms=m.warmup_step_ms,
        step_ms=m.step_ms,
        median_step_ms=median,
        mean_step_ms=summary["mean_step_ms"],
        iqr_step_ms=summary["iqr_step_ms"],
        ci95_step_ms=summary["ci95_step_ms"],
        throughput_samples_s=task.samples_per_step / (median / 1e3) if median else None,
        train_time_s=m.train_time_s,
        time_to_target_s=m.time_to_target_s,
        epochs_to_target=m.epochs_to_target,
        memory=memory,
        load_avg_1m=[load_start, os.getloadavg()[0]],
    )


def export_init(workload: str, seed: int, out: Path) -> None:
    info = backends.get("torch-eager")
    backend = info.load()("cpu", 1, 1, seed, False)
    backend.build(workloads.get(workload), None)
    w = backend.get_weights()
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **w)
    os.replace(tmp, out)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "run":
        cfg = RunConfig.from_dict(json.loads(Path(argv[1]).read_text()))
        result = measure(cfg)
        results.atomic_write_json(Path(argv[2]), result.to_dict())
        return 0
    if len(argv) == 4 and argv[0] == "export-init":
        export_init(argv[1], int(argv[2]), Path(argv[3]))
        return 0
    print("usage: python -m bench.worker run CONFIG.json OUT.json | export-init WORKLOAD SEED OUT.npz", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
