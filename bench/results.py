"""Results: the per-run record, the suite document, atomic JSON IO, and pandas frames.

One JSON document per suite run: results/runs/<run-id>.json (schema in docs/RESULTS_SCHEMA.md).
It is rewritten atomically (temp file + fsync + rename) after every completed run, so a crash
or Ctrl-C leaves every finished result readable; a new suite run never overwrites another's file.
No pickle anywhere: JSON only.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import tempfile
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench import workloads
from bench.errors import UsageError
from bench.spec import STATUSES, RunConfig

SCHEMA = "fwbench.results"
SCHEMA_VERSION = 3  # 3: scenario per result; 2: seed, settled, cpu (seeds, contention); 1 and 2 are still read
READABLE_VERSIONS = (1, 2, 3)


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
    flops_per_step: float | None = None  # analytic (bench/flops.py), the same for every backend
    achieved_gflops: float | None = None  # flops_per_step / median step time
    matmul_peak_gflops: float | None = None  # this framework's float32 matmul, measured in the same suite
    peak_fraction: float | None = None  # achieved_gflops / matmul_peak_gflops
    seed: int | None = None  # training seed: initial weights, batch order, dropout (None: files before seeds)
    settled: bool | None = None  # whether the steady-state rule found a settled window (bench.harness)
    cpu: dict[str, Any] = field(default_factory=dict)  # what CPU the run got (bench.contention.CpuUsage)
    scenario: str = "train"  # what the run measured (bench.spec.SCENARIOS); files before scenarios: "train"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def contended(self) -> bool:
        """Other processes took cores this run asked for (bench.contention): its timings are not trusted."""
        return bool(self.cpu.get("contended"))

    def key(self, default_seed: int = 0) -> tuple[str, str, int, int]:
        """(workload, backend, seed, repeat): what the launcher runs once. Files before seeds had one seed."""
        return (self.workload, self.backend, self.seed if self.seed is not None else default_seed, self.repeat)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "result") -> Result:
        r = cls(**typed_fields(cls, d, where))
        if r.status not in STATUSES:
            raise ValueError(f"{where}: status {r.status!r} is not one of {', '.join(STATUSES)}")
        return r


def new_result(
    cfg: RunConfig, framework: str, status: str, reason: str, started_at: str, pid: int | None, **measured: Any
) -> Result:
    """Every Result is made here, ok or not: identity, config and workload spec from the RunConfig; the
    measurements (or nothing, for a run that produced none) as keyword fields."""
    wl = workloads.get(cfg.workload)
    return Result(
        run_id=cfg.run_id,
        workload=cfg.workload,
        backend=cfg.backend,
        framework=framework,
        device=cfg.device,
        profile=cfg.profile,
        repeat=cfg.repeat,
        seed=cfg.seed,
        status=status,
        reason=reason,
        pid=pid,
        started_at=started_at,
        config=cfg.to_dict(),
        workload_spec=wl.to_dict(),
        metric_name=wl.metric,
        target=wl.target,
        **{"wall_s": None, "dataset": {}, "settings": {}, **measured},
    )


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
        version = d.get("schema_version")
        if type(version) is not int or version not in READABLE_VERSIONS:  # not 1.0, not true
            raise ValueError(
                f"schema_version {version!r} is not supported (this fwbench reads "
                f"{', '.join(map(str, READABLE_VERSIONS))})"
            )
        results = d.get("results")
        if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
            raise ValueError("'results' is not a list of objects")
        return cls(**typed_fields(cls, d, "", ignore=("schema", "schema_version")))

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


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}  # how _clean stores them


def json_kind(v: Any) -> str:
    """What a JSON value is, for messages: 'string 'abc'', 'null', 'a list' ..."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, int | float):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"string {v[:40]!r}"
    return {dict: "an object", list: "a list"}.get(type(v), type(v).__name__)


def type_name(hint: Any) -> str:
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return str(hint).replace("typing.", "")


PLAIN: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), float: (float, int)}  # exact types (no bool)


