"""Results: the per-run record, the suite document and its atomic JSON IO (as a pandas DataFrame for a notebook:
bench/records/frames.py).

One JSON document per suite run: results/runs/<run-id>.json (schema in docs/RESULTS_SCHEMA.md).
It is rewritten atomically (temp file + fsync + rename) after every completed run, so a crash
or Ctrl-C leaves every finished result readable; a new suite run never overwrites another's file.
No pickle anywhere: JSON only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core import workloads
from bench.core.errors import UsageError
from bench.core.plan import SuitePlan
from bench.core.spec import STATUSES, RunConfig, RunKey
from bench.core.typedjson import atomic_write_json, parse_json, typed_fields

SCHEMA = "fwbench.results"
# 8: the pipeline scenario's record per result (older files: none); within 8, the profile scenario's step_profile
#    (older files: none).
# 7: nodes in the plan, each config and the distributed record (older files: one node).
# 5: workers, deployment (infer/export), distributed per result.
# 4: precision per result (fp32 before). 3: scenario per result; typed memory (device allocator figures under memory.device); `source` for
#    records fwbench converted rather than ran. 2: seed, settled, cpu (seeds, contention).
SCHEMA_VERSION = 8
READABLE_VERSIONS = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
)  # older files are read as they are; written back (resume) as the current one


@dataclass(frozen=True)
class Memory:
    """A run's memory figures (MiB). `peak_mib` is the one compared: the process's peak RSS on CPU, the
    framework allocator's peak on GPU (`kind` says which; bench.machine.memory and docs/METHODOLOGY.md)."""

    kind: str = ""  # "peak_rss" | "allocator_peak" | "" (not measured: a failed or converted run)
    peak_mib: float | None = None
    peak_rss_mib: float | None = None  # the worker process, whole lifetime
    rss_after_imports_mib: float | None = None  # framework imported, backend constructed
    rss_after_data_mib: float | None = None  # the dataset loaded
    model_share_rss_mib: float | None = None  # peak_rss - rss_after_data: what building and training added
    device: dict[str, float] = field(default_factory=dict)  # allocator statistics (Backend.device_memory())
    nvml_process_peak_mib: float | None = None  # the driver's view of the process (cuda)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "memory") -> Memory:
        """Files before schema 3 kept the allocator statistics as flat `device_<name>` keys."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected an object")
        flat = {k.removeprefix("device_"): v for k, v in d.items() if k.startswith("device_")}
        d = {k: v for k, v in d.items() if not k.startswith("device_")}
        if flat:
            d["device"] = {**flat, **(d.get("device") or {})}
        return cls(**typed_fields(cls, d, where))


@dataclass(frozen=True)
class Energy:
    """The GPU's energy over a run's training loop, from NVML's total-energy counter (bench.machine.memory)."""

    joules: float | None = None
    per_step_j: float | None = None
    per_sample_j: float | None = None
    to_target_j: float | None = None  # up to the evaluation that reached the target
    window_s: float | None = None  # the wall time the joules were spent in
    note: str = ""  # what the window holds, or why there is no figure

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "energy") -> Energy:
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected an object")
        return cls(**typed_fields(cls, d, where))


@dataclass(frozen=True)
class Latency:
    """Milliseconds per call of one predict at a fixed batch, over `calls` calls after the warm-up."""

    batch: int = 1
    calls: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    ci95_p50_ms: list[float] | None = None  # bootstrap 95% CI of the median
    samples_ms: list[float] = field(default_factory=list)  # every timed call, in order


@dataclass(frozen=True)
class Generation:
    """Greedy generation at one batch size with the library's own `generate` and its KV cache (the infer
    scenario of a decoder workload; bench/measure/generation.py, docs/METHODOLOGY.md "Generation")."""

    batch: int
    prompt_tokens: int
    new_tokens: int
    implementation: str = ""  # the library call and its cache, e.g. "transformers generate, dynamic cache"
    ttft_ms: list[float] = field(default_factory=list)  # each timed generate of 1 new id: prefill + first id
    total_ms: list[float] = field(default_factory=list)  # each timed generate of new_tokens ids
    ttft_p50_ms: float | None = None  # time to first token
    total_p50_ms: float | None = None
    decode_ms_per_token: float | None = None  # (total_p50 - ttft_p50) / (new_tokens - 1): time per output token
    tokens_s: float | None = None  # batch * new_tokens / total_p50: generated ids per second
    kv_cache_mib: float | None = None  # 2 (keys, values) x layers x batch x kv_heads x head_dim x (prompt + new) x 4 B
    peak_rss_mib: float | None = None  # the worker's peak after generating (CPU)
    tokens: list[list[int]] = field(default_factory=list)  # the generated ids, per row
    # per row and new position: the backend's own forward on the generated sequence, top-1 minus top-2 logit
    # where that id was chosen (how close the greedy choice was)
    margins: list[list[float]] = field(default_factory=list)
    forward_agrees: float | None = None  # share of generated ids that are the forward's argmax (1.0: consistent)


