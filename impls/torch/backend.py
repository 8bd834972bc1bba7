"""The torch backends: eager, TorchScript and torch.compile over the same twin modules.

A model module (impls/torch/<model>.py) provides `build(workload) -> dict[str, nn.Module]` and may
provide `train_step`, `predict`, `make_optimizers`, `prepare`, `count_params` and
`UNSUPPORTED = {backend: reason}`; the defaults are the classification ones in common.py.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from bench.core.errors import UsageError
from bench.core.spec import MIXED_PRECISIONS, BackendOptions, Workload, cpu_has_bf16, precision_unsupported
from impls.torch import common

if TYPE_CHECKING:
    from bench.interfaces.export_spec import ExportPath

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def configure(opts: BackendOptions) -> None:
    """torch's process settings for a run: threads, seed, determinism, and on CUDA TF32 off and cuDNN
    autotuning. Also Keras on PyTorch's (impls/keras/torch_backend.py): the same runtime, set the same."""
    torch.set_num_threads(opts.threads)
    if torch.get_num_interop_threads() != opts.interop_threads:  # settable once per process, before any op
        torch.set_num_interop_threads(opts.interop_threads)
    torch.manual_seed(opts.seed)
    torch.use_deterministic_algorithms(opts.deterministic)
    if opts.device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: torch sees no CUDA device (is the CUDA build installed?)")
        # Same numerics as the keras side: TF32 for matmul and conv only at --precision tf32 (fp32 is
        # strict; mixed precision keeps its float32 ops strict too), cuDNN autotuning on.
        torch.backends.cuda.matmul.allow_tf32 = opts.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = opts.precision == "tf32"
        torch.backends.cudnn.benchmark = not opts.deterministic


def make_amp(precision: str, device: str) -> common.Amp:
    """The run's mixed-precision recipe (common.Amp); NotImplementedError where torch cannot run
    `precision` on `device`."""
    reason = precision_unsupported(precision, device)
    if precision == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        reason = f"this GPU ({torch.cuda.get_device_name(0)}) has no bfloat16 arithmetic"
    if reason:
        raise NotImplementedError(reason)
    if precision not in MIXED_PRECISIONS:
        return common.FP32
    scaler = torch.amp.GradScaler(device) if precision == "fp16" else None
    return common.Amp(device, AUTOCAST_DTYPES[precision], scaler)


def precision_settings(precision: str, amp: common.Amp | None) -> dict[str, Any]:
    """What the precision axis turned on (both native and Keras-on-PyTorch record it)."""
    return {
        "precision": precision,
        "autocast_dtype": str(amp.dtype).removeprefix("torch.") if amp and amp.dtype is not None else None,
        "grad_scaler": bool(amp and amp.scaler is not None),
        "cpu_bf16_instructions": cpu_has_bf16(),  # without them, bf16 on a CPU is emulated
    }


def runtime_settings(device: str) -> dict[str, Any]:
    """The torch runtime's settings that change the numbers (both native and Keras-on-PyTorch record them)."""
    s: dict[str, Any] = {
        "torch_version": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "intra_op_threads": torch.get_num_threads(),
        "inter_op_threads": torch.get_num_interop_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
    }
    if device == "cuda":
        s.update(
            gpu=torch.cuda.get_device_name(0),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            cudnn_version=torch.backends.cudnn.version(),
        )
    return s


def optimizer_update(optimizers: Mapping[str, torch.optim.Optimizer]) -> str:
    """How each optimizer applies its update, as torch will run it: its fused kernel, foreach (one multi-tensor
    op per step of the formula) or the for-loop over parameters (foreach=None resolved as torch resolves it)."""
    out = []
    for part, opt in optimizers.items():
        fused, foreach = opt.defaults.get("fused"), opt.defaults.get("foreach")
        if foreach is None and not fused:
            from torch.optim.optimizer import _default_to_fused_or_foreach

            params = [p for g in opt.param_groups for p in g["params"]]
            _, foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)
        impl = "fused kernel" if fused else "foreach (multi-tensor ops)" if foreach else "for-loop over parameters"
        out.append(f"{part}: torch.optim.{type(opt).__name__}, {impl}")
    return "; ".join(out)