def conform(value: Any, hint: Any, where: str) -> Any:
    """A value read from JSON, checked against a field's type annotation (recursively).

    Returns the value as stored, except that a float written as "nan"/"inf"/"-inf" (see _clean) is
    a float again. Anything else of the wrong type is a ValueError naming `where`: never coerced.
    An int is accepted where a float is expected (JSON does not tell 1 from 1.0); a bool is not.
    """
    if hint is Any or (type(value) is hint and hint in (str, int, float, bool)):  # the common case, quickly
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for a in options:
            try:
                return conform(value, a, where)
            except ValueError as e:  # X | None: X's own message when the fault lies deeper inside the value
                if len(options) == 1 and not str(e).startswith(f"{where}: expected "):
                    raise
    elif dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return hint.from_dict(value, where)
    elif origin in (list, tuple) and isinstance(value, list | tuple):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(conform(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        if item in PLAIN and all(type(v) in PLAIN[item] for v in value):  # e.g. step_ms, quickly
            return list(value) if origin is list else tuple(value)
        items = [conform(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    elif origin in (dict, Mapping) and isinstance(value, Mapping):
        vtype = args[1] if args else Any
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{where}: key {bad[0]!r} is not a string")
        if vtype in PLAIN and all(type(v) in PLAIN[vtype] for v in value.values()):  # e.g. metrics, quickly
            return dict(value)
        return {k: conform(v, vtype, f"{where}.{k}") for k, v in value.items()}
    elif hint is float:
        if isinstance(value, str) and value in NON_FINITE:
            return NON_FINITE[value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif origin is None and hint is not type(None) and isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ValueError(f"{where}: expected {type_name(hint)}, got {json_kind(value)}")


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def typed_fields(cls: type, d: Any, where: str, ignore: Sequence[str] = ()) -> dict[str, Any]:
    """The fields of dataclass `cls` from a JSON object, each checked against its annotation.

    Required fields must be present, unknown keys (other than `ignore`) are refused; fields with a
    default may be absent (files written before the field existed). `where` names the object."""
    if not isinstance(d, Mapping):
        raise ValueError(f"{where or 'the document'}: expected an object, got {json_kind(d)}")
    fields = dataclasses.fields(cls)
    missing = [
        f.name
        for f in fields
        if f.name not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"{where or 'the document'} lacks {missing}")
    names = {f.name for f in fields}
    unknown = sorted(k for k in d if k not in names and k not in ignore)
    if unknown:
        raise ValueError(f"{where or 'the document'} has unknown fields {unknown}")
    hints = field_types(cls)
    return {k: conform(v, hints[k], f"{where}.{k}" if where else k) for k, v in d.items() if k in names}


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
    if p.is_dir():
        raise UsageError(f"results file {str(p)!r} is a folder")
    if not p.is_file():
        raise UsageError(f"results file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
        doc = parse_json(text)
        return Suite.from_dict(doc)
    except OSError as e:
        raise UsageError(f"{p}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{p}: not a text (UTF-8) file") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise UsageError(f"{p}: nested too deeply to be an fwbench results document") from None
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise UsageError(f"{p}: {e}") from None


def parse_json(text: str) -> Any:
    """json.loads, stricter: no bare NaN/Infinity, no number overflowing to inf, no key twice in an
    object (Python would keep the last silently). The writer never produces any of these."""

    def constant(name: str) -> Any:
        raise ValueError(f"bare {name} is not JSON (non-finite numbers are stored as strings)")

    def finite(number: str) -> float:
        v = float(number)
        if not math.isfinite(v):
            raise ValueError(f"number {number[:40]} is out of range")
        return v

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k, v in pairs:
            if k in d:
                raise ValueError(f"key {k!r} appears twice in one object")
            d[k] = v
        return d

    return json.loads(text, parse_constant=constant, parse_float=finite, object_pairs_hook=unique)


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
            found = sorted(p.glob("*.json"))
            if not found:
                hint = (
                    f"; its runs/ folder has {len(list((p / 'runs').glob('*.json')))} (name {p / 'runs'})"
                    if (p / "runs").is_dir()
                    else ""
                )
                raise UsageError(f"{p} holds no results files (*.json at its top level){hint}")
            files.extend(found)
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
