"""Framework-neutral specifications and records (frozen dataclasses).

Nothing here imports torch or tensorflow. Every hyperparameter that either framework would
otherwise default is written out, because the defaults differ (docs/FRAMEWORK_DIFFERENCES.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

from bench.core.typedjson import typed_fields


def frozen_map(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only mapping, so that a frozen spec cannot be changed through its dict fields."""
    return MappingProxyType(dict(d or {}))


SCALES = ("small", "base")  # Workload.scale


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer with every constant explicit (no framework defaults are relied on)."""

    name: str  # "adam" | "adamw" | "sgd"
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0  # decoupled (AdamW) on both sides; 0 for adam/sgd
    momentum: float = 0.0  # sgd only

    def __post_init__(self) -> None:
        valid = ("adam", "adamw", "sgd")
        if self.name not in valid:
            raise ValueError(f"optimizer {self.name!r} is not one of {', '.join(valid)}")
        if self.name == "adam" and self.weight_decay:
            raise ValueError("adam with weight_decay differs between frameworks (L2 vs decoupled): use adamw")


@dataclass(frozen=True)
class ParityCase:
    """How tests/test_parity.py proves a workload's twins are the same network (float32, CPU)."""

    params: int  # trainable parameters, counted by hand (the workload's entry shows the sum)
    outputs_tol: float = 1e-5  # max |torch - keras| of the forward outputs from the same weights
    loss_tol: float = 1e-5  # of the loss of one SGD step
    weights_tol: float = 1e-6  # of every weight after that step
    mutant_activation: str = "tanh"  # the keras side is rebuilt with this activation: outputs must then differ
    # Other mutants: model_kwargs overrides of the keras side (e.g. a BatchNorm momentum in the wrong
    # convention) instead of the activation; the outputs or the updated weights (running statistics
    # included) must then differ.
    mutant_kwargs: Mapping[str, Any] | None = None
    # Reduced size for the test (both sides): model_kwargs overrides (fewer layers, a smaller input),
    # a smaller batch and another dataset of the same kind (smaller images). Empty: the workload as is.
    model_kwargs: Mapping[str, Any] = field(default_factory=frozen_map)
    batch_size: int | None = None
    dataset: str | None = None
    # The bf16 forward check: max |torch - keras| of the outputs with both sides computing in bfloat16
    # (torch.autocast / Keras' mixed_bfloat16 policy), from the same float32 weights.
    bf16_outputs_tol: float = 0.05

    def mutant(self) -> dict[str, Any]:
        return dict(self.mutant_kwargs) if self.mutant_kwargs else {"activation": self.mutant_activation}