def speed_settings(device: str, compile_mode: str | None, optimizers: Mapping[str, Any]) -> dict[str, str]:
    """The settings that change speed, read from torch now, under the keys every backend uses
    (bench.measure.worktypes.SPEED_SETTINGS): the report sets them side by side and flags those that differ."""
    s = {
        "threads": f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op",
        "onednn": "on (torch.backends.mkldnn)"
        if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
        else "off (torch.backends.mkldnn " + ("disabled)" if torch.backends.mkldnn.is_available() else "not built)"),
        "optimizer_update": optimizer_update(optimizers) if optimizers else "not built",
        "data_layout": "NCHW (channels first)",
        "graph_capture": compile_mode or "none (eager)",
        "xla": "off",
    }
    if device == "cuda":
        s["tf32"] = "on" if torch.backends.cuda.matmul.allow_tf32 else "off"
        s["cudnn_autotune"] = "on" if torch.backends.cudnn.benchmark else "off"
    return s


def device_memory(device: str) -> dict[str, float]:
    """The CUDA caching allocator's peaks in MiB ({} on CPU)."""
    if device != "cuda":
        return {}
    mib = 1024.0**2
    return {
        "allocator_peak_allocated_mib": torch.cuda.max_memory_allocated() / mib,
        "allocator_peak_reserved_mib": torch.cuda.max_memory_reserved() / mib,
    }


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def matmul(n: int, device: str) -> Callable[[], float]:
    """One float32 n x n matmul per call, finished on return (the suite's measured peak)."""
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    c = torch.empty(n, n, device=device)

    def call() -> float:
        torch.mm(a, b, out=c)
        return c[0, 0].item()

    return call