@dataclass(frozen=True)
class Deployment:
    """One runtime of an infer or export run: the backend's own inference path ("infer"), or one export
    path loaded in its runtime ("export"; bench.scenarios.export). Sizes in MiB, times in s unless named _ms."""

    runtime: str  # the backend's name (infer), or one of bench.core.spec.RUNTIMES (export)
    status: str = "ok"  # "ok" | "failed" | "unsupported"
    reason: str = ""
    description: str = ""  # how it is exported and loaded
    framework: str = ""  # the framework that produced the model
    engine: str = ""  # what executes it: "torch", "onnxruntime 1.32.0", "litert 2.3.0", "tensorflow" ...
    quantized: bool = False  # post-training dynamic-range int8
    export_s: float | None = None
    size_mib: float | None = None  # every file the export wrote
    load_s: float | None = None
    max_abs_diff: float | None = None  # against the framework's own predict, over the inference set
    metric: float | None = None  # the workload's metric of this runtime's outputs (accuracy ...)
    native_metric: float | None = None  # the same metric from the framework's own predict
    latency: Latency = field(default_factory=Latency)  # batch 1
    throughput_samples_s: dict[str, float] = field(default_factory=dict)  # by batch size ("1", "8", "64", ...)
    max_batch: int | None = None  # the largest batch tried that ran within the memory budget (infer)
    settings: dict[str, Any] = field(default_factory=dict)  # session options, threads, opset ...


@dataclass(frozen=True)
class Distributed:
    """A data-parallel run (bench.scenarios.distributed): per-rank figures, the slowest rank's step as the step."""

    workers: int = 1  # per node
    scaling: str = "weak"  # bench.core.spec.SCALINGS
    per_worker_batch: int | None = None
    global_batch: int | None = None
    engine: str = ""  # "torch DDP (gloo)", "tf.distribute.MultiWorkerMirroredStrategy (RING)" ...
    launcher: str = ""  # "torchrun", "TF_CONFIG per process" ...
    threads_per_worker: int | None = None
    rank_median_step_ms: list[float] = field(default_factory=list)
    rank_peak_rss_mib: list[float] = field(default_factory=list)
    allreduce_share: float | None = None  # of the step, where the framework exposes it
    failed_rank: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    nodes: int = 1  # the world is nodes x workers ranks; files before nodes: one node


@dataclass(frozen=True)
class PipelineRun:
    """One setting of a pipeline run (bench/scenarios/pipeline.py). Times in ms, rates in samples/s, memory in MiB."""

    setting: str  # "default", "workers=2", "autotune+cache" ...
    tuned: bool  # False: the framework's documented defaults
    workers: int  # parallel decoders, for the samples/s-against-workers plot (AUTOTUNE: 0)
    description: dict[str, Any] = field(default_factory=dict)  # the framework calls and their arguments
    status: str = "ok"  # "ok" | "failed"
    reason: str = ""
    first_batch_ms: float | None = None  # asking for the first epoch until its first batch (worker start-up)
    input_samples_s: float | None = None  # input alone, the measured epoch: rows / (asking for it .. its last batch)
    input_cores: float | None = None  # the process tree's CPU time / wall time, input alone
    input_peak_pss_mib: float | None = None  # the process tree's peak PSS, input alone
    e2e_samples_s: float | None = None  # training fed by the pipeline, one epoch: rows / (its waits + its steps)
    memory_fed_samples_s: float | None = None  # the same model fed from memory, the epoch just before
    stall_share: float | None = None  # sum of waits / sum of (wait + step)
    # the call that found each epoch over (warm-up, input alone, fed), apart from the rates: iterator teardown
    epoch_end_ms: list[float] = field(default_factory=list)
    wait_ms: list[float] = field(default_factory=list)  # per training step: asking for the batch until prepared
    step_ms: list[float] = field(default_factory=list)  # per training step: train_step alone