@dataclass(frozen=True)
class Workload:
    """One training job, identical for every backend."""

    name: str  # "mlp-iris"
    model: str  # module name of the twins: impls.torch.<model>, impls.keras.<model>
    task: str  # training program in bench.measure.tasks: "classify" | "gan" | "dqn"
    dataset: str  # key of bench.core.data.DATASETS
    batch_size: int  # samples per training step
    epochs: int  # standard profile budget (passes over the training set; task-defined for dqn)
    quick_epochs: int  # quick profile budget
    optimizer: OptimizerSpec
    loss: str  # "cross_entropy" (from logits) | task-defined
    metric: str  # name of the target metric: "accuracy" | "mean_return" | "gan_quality"
    target: float | None  # first value of `metric` that counts as reached (time-to-target)
    model_kwargs: Mapping[str, Any] = field(default_factory=frozen_map)
    description: str = ""
    seed_use_case: str = ""  # the row of the seed document this workload stands for
    # The quick profile's epochs are too few to reach the target in every backend: in that profile the
    # workload measures speed only, and the report says so instead of comparing accuracy or time to target.
    quick_speed_only: bool = False
    parity: ParityCase | None = None  # the parity test's case; the completeness test requires one
    # "small": trains to its target on a CPU in minutes; "base": a published reference size (ResNet-50,
    # BERT-base) that a CPU runs on a step budget (--steps). `fwbench run --scale` picks by this.
    scale: str = "small"
    # Whether the workload has a forward model that serves predictions (a classifier, the GAN's generator,
    # the DQN's Q-network): the infer and export scenarios run only such workloads.
    inference: bool = True
    # Python packages (import names) the twins need beyond the frameworks, and the pyproject extra that
    # installs them: without them the workload's runs and tests say so and name the extra.
    packages: tuple[str, ...] = ()
    extra: str | None = None
    # Whether `fwbench run` without --workloads runs it; one that is not runs when named (--workloads).
    default_run: bool = True

    def missing_packages(self) -> list[str]:
        """The `packages` this interpreter cannot import (found without importing them)."""
        import importlib.util

        return [p for p in self.packages if importlib.util.find_spec(p) is None]

    def __post_init__(self) -> None:
        if self.batch_size <= 0 or self.epochs <= 0 or self.quick_epochs <= 0:
            raise ValueError(f"workload {self.name}: batch_size and epochs must be positive")
        if self.scale not in SCALES:
            raise ValueError(f"workload {self.name}: scale {self.scale!r} is not one of {', '.join(SCALES)}")
        object.__setattr__(self, "model_kwargs", frozen_map(self.model_kwargs))

    def epochs_for(self, profile: str) -> int:
        return self.quick_epochs if profile == "quick" else self.epochs

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "task": self.task,
            "dataset": self.dataset,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "quick_epochs": self.quick_epochs,
            "optimizer": dict(vars(self.optimizer)),
            "loss": self.loss,
            "metric": self.metric,
            "target": self.target,
            "model_kwargs": dict(self.model_kwargs),
            "quick_speed_only": self.quick_speed_only,
            "scale": self.scale,
        }


@dataclass(frozen=True)
class Profile:
    """How much work a suite run does."""

    name: str
    warmup_steps: int  # steps after the first one that are discarded before steady state
    repeats: int  # default processes per (workload, backend, seed): timing noise
    seeds: int  # default training seeds per (workload, backend): accuracy and time-to-target spread
    time_limit_s: float  # per run (one worker process)


PROFILES: Mapping[str, Profile] = frozen_map(
    {
        # seeds=3: the runs a side the verdict rule needs (bench.analysis.cells.MIN_RUNS_FOR_RUN_LEVEL_CI), so that the
        # default run gives verdicts (docs/METHODOLOGY.md, Statistics and verdicts)
        "quick": Profile("quick", warmup_steps=5, repeats=1, seeds=3, time_limit_s=300.0),
        "standard": Profile("standard", warmup_steps=10, repeats=1, seeds=3, time_limit_s=900.0),
    }
)