class TorchEager:
    name: ClassVar[str] = "torch-eager"
    framework: ClassVar[str] = "torch"
    # How infer_fn turns autograd off: inference_mode (no version counters or views tracked) where it works
    no_autograd: ClassVar[Callable[[], Any]] = torch.inference_mode

    def __init__(self, opts: BackendOptions) -> None:
        configure(opts)
        self.device = opts.device
        self.deterministic = opts.deterministic
        self.precision = opts.precision
        self.threads = opts.threads  # ONNX Runtime sessions of the export paths get the run's threads
        self.amp: common.Amp | None = None

    # Backend variants override these: what runs each part, and what runs the whole step.
    def transform(self, module: nn.Module, part: str) -> nn.Module:
        return module

    def wrap_step(self, step: Callable[[Any], torch.Tensor]) -> Callable[[Any], torch.Tensor]:
        return step

    def build(self, workload: Workload, init: dict[str, np.ndarray] | None) -> None:
        self.workload = workload
        self.mod = importlib.import_module(f"impls.torch.{workload.model}")
        reason = getattr(self.mod, "UNSUPPORTED", {}).get(self.name)
        reason = reason or getattr(self.mod, "UNSUPPORTED_PRECISION", {}).get((self.name, self.precision))
        if reason:
            raise NotImplementedError(reason)
        self.amp = amp = make_amp(self.precision, self.device)
        own_step = getattr(self.mod, "train_step", None)
        if own_step is not None and amp is not common.FP32:
            raise NotImplementedError(
                f"model {workload.model!r} trains through its own step (impls/torch/{workload.model}.py train_step), "
                f"which has no mixed-precision ({self.precision}) path"
            )
        self.raw = {k: m.to(self.device) for k, m in self.mod.build(workload).items()}
        if init is not None:
            self.set_weights(init)
        for m in self.raw.values():
            m.train()
        self.parts = {k: self.transform(m, k) for k, m in self.raw.items()}
        make_opts = getattr(self.mod, "make_optimizers", None)
        if make_opts is not None:
            self.optimizers = make_opts(self.parts, workload.optimizer, self.device)
        else:
            self.optimizers = {
                "net": common.make_optimizer(workload.optimizer, self.parts["net"].parameters(), self.device)
            }
        parts, optimizers = self.parts, self.optimizers
        if own_step is not None:
            self._step = self.wrap_step(lambda batch: own_step(parts, optimizers, batch))
        else:
            self._step = self.wrap_step(lambda batch: common.classification_step(parts, optimizers, batch, amp))
        self._predict = getattr(self.mod, "predict", common.classification_predict)
        self._prepare = getattr(self.mod, "prepare", None)

    def prepare(self, batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        if self._prepare is not None:
            batch = self._prepare(batch)
        out = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in batch.items()}
        if self.device == "cuda":
            # A copy from pageable memory can return before its DMA lands; the step clock must not
            # start with the batch still in flight (the bare loop's tensors are resident).
            torch.cuda.synchronize()
        return out

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> float:
        return self._step(batch).item()

    def predict(self, x: np.ndarray) -> np.ndarray:
        xt = self.prepare({"x": x})["x"]
        for m in self.parts.values():
            m.eval()
        with torch.no_grad(), (self.amp or common.FP32).autocast():  # in the precision it trains in
            out = self._predict(self.parts, xt)
        for m in self.parts.values():
            m.train()
        return out.detach().float().cpu().numpy()

    def infer_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """The backend's own inference path, as the infer scenario times it: numpy in, float32 numpy out
        on the host, the same values as `predict`, through the same modules (`parts`: scripted or
        compiled ones for those backends; the compile-step backends compile the training step only, so
        they infer eagerly). Each call runs under torch.inference_mode and the autocast of the run's
        precision. The modules are put in eval mode once, here, not per call (a server does not toggle
        them): after infer_fn the model is no longer trained (it stays in eval mode). torch.compile
        backends recompile on the first calls (inference mode, new batch sizes): the caller warms up."""
        for m in self.parts.values():
            m.eval()
        parts, predict, amp, no_autograd = self.parts, self._predict, self.amp or common.FP32, self.no_autograd

        def infer(x: np.ndarray) -> np.ndarray:
            xt = self.prepare({"x": x})["x"]
            with no_autograd(), amp.autocast():
                out = predict(parts, xt)
            return out.detach().float().cpu().numpy()

        return infer

    def prepare_x(self, x: np.ndarray) -> np.ndarray:
        """The model module's `prepare` hook on an inference batch alone (numpy, host side)."""
        return x if self._prepare is None else self._prepare({"x": x})["x"]

    def export_paths(self) -> list[ExportPath]:
        """The export scenario's paths (impls/torch/export.py), in EXPORT_RUNTIMES["torch"] order, over the
        trained model as it is now: the un-transformed modules (`raw`), whatever the backend ran, since
        an artifact holds the model, not the backend's execution mode. Exporting puts them in eval mode,
        where they stay (as after infer_fn). onnx and onnxruntime are imported by the paths, not here."""
        from impls.torch import export

        hook = None if self._prepare is None else f"{self.mod.__name__}.prepare"
        model = export.Model(self.raw, self._predict, self.prepare_x, self.device, self.threads, hook)
        return export.export_paths(model)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {
            f"{part}.{k}": v.detach().cpu().numpy().copy()
            for part, m in self.raw.items()
            for k, v in m.state_dict().items()
        }

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        known = {f"{part}.{k}" for part, m in self.raw.items() for k in m.state_dict()}
        unused = sorted(set(weights) - known)
        if unused:
            raise ValueError(f"weights {unused} match no tensor of model {self.workload.model}")
        for part, m in self.raw.items():
            state = m.state_dict()
            missing = [f"{part}.{k}" for k in state if f"{part}.{k}" not in weights]
            if missing:
                raise ValueError(f"weights lack {missing} (model {self.workload.model})")
            m.load_state_dict({k: torch.from_numpy(np.asarray(weights[f"{part}.{k}"])) for k in state})

    def num_params(self) -> int:
        count = getattr(self.mod, "count_params", None)
        if count is not None:
            return int(count(self.raw))
        return sum(p.numel() for m in self.raw.values() for p in m.parameters() if p.requires_grad)

    def reset_peak_memory(self) -> None:
        reset_peak_memory(self.device)

    def device_memory(self) -> dict[str, float]:
        return device_memory(self.device)

    def matmul(self, n: int) -> Callable[[], float]:
        return matmul(n, self.device)

    def profiler(self, folder: str) -> Any:
        """torch.profiler over the profile scenario's window (impls/torch/profiling.py); `folder` is unused."""
        from impls.torch.profiling import TorchProfiler

        return TorchProfiler(self.device)

    def settings(self) -> dict[str, Any]:
        s = {
            **runtime_settings(self.device),
            **precision_settings(self.precision, self.amp),
            "data_format": "NCHW",
            "compile": None,
            "inference_autograd_off": f"torch.{self.no_autograd.__name__}",  # infer_fn (the infer scenario)
            "optimizer_impl": optimizer_update(self.optimizers) if hasattr(self, "optimizers") else "not built",
        }
        return s | {"speed": speed_settings(self.device, self.compile_mode(), getattr(self, "optimizers", {}))}

    def compile_mode(self) -> str | None:
        """What captures the step into a graph (None: eager); the variants say which."""
        return None


class TorchScript(TorchEager):
    """torch.jit.script on each part. TorchScript is deprecated upstream; its warning is recorded."""

    name: ClassVar[str] = "torchscript"
    # A module scripted and profiled while training keeps a graph that saves tensors for backward; under
    # inference_mode it fails ("Inference tensors cannot be saved for backward"), so it infers under no_grad.
    no_autograd: ClassVar[Callable[[], Any]] = torch.no_grad

    def transform(self, module: nn.Module, part: str) -> nn.Module:
        return torch.jit.script(module)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "compile": "torch.jit.script", "jit_profiling_executor": True}

    def compile_mode(self) -> str | None:
        return "torch.jit.script of each module"