@dataclass(frozen=True)
class Pipeline:
    """The pipeline scenario's record: the files, the from-memory baseline and one entry per setting."""

    files: int
    format: str  # bench.interfaces.pipeline_spec.FORMATS
    image_source: str  # where the pixels came from: "synthetic (seeded 0)", a CIFAR-10 folder, an --image-dir
    written_s: float | None = None  # seconds spent writing the files (None: found written)
    mean: list[float] = field(default_factory=list)  # per channel, of pixels in [0, 1]: the normalisation
    std: list[float] = field(default_factory=list)
    memory_fed_samples_s: float | None = None  # the same model fed from memory (median over the settings' epochs)
    memory_fed_warmup_step_ms: list[float] = field(default_factory=list)  # its warm-up epoch's steps
    fastest_tuned: str | None = None  # the tuned setting with the highest end-to-end samples/s
    runs: list[PipelineRun] = field(default_factory=list)


@dataclass(frozen=True)
class ProfiledOp:
    """One op of a profile scenario's window (bench/measure/worktypes.py), per profiled step."""

    op_type: str  # "aten::addmm", "MatMul", "dot" ...
    name: str  # the op's name (torch: its type again; TensorFlow: the graph node; JAX: the HLO instruction)
    kind: str  # bench.measure.worktypes.KINDS: "other" where the framework's table does not know it
    calls_per_step: float
    self_ms: float  # self time per step: the op alone, not the ops it called


@dataclass(frozen=True)
class StepProfile:
    """The profile scenario's record (bench/scenarios/profile.py): a window of steady steps under the framework's
    own profiler, its ops sorted into bench.measure.worktypes.KINDS. Times in ms per step unless named otherwise."""

    profiler: str  # which profiler and which of its times ("torch.profiler, CPU self time")
    steps: int  # profiled steps
    step_wall_ms: float  # the mean profiled step on the harness's clock
    op_ms: float  # the ops' self time per step, all kinds
    uncovered_ms: float  # step_wall_ms - op_ms: dispatch, Python, the framework's runtime
    kind_ms: dict[str, float] = field(default_factory=dict)  # per kind (KINDS, "other" included)
    ops: list[ProfiledOp] = field(default_factory=list)  # every op seen, the costliest first
    profiled_step_ms: list[float] = field(default_factory=list)  # each profiled step, in order
    unprofiled_step_ms: list[float] = field(default_factory=list)  # the window just before, without the profiler
    profiled_median_step_ms: float | None = None
    unprofiled_median_step_ms: float | None = None  # against profiled_median_step_ms: the profiler's own cost