# What a run measures (docs/METHODOLOGY.md): "train" the training budget; "infer" the backend's own
# inference path (latency at batch 1, throughput by batch) after training; "export" each export path of
# the framework (bench.scenarios.export), loaded in its runtime; "distributed" data-parallel training over
# RunConfig.workers processes on the framework's own engine (bench.scenarios.distributed); "profile" a window of
# steady steps under the framework's own profiler, its ops sorted into kinds of work (bench.scenarios.profile).
IMAGE_FORMATS = ("png", "jpeg")  # the pipeline scenario's image files (bench.interfaces.pipeline_spec.FORMATS)
IMAGE_DATASETS = ("cifar10",)  # the datasets the pipeline scenario writes as image files (bench/scenarios/pipeline.py)
SCENARIOS = ("train", "infer", "export", "distributed", "pipeline", "profile")
# Scenarios whose run starts processes of its own (ranks; DataLoader workers): their worker keeps every usable CPU;
# every other job's worker is pinned to the plan's worker_cpus (bench.machine.contention.pin_worker).
MULTI_PROCESS_SCENARIOS = ("distributed", "pipeline")
# The export scenario's runtimes, by the framework that exports them (impls/<framework>/export.py). Each is a
# column of the report's Deployment table; "-int8" ones are post-training dynamic-range quantisations.
EXPORT_RUNTIMES: Mapping[str, tuple[str, ...]] = frozen_map(
    {
        "torch": ("torchscript", "torch-export", "onnx-torch", "onnx-torch-int8"),
        "tensorflow": ("savedmodel", "tflite", "tflite-int8", "onnx-tf", "onnx-tf-int8"),
    }
)
RUNTIMES = tuple(r for rs in EXPORT_RUNTIMES.values() for r in rs)
SCALINGS = ("weak", "strong")  # distributed: fixed per-worker batch (weak) or fixed global batch (strong)
# The numeric precision of a run (docs/METHODOLOGY.md, "Precision"): fp32 strict (TF32 off), TF32 tensor-core
# matmuls and convolutions (NVIDIA GPUs), and mixed precision with bfloat16 or float16 compute (float32
# weights; float16 with loss scaling). A backend that cannot run one on a device records `unsupported`.
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
MIXED_PRECISIONS = ("bf16", "fp16")  # autocast / a mixed dtype policy: float32 weights, lower-precision compute


def precision_unsupported(precision: str, device: str) -> str | None:
    """Why `precision` cannot run on `device` in any framework, or None. Framework-specific limits are the
    adapters' own (each raises NotImplementedError with its reason, recorded as an `unsupported` cell)."""
    if precision == "tf32" and device != "cuda":
        return "TF32 is a tensor-core mode of NVIDIA GPUs (Ampere and later): on a CPU float32 is always full fp32"
    if precision == "fp16" and device != "cuda":
        return (
            "float16 compute needs a GPU: x86 CPUs without AVX512-FP16 only convert float16 (F16C), so both "
            "frameworks would emulate it in float32"
        )
    return None


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX512-BF16 or AMX-BF16); without it bf16 is emulated."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class RunKey(NamedTuple):
    """What the launcher runs once, in one worker process."""

    workload: str
    backend: str
    seed: int
    repeat: int
    scenario: str = "train"
    precision: str = "fp32"
    workers: int = 1  # distributed: processes per node; 1 elsewhere
    nodes: int = 1  # distributed: nodes (each `workers` processes); 1 elsewhere


def layout(nodes: int, workers: int) -> str:
    """A distributed cell's shape as tables name it: "x2" (one node of 2 workers), "2x1" (2 nodes of 1 each)."""
    return f"x{workers}" if nodes == 1 else f"{nodes}x{workers}"


@dataclass(frozen=True)
class BackendOptions:
    """How a backend adapter is constructed: settings applied before its framework's first op."""

    device: str  # "cpu" | "cuda"
    threads: int  # intra-op threads
    interop_threads: int
    seed: int = 0  # seeds the framework's global RNGs
    deterministic: bool = False
    precision: str = "fp32"  # one of PRECISIONS


# Worker jobs: each entry point of bench.worker gets one of these as a tagged JSON document
# ({"job": KIND, ...fields}: job_document / read_job) and writes one JSON document back.