class TorchCompile(TorchEager):
    """torch.compile (inductor, default mode) on each part's forward; backward via AOTAutograd."""

    name: ClassVar[str] = "torch-compile"
    mode: ClassVar[str] = "default"

    cache_dir: str | None = None
    cache_state: str | None = None

    def build(self, workload: Workload, init: dict[str, np.ndarray] | None) -> None:
        # One inductor cache per workload (under the user's TORCHINDUCTOR_CACHE_DIR or inductor's
        # default), so that "warm" means: this workload's graphs were compiled by an earlier run,
        # not merely that some other model left files in a shared cache. Set before compiling.
        from torch._inductor.runtime.cache_dir_utils import cache_dir

        if self.cache_dir is None:
            base = Path(cache_dir())
            self.cache_dir = str(base / "fwbench" / workload.name)
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = self.cache_dir
            held = Path(self.cache_dir).is_dir() and any(Path(self.cache_dir).iterdir())
            self.cache_state = "warm" if held else "cold"
        super().build(workload, init)

    def transform(self, module: nn.Module, part: str) -> nn.Module:
        return torch.compile(module, mode=self.mode)

    def compile_mode(self) -> str | None:
        return f"torch.compile(mode={self.mode!r}) of each module"

    def settings(self) -> dict[str, Any]:
        from torch._inductor import config as inductor_config

        return {
            **super().settings(),
            "compile": f"torch.compile(mode={self.mode!r}, backend='inductor')",
            "inductor_cache_dir": self.cache_dir,
            "compile_cache": self.cache_state,
            "inductor_fx_graph_cache": bool(inductor_config.fx_graph_cache),
            "graph_breaks": graph_breaks("graph_break"),
            # frames dynamo refused (e.g. nn.LSTM without allow_rnn): they run eagerly, uncompiled
            "dynamo_unimplemented": graph_breaks("unimplemented"),
        }


def graph_breaks(counter: str) -> int | None:
    """A dynamo counter's total so far in this process (None if the counters are unavailable)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return None
    return int(sum(counters[counter].values()))


class TorchCompileStep(TorchCompile):
    """The tuned PyTorch path: torch.compile of the twin's whole training step (zero_grad, forward,
    loss, backward, optimizer step) rather than of the model alone. Dynamo splits the step where it
    cannot trace (`Optimizer.zero_grad`, `Tensor.backward`, nn.LSTM): the forward and loss become one
    graph whose backward AOTAutograd compiles, the optimizer update another, and the pieces between
    run eagerly; `settings()` records how many breaks and why, so the cell says what was compiled.
    Dynamo's `trace_autograd_ops` (backward inside the graph) is not used: with a module that runs
    eagerly between graphs (nn.LSTM) its gradients were lost and the model did not train
    (tests/test_tiers.py checks that the compiled step trains as eager does)."""

    name: ClassVar[str] = "torch-compile-step"

    def transform(self, module: nn.Module, part: str) -> nn.Module:
        return module  # the step is compiled, not each module

    def wrap_step(self, step: Callable[[Any], torch.Tensor]) -> Callable[[Any], torch.Tensor]:
        return torch.compile(step, mode=self.mode)

    def compile_mode(self) -> str | None:
        return f"torch.compile(mode={self.mode!r}) of the whole step"

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "compile": f"torch.compile(step, mode={self.mode!r}, backend='inductor')",
            "graph_break_reasons": graph_break_reasons(),
        }


class TorchCompileStepAutotune(TorchCompileStep):
    """The whole step compiled with mode="max-autotune": inductor benchmarks Triton and cuBLAS kernel
    choices for each matmul and convolution (long first step) and uses CUDA graphs. CUDA only
    (BackendInfo.devices): on a CPU the mode has nothing to tune."""

    name: ClassVar[str] = "torch-compile-step-autotune"
    mode: ClassVar[str] = "max-autotune"


class TorchCompileStepCudaGraphs(TorchCompileStep):
    """The whole step compiled with mode="reduce-overhead": each compiled graph is replayed as a CUDA
    graph, removing the per-kernel launch cost that dominates small models. CUDA only."""

    name: ClassVar[str] = "torch-compile-step-cudagraphs"
    mode: ClassVar[str] = "reduce-overhead"


def graph_break_reasons(limit: int = 5) -> list[str]:
    """The first line of each distinct graph-break reason dynamo counted in this process."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return []
    return [str(reason).strip().splitlines()[0][:200] for reason in list(counters["graph_break"])[:limit]]
