"""The PyTorch export paths of the export scenario (bench/scenarios/export.py): TorchScript, torch.export (.pt2), and
ONNX by torch.onnx's dynamo exporter, run in ONNX Runtime in float32 and dynamically quantised to int8.

What is exported is the model module's inference function, `predict(parts, x)` (impls/torch/<model>.py;
default: the "net" part's logits), wrapped as one nn.Module (InferenceNet), so that every artifact answers
what `Backend.predict` answers (the GAN's samples in NHWC, the DQN's online Q-values), never a bare part.
The model module's `prepare` hook (NHWC -> NCHW, int32 -> int64 token ids) stays on the host side of
every loaded Predict, as it is in `predict` and `infer_fn`: the artifacts take torch's layout, and each
call pays the same numpy preparation as the backend's own inference path.

Exports are float32 whatever precision the run trained in (the weights are float32 either way).
onnx and onnxruntime are imported inside the paths only: a training run never needs them.

Loading is done by the run's own process on the run's own files, and where a loader has a safe mode it
is used: a .pt2 archive is checked (every pickled payload must load with torch.load(weights_only=True),
every weight stored raw) before torch.export.load, which would otherwise fall back to full unpickling.
torch.jit.load has no weights-only mode: TorchScript archives are read by TorchScript's own importer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core.spec import EXPORT_RUNTIMES
from bench.interfaces.export_spec import ExportPath, Predict, exception_line

MAX_BATCH = 1 << 20  # torch.export / ONNX: the batch dimension is dynamic in [1, MAX_BATCH]
ONNX_OPSET = 20  # torch.onnx's default opset in torch 2.13, spelled out so that the record says it
ONNX_SINGLE_FILE_BYTES = 1 << 30  # weights above this go to external data (protobuf caps a file at 2 GiB)
EXTRA = "pip install -e '.[export]'"

Prepare = Callable[[np.ndarray], np.ndarray]


class ArtifactError(RuntimeError):
    """An artifact that its runtime could not load or run: one line naming the path and the cause."""


class InferenceNet(nn.Module):
    """The model's inference function as one module: forward(x) = predict(parts, x). Exporters trace a
    module's forward, and a model's inference may involve more than one part's forward or a layout
    change after it (the GAN's generator output permuted to NHWC)."""

    def __init__(self, parts: Mapping[str, nn.Module], predict: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(dict(parts))
        self.predict = predict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict(self.parts, x)


class _Recorder(dict[str, nn.Module]):
    """A dict of parts that remembers which ones were read."""

    def __init__(self, parts: Mapping[str, nn.Module]) -> None:
        super().__init__(parts)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> nn.Module:
        self.read.add(key)
        return super().__getitem__(key)


def parts_used(
    parts: Mapping[str, nn.Module], predict: Callable[..., torch.Tensor], x: torch.Tensor
) -> dict[str, nn.Module]:
    """The parts that `predict` reads on `x`: only those go into the artifact (the DQN's target network
    is not part of its inference and would double the file)."""
    seen = _Recorder(parts)
    with torch.inference_mode():
        predict(seen, x)
    return {k: m for k, m in parts.items() if k in seen.read}


@dataclass(frozen=True)
class Model:
    """The trained model as every export path sees it."""

    parts: Mapping[str, nn.Module]  # the un-transformed modules (the adapter's `raw`)
    predict: Callable[..., torch.Tensor]  # the model module's predict(parts, x)
    prepare: Prepare  # host side: a numpy batch -> the array the modules take
    device: str
    threads: int  # ONNX Runtime's intra-op threads (the run's)
    host_prepare: str | None = None  # the prepare hook's name, for the record

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.prepare(x))).to(self.device)

    def net(self, sample: torch.Tensor) -> InferenceNet:
        """The inference module over the parts `predict` uses, in eval mode (they stay in eval mode)."""
        for m in self.parts.values():
            m.eval()
        return InferenceNet(parts_used(self.parts, self.predict, sample), self.predict).eval()


def base_settings(model: Model) -> dict[str, Any]:
    """What every torch artifact records: float32, and the host-side numpy step before each call."""
    return {"precision": "fp32", "host_prepare": model.host_prepare}


def torch_engine() -> str:
    return f"torch {torch.__version__.split('+')[0]}"


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def require(path: str, *packages: str) -> None:
    """NotImplementedError naming the first of `packages` that is not installed here."""
    for p in packages:
        if importlib.util.find_spec(p) is None:
            raise NotImplementedError(f"{path}: the {p} package is not installed; {EXTRA}")


@contextlib.contextmanager
def loading(name: str, path: Path) -> Iterator[None]:
    """Any failure to load or first-run an artifact as one ArtifactError line (torch's C++ errors span
    a page with a stack trace); NotImplementedError passes through (the path is unsupported)."""
    try:
        yield
    except (NotImplementedError, ArtifactError):
        raise
    except Exception as e:
        raise ArtifactError(f"{name}: cannot load {path.name}: {exception_line(e)}") from e