@dataclass(frozen=True)
class RunConfig:
    """Everything one worker process needs to do one measured run (job "run")."""

    kind: ClassVar[str] = "run"
    run_id: str
    workload: str
    backend: str
    device: str  # "cpu" | "cuda"
    profile: str
    repeat: int
    seed: int  # training randomness: initial weights, batch order, dropout, exploration
    init: str  # "shared" (all backends start from one weights file) | "native"
    init_path: str | None  # npz of canonical initial weights when init == "shared"
    threads: int  # intra-op threads, both frameworks
    interop_threads: int  # inter-op threads, both frameworks
    deterministic: bool
    data_dir: str | None = None
    epochs_override: int | None = None  # tests and smoke runs
    fault: str | None = None  # fault injection for tests: "crash" | "hang" | "diverge" | "raise"
    data_seed: int | None = None  # the train/test split and synthetic data (None: `seed`); fixed across seeds
    scenario: str = "train"  # one of SCENARIOS
    precision: str = "fp32"  # one of PRECISIONS
    steps: int | None = None  # a step budget instead of the epochs: speed and memory only, no evaluation
    runtimes: tuple[str, ...] = ()  # export: the runtimes to try (empty: all of the framework's)
    keep_artifacts: str | None = None  # export: keep the exported files under this folder (else deleted)
    workers: int = 1  # distributed: processes per node (one per GPU on cuda)
    nodes: int = 1  # distributed: nodes, each of `workers` processes (world size nodes x workers)
    scaling: str = "weak"  # distributed: one of SCALINGS
    time_limit_s: float | None = None  # the launcher's limit for this worker (None: the profile's)
    image_format: str = "png"  # pipeline: the image files' format (bench.interfaces.pipeline_spec.FORMATS)
    image_dir: str | None = None  # pipeline: read these class folders of images instead of writing the dataset's

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}")
        unknown = [r for r in self.runtimes if r not in RUNTIMES]
        if unknown:
            raise ValueError(f"runtime {unknown[0]!r} is not one of {', '.join(RUNTIMES)}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.nodes < 1:
            raise ValueError(f"nodes must be >= 1, got {self.nodes}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling {self.scaling!r} is not one of {', '.join(SCALINGS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image format {self.image_format!r} is not one of {', '.join(IMAGE_FORMATS)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    def backend_options(self) -> BackendOptions:
        return BackendOptions(
            self.device, self.threads, self.interop_threads, self.seed, self.deterministic, self.precision
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class ExportInitJob:
    """The torch twins' initial weights for `--init shared`, per (seed, workload), into `folder`."""

    kind: ClassVar[str] = "export-init"
    seeds: tuple[int, ...]
    workloads: tuple[str, ...]
    folder: str


@dataclass(frozen=True)
class PeakJob:
    """A framework's float32 matmul rate on this device (through one of its backends)."""

    kind: ClassVar[str] = "peak"
    backend: str
    options: BackendOptions


PEAK_MATMUL_N = {"cpu": 1024, "cuda": 4096}  # the peak's square matmul size, by device (part of its cache key)


def init_weights_name(workload: str, seed: int) -> str:
    """The file of a workload's shared initial weights for a seed, in an ExportInitJob's folder."""
    return f"{workload}-seed{seed}.npz"


@dataclass(frozen=True)
class OverheadJob:
    """`fwbench overhead`: harness and bare-loop blocks of one (workload, backend) in one process."""

    kind: ClassVar[str] = "overhead"
    backend: str
    workload: str
    options: BackendOptions
    blocks: int  # pairs of (harness, bare) blocks after the warm-up pair
    bare_first: bool  # build the bare loop's model first and start with a bare block


Job = RunConfig | ExportInitJob | PeakJob | OverheadJob
JOBS: Mapping[str, type[Job]] = frozen_map({c.kind: c for c in (RunConfig, ExportInitJob, PeakJob, OverheadJob)})


def job_document(job: Job) -> dict[str, Any]:
    """The JSON document a worker receives: the job's kind under "job", then its fields."""
    return {"job": job.kind, **dataclasses.asdict(job)}


def read_job(doc: Any) -> Job:
    """A job from its document, every field type-checked (ValueError naming the bad field)."""
    if not isinstance(doc, Mapping) or doc.get("job") not in JOBS:
        got = doc.get("job") if isinstance(doc, Mapping) else doc
        raise ValueError(f"job {got!r} is not one of {', '.join(JOBS)}")
    cls = JOBS[doc["job"]]
    return cls(**typed_fields(cls, doc, f"job {doc['job']}", ignore=("job",)))


STATUSES = ("ok", "failed", "diverged", "timeout", "oom", "unsupported")