@dataclass(frozen=True)
class Source:
    """Where a record came from when fwbench did not run it: a converted file of another tool."""

    tool: str  # "pytest-benchmark"
    file: str  # its name
    note: str = ""  # what that tool does not record, for the report
    name: str = ""  # the record's own name in that file (a benchmark's fullname)


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
    status: str  # one of bench.core.spec.STATUSES
    reason: str  # why, when status != "ok" (last lines of stderr for a crash)
    pid: int | None  # the worker process (repeats are separate processes)
    started_at: str  # ISO 8601 UTC
    wall_s: float | None  # worker process lifetime as seen by the launcher
    config: RunConfig | None  # what the worker was given (None: a converted record, see `source`)
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
    memory: Memory = field(default_factory=Memory)
    load_avg_1m: list[float] = field(default_factory=list)  # host load average at the run's start and end
    flops_per_step: float | None = None  # analytic (bench/core/flops.py), the same for every backend
    achieved_gflops: float | None = None  # flops_per_step / median step time
    matmul_peak_gflops: float | None = None  # this framework's float32 matmul, measured in the same suite
    peak_fraction: float | None = None  # achieved_gflops / matmul_peak_gflops
    seed: int | None = None  # training seed: initial weights, batch order, dropout (None: files before seeds)
    settled: bool | None = None  # whether the steady-state rule found a settled window (bench.measure.harness)
    extension_steps: int = 0  # steady steps timed past the budget to reach harness.MIN_STEADY_S (the last of step_ms)
    cpu: dict[str, Any] = field(default_factory=dict)  # what CPU the run got (bench.machine.contention.CpuUsage)
    scenario: str = "train"  # what the run measured (bench.core.spec.SCENARIOS); files before scenarios: "train"
    precision: str = "fp32"  # the numeric precision it ran in (bench.core.spec.PRECISIONS); files before: "fp32"
    energy: Energy = field(default_factory=Energy)  # GPU energy (NVML); absent with a note on a CPU
    workers: int = 1  # distributed: processes (RunConfig.workers); 1 for every other scenario
    deployment: list[Deployment] = field(default_factory=list)  # infer: one entry; export: one per runtime
    distributed: Distributed | None = None  # the distributed scenario's per-rank record
    pipeline: Pipeline | None = None  # the pipeline scenario's record (bench/scenarios/pipeline.py)
    generation: list[Generation] = field(default_factory=list)  # infer of a decoder: one per batch size
    step_profile: StepProfile | None = None  # the profile scenario's record (bench/scenarios/profile.py)
    source: Source | None = None  # set when fwbench converted this record rather than ran it

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def nodes(self) -> int:
        """The distributed scenario's node count (RunConfig.nodes): 1 elsewhere, and in files before nodes."""
        return self.config.nodes if self.config is not None else 1

    @property
    def contended(self) -> bool:
        """Other processes took cores this run asked for (bench.machine.contention): its timings are not trusted."""
        return bool(self.cpu.get("contended"))

    def key(self, default_seed: int = 0) -> RunKey:
        """What the launcher runs once. Files before seeds had one seed."""
        seed = self.seed if self.seed is not None else default_seed
        return RunKey(
            self.workload, self.backend, seed, self.repeat, self.scenario, self.precision, self.workers, self.nodes
        )

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
        scenario=cfg.scenario,
        precision=cfg.precision,
        workers=cfg.workers,
        status=status,
        reason=reason,
        pid=pid,
        started_at=started_at,
        config=cfg,
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
    plan: SuitePlan | None  # what was asked (None: a converted file, see `source`)
    environment: dict[str, Any]
    results: list[Result]
    finished_at: str | None = None
    source: Source | None = None  # set when fwbench converted this document from another tool's file
    # Contended records that a redo at the end of the suite replaced (bench.launching.launch.redo_contended), kept for
    # the record: analysis reads `results` only.
    redone: list[Result] = field(default_factory=list)
    shard: str | None = None  # "K/N": this file holds shard K of N of the plan (bench.planning.shard); None: all of it
    # A merge of shards (`fwbench merge`) that lacks some planned runs: each, in words. Empty: complete.
    missing: list[str] = field(default_factory=list)
    # `fwbench run --max-runs N`: per comparison, its runs a side, its answer and why it stopped adding runs
    # ("decided", "cap", "budget", "no verdict"; bench.launching.adaptive.stop_records). Empty: no adaptive phase.
    adaptive: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "command": self.command,
            "plan": self.plan.to_dict() if self.plan else None,
            "environment": self.environment,
            "results": [r.to_dict() for r in self.results],
            "source": dataclasses.asdict(self.source) if self.source else None,
            "redone": [r.to_dict() for r in self.redone],
            "shard": self.shard,
            "missing": self.missing,
            "adaptive": self.adaptive,
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

    def with_redo(self, old: Result, new: Result) -> Suite:
        """`new` in the place of `old` (a contended record), which moves to `redone`."""
        if not any(r is old for r in self.results):
            raise ValueError(
                f"{old.workload}/{old.backend} seed {old.seed} #{old.repeat} is not a result of this suite"
            )
        return dataclasses.replace(
            self, results=[new if r is old else r for r in self.results], redone=[*self.redone, old]
        )


def run_path(out_dir: Path, run_id: str) -> Path:
    return out_dir / "runs" / f"{run_id}.json"


def create(out_dir: Path, suite: Suite, name: str | None = None) -> Path:
    """Write a new suite document (out_dir/runs/NAME, by default RUN_ID.json); refuses to overwrite one."""
    path = out_dir / "runs" / name if name else run_path(out_dir, suite.run_id)
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
    except UsageError as e:  # a value the plan refuses
        raise UsageError(f"{p}: {e}") from None
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