class _Collect(logging.Handler):
    """Keeps the log records of an export (onnxruntime's quantiser logs to the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def quiet_export(record: dict[str, Any]) -> Iterator[None]:
    """Exporters print progress to stdout, warn and log; keep stdout clean (the worker's JSON) and
    record the distinct warning and log lines in the path's settings (`export_warnings`) instead."""
    onnx_log, root, collect = logging.getLogger("torch.onnx"), logging.getLogger(), _Collect()
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping torchvision::nms" ...
    root.addHandler(collect)  # a root handler also keeps logging.warning() from configuring stderr
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("always")
            yield
    finally:
        onnx_log.setLevel(level)
        root.removeHandler(collect)
    lines = {exception_line(w.message).split(": ", 1)[-1] for w in caught} | {s.strip()[:300] for s in collect.lines}
    record["export_warnings"] = sorted(set(record.get("export_warnings", [])) | lines)


def torch_predict(model: Model, module: Callable[[torch.Tensor], torch.Tensor]) -> Predict:
    """A loaded torch module as a numpy -> float32 numpy call, under inference_mode."""

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(model.tensor(x))
        return out.float().cpu().numpy()

    return predict


class Rows(dict[str, np.ndarray]):
    """What a path's export leaves for its load: the first row of the export sample."""

    def keep(self, sample: np.ndarray) -> None:
        self["row"] = np.array(sample[:1])


def first_call(name: str, path: Path, predict: Predict, rows: Rows) -> Predict:
    """Run the loaded artifact once on the export sample's first row (when this path exported it), so
    that a damaged file fails at load, not in the middle of a timing."""
    if "row" in rows:
        with loading(name, path):
            predict(rows["row"])
    return predict


# --- TorchScript ---------------------------------------------------------------------------------------


def torchscript_path(model: Model, rows: Rows) -> ExportPath:
    name = "torchscript"
    settings: dict[str, Any] = {**base_settings(model), "method": "torch.jit.trace", "frozen": False}

    def export(folder: Path, sample: np.ndarray) -> Path:
        rows.keep(sample)
        x = model.tensor(sample)
        with quiet_export(settings), torch.no_grad():
            traced = torch.jit.trace(model.net(x), (x,))
        path = folder / "model.torchscript.pt"
        torch.jit.save(traced, str(path))
        return path

    def load(path: Path) -> Predict:
        with loading(name, path):
            module = torch.jit.load(str(path), map_location=model.device).eval()
        return first_call(name, path, torch_predict(model, module), rows)

    return ExportPath(
        name, "torch.jit.trace of the model's predict + torch.jit.save, loaded with torch.jit.load (deprecated "
        "upstream)", torch_engine(), export, load, settings=settings,
    )  # fmt: skip


# --- torch.export ----------------------------------------------------------------------------------------


def batch_dim() -> Any:
    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def check_pt2(path: Path) -> None:
    """Refuse a .pt2 archive that torch.export.load would unpickle in full: a weight or constant stored
    pickled (`use_pickle`), or a pickled payload (sample inputs) that torch.load's weights-only mode
    refuses (torch.export.load then retries without it)."""
    with zipfile.ZipFile(path) as z:
        for member in z.namelist():
            if member.endswith("_config.json"):
                config = json.loads(z.read(member)).get("config", {})
                pickled = [k for k, v in config.items() if v.get("use_pickle")]
                if pickled:
                    raise ArtifactError(f"torch-export: {path.name} stores {pickled[0]} pickled; refused")
            elif member.endswith(".pt") and z.getinfo(member).file_size:  # empty: no example inputs
                torch.load(io.BytesIO(z.read(member)), weights_only=True)


def torch_export_path(model: Model, rows: Rows) -> ExportPath:
    name = "torch-export"
    settings: dict[str, Any] = {
        **base_settings(model),
        "method": "torch.export.export (non-strict) + torch.export.save, without example inputs",
        "dynamic_batch": [1, MAX_BATCH],
    }

    def export(folder: Path, sample: np.ndarray) -> Path:
        rows.keep(sample)
        x = model.tensor(sample)
        with quiet_export(settings):
            program = torch.export.export(model.net(x), (x,), dynamic_shapes=({0: batch_dim()},))
        # The artifact holds the model, not the sample rows it was traced with (torch.export.save would
        # store them, pickled: as large as the model for conv1d-audio's waveforms).
        program.example_inputs = None
        path = folder / "model.pt2"
        torch.export.save(program, path)
        return path

    def load(path: Path) -> Predict:
        with loading(name, path):
            check_pt2(path)
            module = torch.export.load(path).module()
        return first_call(name, path, torch_predict(model, module), rows)

    return ExportPath(
        name, "torch.export.export with a dynamic batch + torch.export.save (.pt2), run as "
        "torch.export.load(...).module() (the ATen graph, eagerly)", torch_engine(), export, load, settings=settings,
    )  # fmt: skip


# --- ONNX ------------------------------------------------------------------------------------------------


def onnx_export(model: Model, name: str, folder: Path, sample: np.ndarray, settings: dict[str, Any]) -> Path:
    """torch.onnx.export by the dynamo exporter (onnxscript), dynamic batch, one file unless the weights
    exceed ONNX_SINGLE_FILE_BYTES (then `model.onnx.data` beside it, in the folder and its size)."""
    require(name, "onnx", "onnxscript")
    x = model.tensor(sample)
    net = model.net(x)
    external = sum(p.numel() * p.element_size() for p in net.parameters()) > ONNX_SINGLE_FILE_BYTES
    path = folder / "model.onnx"
    with quiet_export(settings), torch.no_grad():
        torch.onnx.export(
            net, (x,), str(path), dynamo=True, external_data=external, opset_version=ONNX_OPSET,
            dynamic_shapes=({0: batch_dim()},), input_names=["x"], output_names=["y"], optimize=True,
        )  # fmt: skip
    settings["external_data"] = external
    return path


def ort_load(model: Model, name: str, path: Path, settings: dict[str, Any], rows: Rows) -> Predict:
    """The ONNX file in ONNX Runtime (bench.measure.onnxrt: the session options both frameworks' files get)."""
    from bench.measure import onnxrt

    reason = onnxrt.missing()
    if reason:
        raise NotImplementedError(f"{name}: {reason}")
    with loading(name, path):
        run, session = onnxrt.load(path, model.threads, model.device)
    settings.update(session)

    def predict(x: np.ndarray) -> np.ndarray:
        return run(model.prepare(x))

    return first_call(name, path, predict, rows)


def onnx_settings(model: Model) -> dict[str, Any]:
    return {
        **base_settings(model),
        "exporter": "torch.onnx.export(dynamo=True)",
        "onnxscript": package_version("onnxscript"),
        "opset": ONNX_OPSET,
        "dynamic_batch": [1, MAX_BATCH],
        "intra_op_threads": model.threads,
    }


def ort_engine() -> str:
    return f"onnxruntime {package_version('onnxruntime') or '(not installed)'}"


def onnx_path(model: Model, rows: Rows) -> ExportPath:
    name = "onnx-torch"
    settings = onnx_settings(model)

    def export(folder: Path, sample: np.ndarray) -> Path:
        rows.keep(sample)
        return onnx_export(model, name, folder, sample, settings)

    def load(path: Path) -> Predict:
        return ort_load(model, name, path, settings, rows)

    return ExportPath(
        name, "torch.onnx.export (dynamo exporter, onnxscript) with a dynamic batch, run in ONNX Runtime",
        ort_engine(), export, load, settings=settings,
    )  # fmt: skip


def onnx_int8_path(model: Model, rows: Rows) -> ExportPath:
    name = "onnx-torch-int8"
    settings = {**onnx_settings(model), "precision": "int8", "quantization": "onnxruntime quantize_dynamic QInt8"}

    def export(folder: Path, sample: np.ndarray) -> Path:
        require(name, "onnxruntime")
        from bench.measure import onnxrt

        rows.keep(sample)
        staging = folder / "fp32"  # the float32 file is an intermediate: removed, so not counted
        staging.mkdir()
        try:
            src = onnx_export(model, name, staging, sample, settings)
            with quiet_export(settings):
                dst = onnxrt.quantize_dynamic(src, folder / "model.int8.onnx")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dst

    def load(path: Path) -> Predict:
        return ort_load(model, name, path, settings, rows)

    return ExportPath(
        name, "the onnx-torch file quantised by onnxruntime's quantize_dynamic (int8 weights, dynamic-range "
        "activations), run in ONNX Runtime", ort_engine(), export, load, quantized=True, settings=settings,
    )  # fmt: skip


PATHS: dict[str, Callable[[Model, Rows], ExportPath]] = {
    "torchscript": torchscript_path,
    "torch-export": torch_export_path,
    "onnx-torch": onnx_path,
    "onnx-torch-int8": onnx_int8_path,
}
assert tuple(PATHS) == EXPORT_RUNTIMES["torch"], "impls/torch/export.py lists the runtimes of bench.core.spec"


def export_paths(model: Model) -> list[ExportPath]:
    """Every torch export path, in EXPORT_RUNTIMES["torch"] order."""
    return [PATHS[name](model, Rows()) for name in EXPORT_RUNTIMES["torch"]]
