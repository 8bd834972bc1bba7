"""Results: the per-run record, the suite document, atomic JSON IO, and pandas frames.

One JSON document per suite run: results/runs/<run-id>.json (schema in docs/RESULTS_SCHEMA.md).
It is rewritten atomically (temp file + fsync + rename) after every completed run, so a crash
or Ctrl-C leaves every finished result readable; a new suite run never overwrites another's file.
No pickle anywhere: JSON only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import UsageError
from bench.spec import STATUSES

SCHEMA = "fwbench.results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Result:
    """One (workload, backend, device, repeat) run. Times in ms unless named _s; memory in MiB."""

    run_id: str
    workload: str
    backend: str
    framework: str
    device: str
    profile: str
    repeat: int
    status: str  # one of bench.spec.STATUSES
    reason: str  # why, when status != "ok" (last lines of stderr for a crash)
    pid: int | None  # the worker process (repeats are separate processes)
    started_at: str  # ISO 8601 UTC
    wall_s: float | None  # worker process lifetime as seen by the launcher
    config: dict[str, Any]  # the RunConfig
    workload_spec: dict[str, Any]
    dataset: dict[str, Any]
    settings: dict[str, Any]  # versions, threads, XLA, TF32, compile mode ... (backend.settings())
    warnings: list[str] = field(default_factory=list)
    metric_name: str = ""
    metric: float | None = None  # final value of the workload's target metric
    target: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # final evaluation
    final_loss: float | None = None
    epoch_loss: list[float] = field(default_factory=list)
    eval_history: list[dict[str, float]] = field(default_factory=list)
    num_params: int | None = None
    samples_per_step: int | None = None
    steps: int = 0
    first_step_ms: float | None = None
    warmup_step_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)  # steady state, raw
    median_step_ms: float | None = None
    mean_step_ms: float | None = None
    iqr_step_ms: float | None = None
    ci95_step_ms: list[float] | None = None  # bootstrap CI of the median
    throughput_samples_s: float | None = None  # samples_per_step / median step
    train_time_s: float | None = None  # all timed steps
    time_to_target_s: float | None = None  # None: not reached
    epochs_to_target: int | None = None
    memory: dict[str, Any] = field(default_factory=dict)  # peak_rss_mib, rss_after_setup_mib, device_* ...
    load_avg_1m: list[float] = field(default_factory=list)  # host load average at the run's start and end
    flops_per_step: float | None = None
    achieved_gflops: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def key(self) -> tuple[str, str, int]:
        return (self.workload, self.backend, self.repeat)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Result:
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = required - set(d)
        if missing:
            raise ValueError(f"result lacks {sorted(missing)}")
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"result has unknown fields {sorted(unknown)}")
        r = cls(**d)
        if r.status not in STATUSES:
            raise ValueError(f"result status {r.status!r} is not one of {', '.join(STATUSES)}")
        return r


@dataclass(frozen=True)
class Suite:
    """One suite run: what was asked, where it ran, and the results so far."""

    run_id: str
    created_at: str
    command: list[str]
    plan: dict[str, Any]  # workloads, backends, device, profile, repeats, seed, init, threads
    environment: dict[str, Any]
    results: list[Result]
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "command": self.command,
            "plan": self.plan,
            "environment": self.environment,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Suite:
        if not isinstance(d, Mapping) or d.get("schema") != SCHEMA:
            raise ValueError(
                f"not an fwbench results document (schema {d.get('schema') if isinstance(d, Mapping) else None!r})"
            )
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {d.get('schema_version')!r} is not supported (this fwbench reads {SCHEMA_VERSION})"
            )
        results = d.get("results")
        if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
            raise ValueError("'results' is not a list of objects")
        for k in ("run_id", "created_at", "plan", "environment", "command"):
            if k not in d:
                raise ValueError(f"document lacks {k!r}")
        return cls(
            run_id=str(d["run_id"]),
            created_at=str(d["created_at"]),
            command=list(d["command"]),
            plan=dict(d["plan"]),
            environment=dict(d["environment"]),
            results=[Result.from_dict(r) for r in results],
            finished_at=d.get("finished_at"),
        )

    def with_result(self, r: Result) -> Suite:
        return dataclasses.replace(self, results=[*self.results, r])


def _clean(x: Any) -> Any:
    """JSON has no NaN/inf: store them as strings so that nothing is silently turned into a number."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(obj), f, indent=1, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_path(out_dir: Path, run_id: str) -> Path:
    return out_dir / "runs" / f"{run_id}.json"


def create(out_dir: Path, suite: Suite) -> Path:
    """Write a new suite document; refuses to overwrite an existing one."""
    path = run_path(out_dir, suite.run_id)
    if path.exists():
        raise UsageError(f"{path} already exists: results are never overwritten")
    atomic_write_json(path, suite.to_dict())
    return path


def save(path: Path, suite: Suite) -> None:
    atomic_write_json(path, suite.to_dict())


def load(path: str | Path) -> Suite:
    """Read one suite document. Any problem is a UsageError naming the file and what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"results file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
        doc = json.loads(text)
        return Suite.from_dict(doc)
    except UnicodeDecodeError:
        raise UsageError(f"{p}: not a text (UTF-8) file") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise UsageError(f"{p}: {e}") from None


def resolve(paths: Sequence[str | Path], out_dir: Path) -> list[Path]:
    """Files to report on: those given (files or folders), else every run under out_dir/runs."""
    if not paths:
        found = sorted((out_dir / "runs").glob("*.json"))
        if not found:
            raise UsageError(f"no results under {out_dir / 'runs'}; run `fwbench run` first or name a results file")
        return found
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.glob("*.json")))
        else:
            files.append(p)
    return files


def load_all(paths: Iterable[str | Path]) -> list[Suite]:
    return [load(p) for p in paths]


SCALAR_COLUMNS = (
    "run_id",
    "workload",
    "backend",
    "framework",
    "device",
    "profile",
    "repeat",
    "status",
    "reason",
    "pid",
    "metric_name",
    "metric",
    "target",
    "final_loss",
    "num_params",
    "samples_per_step",
    "steps",
    "first_step_ms",
    "median_step_ms",
    "mean_step_ms",
    "iqr_step_ms",
    "throughput_samples_s",
    "train_time_s",
    "time_to_target_s",
    "epochs_to_target",
    "flops_per_step",
    "achieved_gflops",
)


def to_frame(suites: Iterable[Suite]) -> pd.DataFrame:
    """One row per result: the scalar fields, CI bounds, memory figures, and the raw step list."""
    rows = []
    for s in suites:
        for r in s.results:
            row: dict[str, Any] = {c: getattr(r, c) for c in SCALAR_COLUMNS}
            row["created_at"] = s.created_at
            row["ci95_low_ms"], row["ci95_high_ms"] = r.ci95_step_ms if r.ci95_step_ms else (None, None)
            for k, v in r.memory.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    row[f"mem_{k}"] = v
            row["memory_kind"] = r.memory.get("kind")
            row["step_ms"] = r.step_ms
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else [*SCALAR_COLUMNS, "created_at"])
