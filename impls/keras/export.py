"""The TensorFlow export paths of the Keras twins (bench/scenarios/export.py,
bench.core.spec.EXPORT_RUNTIMES["tensorflow"]): SavedModel, TF Lite (fp32 and dynamic-range int8) run in LiteRT,
and ONNX written by tf2onnx (fp32 and int8) run in ONNX Runtime with the same session options as the torch ONNX
files (bench.measure.onnxrt).

Every path exports the model module's inference function `predict(parts, x)` (the classifier's logits, the
GAN's generator, the DQN's q network) of the trained model in the adapter, as one tf.function with a
dynamic batch dimension, cast to float32. Keras 3 on TensorFlow only (impls/keras/backend.py): Keras on
JAX or PyTorch trains the same twins, and its export would go through TensorFlow again.

Found with TensorFlow 2.21, Keras 3.15, tf2onnx 1.17 and LiteRT 2.3 (tests/export_probe_keras.py checks it):
- The TF Lite converter freezes only variables that the SavedModel tracks as tf.Variables. A Keras 3
  variable wraps one (`.value`): a SavedModel that tracks the Keras models (or `from_concrete_functions`
  with them as the trackable) converts without error into a file with no weights, whose outputs are
  garbage (inf, nan). Keras' ExportArchive tracks both, so it converts, but checkpoints every weight
  twice. Here the SavedModel tracks the tf.Variables only (one copy, and the converter freezes them),
  and every TF Lite file is converted from such a SavedModel in a scratch folder.
- A Keras LSTM on TensorFlow is a tf.while_loop over a TensorList whose element shape holds the batch
  dimension: TF Lite lowers it only with a static batch, or keeps it as Select TF ops, which the LiteRT
  interpreter (no Flex delegate) cannot run. The recurrent layers are therefore traced unrolled
  (`unroll=True`: the same weights and arithmetic; the sequence length is static) for TF Lite and ONNX,
  and the settings say so. The SavedModel keeps the loop.
- tf2onnx.convert.from_keras fails on Sequential models; `from_function` on the tf.function does not, and
  runs in this process before anything that patches tf2onnx (Keras' `format="onnx"`). tf2onnx has no
  handler for TF's Erfc (Keras' exact GELU): one is given here (1 - Erf); any other op it leaves
  unconverted makes the path unsupported, naming the op.

Optional packages (tf2onnx, onnxruntime, ai_edge_litert) are imported inside the functions: a training
run must not need them. Loading trusts an artifact no more than a data file: the files loaded are the
run's own exports (docs/FAILURE_MODES.md); no loader here runs pickled Python.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bench.interfaces.export_spec import ExportPath, Predict
from bench.measure import onnxrt
from impls.keras import common

OPSET = 17  # the ONNX opset tf2onnx writes (1.17 supports up to 18)
INSTALL = "install the export extra: pip install -e '.[export]'"
SERVE = "serve"  # the SavedModel's tf.function attribute
SIGNATURE = "serving_default"  # and its signature (TF Serving's, the TF Lite converter's default)


@dataclass(frozen=True)
class Source:
    """What every path exports: the model module's predict over the adapter's trained parts."""

    parts: Mapping[str, keras.Model]
    predict: Callable[[Mapping[str, keras.Model], Any], Any]
    threads: int  # intra-op threads of the run (BackendOptions.threads): LiteRT and ONNX Runtime get the same
    device: str

    def serving(self) -> Callable[[tf.Tensor], tf.Tensor]:
        """predict(parts, x) in inference mode, as float32 (a mixed-precision model answers in float32 too)."""
        parts, predict = self.parts, self.predict
        return lambda x: tf.cast(predict(parts, x), tf.float32)


def source_of(adapter: Any) -> Source:
    """The export source of a built Keras-on-TensorFlow adapter (impls/keras/backend.py KerasGraph)."""
    predict = getattr(adapter.mod, "predict", common.classification_predict)
    return Source(adapter.parts, predict, int(getattr(adapter, "threads", 1)), adapter.device)


def input_spec(sample: np.ndarray) -> tf.TensorSpec:
    """The serving input: the sample's row shape and dtype, any batch size."""
    return tf.TensorSpec((None, *sample.shape[1:]), tf.as_dtype(sample.dtype), name="x")


def version(dist: str) -> str | None:
    """An installed distribution's version, without importing it (None if absent)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def quiet(*logger_names: str) -> Iterator[None]:
    """Converters print dumps on stdout (Keras' "Saved artifact at ...", TF Lite's MLIR notes): sent to
    /dev/null, at the file-descriptor level too, so that a worker's stdout stays its own. Their
    errors still arrive as exceptions; tf2onnx's INFO logging (and `logger_names`') is lowered to errors."""
    sys.stdout.flush()
    saved_fd = os.dup(1)
    loggers = [logging.getLogger(n) for n in ("tf2onnx", *logger_names)]
    levels = [lg.level for lg in loggers]
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            os.dup2(null.fileno(), 1)
            for lg in loggers:
                lg.setLevel(logging.ERROR)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def recurrent_layers(parts: Mapping[str, keras.Model]) -> list[keras.layers.RNN]:
    found: list[keras.layers.RNN] = []
    for model in parts.values():
        found += [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.RNN)]
    return found


@contextlib.contextmanager
def unrolled(parts: Mapping[str, keras.Model]) -> Iterator[bool]:
    """Recurrent layers traced unrolled while the body runs (see the module docstring: TF Lite cannot run
    the while loop with a dynamic batch without Select TF ops), restored afterwards, so that training and
    the adapter's own predict are untouched. Yields whether any layer was unrolled."""
    layers = recurrent_layers(parts)
    before = [layer.unroll for layer in layers]
    try:
        for layer in layers:
            layer.unroll = True
        yield bool(layers)
    finally:
        for layer, flag in zip(layers, before, strict=True):
            layer.unroll = flag


def used_parts(src: Source, spec: tf.TensorSpec) -> list[keras.Model]:
    """The parts whose variables predict reads (the GAN's generator, not its discriminator; the DQN's q
    network, not its target copy): only they are saved, so that the artifact's size is the deployed model's."""
    captured = {id(v) for v in tf.function(src.serving()).get_concrete_function(spec).variables}
    return [m for m in src.parts.values() if any(id(v.value) in captured for v in m.variables)]


def write_saved_model(src: Source, spec: tf.TensorSpec, folder: Path) -> None:
    """tf.saved_model.save of a tf.Module holding the serving tf.function (also the serving_default signature)
    and the tf.Variables inside the Keras variables of the parts it uses (see the module docstring: tracked
    so, each weight is saved once and the TF Lite converter freezes them)."""
    module = tf.Module()
    module.tf_variables = [v.value for model in used_parts(src, spec) for v in model.variables]
    module.serve = tf.function(src.serving(), input_signature=[spec])
    with quiet():
        tf.saved_model.save(module, str(folder), signatures={SIGNATURE: module.serve})


# --- savedmodel -------------------------------------------------------------------------------------------


def export_saved_model(src: Source, folder: Path, sample: np.ndarray) -> Path:
    """The SavedModel (folder/saved_model); its main file is saved_model.pb, beside variables/."""
    out = folder / "saved_model"
    write_saved_model(src, input_spec(sample), out)
    return out / "saved_model.pb"


def load_saved_model(path: Path) -> Predict:
    """tf.saved_model.load of the folder holding `path`, called through its `serve` function."""
    obj = tf.saved_model.load(str(path.parent))
    serve = getattr(obj, SERVE, None)
    if serve is None:
        raise ValueError(f"{path.parent}: the SavedModel has no {SERVE!r} endpoint")
    dtype = serve.input_signature[0].dtype.as_numpy_dtype

    def predict(x: np.ndarray, _keep: Any = obj) -> np.ndarray:  # _keep: the variables live as long as predict
        return serve(tf.convert_to_tensor(np.asarray(x, dtype=dtype))).numpy()

    return predict


# --- tflite -----------------------------------------------------------------------------------------------


def litert_interpreter() -> tuple[type, str]:
    """The LiteRT interpreter class and its engine name; TensorFlow's deprecated tf.lite.Interpreter only
    where ai_edge_litert is not installed (the engine name says which ran)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return tf.lite.Interpreter, f"tensorflow {tf.__version__} tf.lite.Interpreter (ai_edge_litert missing)"
    return Interpreter, f"litert {version('ai-edge-litert')}"


def export_tflite(src: Source, folder: Path, sample: np.ndarray, int8: bool) -> Path:
    """TFLiteConverter.from_saved_model over a scratch SavedModel (outside `folder`: not the artifact),
    builtin ops only; `int8`: dynamic-range quantisation (Optimize.DEFAULT, no representative data)."""
    with tempfile.TemporaryDirectory(prefix="fwbench-tflite-") as scratch, unrolled(src.parts):
        write_saved_model(src, input_spec(sample), Path(scratch))
        converter = tf.lite.TFLiteConverter.from_saved_model(scratch, signature_keys=[SIGNATURE])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            with quiet():
                flat = converter.convert()
        except Exception as e:  # ConverterError: the toolchain says it cannot; its MLIR dump is cut to one line
            if type(e).__name__ != "ConverterError":
                raise
            raise NotImplementedError(
                f"tflite: the TF Lite converter cannot convert this model: {first_line(e)}"
            ) from e
    out = folder / ("model.int8.tflite" if int8 else "model.tflite")
    out.write_bytes(flat)
    return out


def first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if "error" in line.lower()] or str(e).splitlines() or [""]
    return f"{type(e).__name__}: {lines[0][:300]}"


def load_tflite(path: Path, threads: int) -> Predict:
    """One interpreter per batch size seen (resize + allocate once, not per call); the batch-1 one is made
    here, so that an unreadable file fails at load."""
    interpreter_cls, _ = litert_interpreter()
    cache: dict[int, tuple[Any, int, int, Any]] = {}

    def interpreter(batch: int, row: tuple[int, ...] | None) -> tuple[Any, int, int, Any]:
        it = interpreter_cls(model_path=str(path), num_threads=threads)
        detail = it.get_input_details()[0]
        shape = (batch, *(row if row is not None else tuple(detail["shape"][1:])))
        it.resize_tensor_input(detail["index"], shape)
        it.allocate_tensors()
        return it, detail["index"], it.get_output_details()[0]["index"], detail["dtype"]

    cache[1] = interpreter(1, None)

    def predict(x: np.ndarray) -> np.ndarray:
        entry = cache.get(len(x))
        if entry is None:
            entry = cache[len(x)] = interpreter(len(x), tuple(x.shape[1:]))
        it, idx_in, idx_out, dtype = entry
        it.set_tensor(idx_in, np.ascontiguousarray(x, dtype=dtype))
        it.invoke()
        return np.asarray(it.get_tensor(idx_out), dtype=np.float32)

    return predict


# --- onnx -------------------------------------------------------------------------------------------------


def require_onnx() -> None:
    if importlib.util.find_spec("tf2onnx") is None:
        raise NotImplementedError(f"onnx-tf: tf2onnx is not installed; {INSTALL}")
    reason = onnxrt.missing()
    if reason:
        raise NotImplementedError(f"onnx-tf: {reason}")


def erfc_to_onnx(ctx: Any, node: Any, name: str, args: list[Any]) -> None:
    """TensorFlow's Erfc (Keras' exact GELU on TF: 0.5 x erfc(-x / sqrt 2)) as 1 - Erf(x): ONNX has Erf only,
    and tf2onnx 1.17 has no Erfc handler, so it would leave the TF op in the file for ONNX Runtime to refuse.
    The absolute error of 1 - erf is float32 rounding (~6e-8), which is what the GELU needs."""
    from tf2onnx import utils

    x = node.input[0]
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(x))
    erf = ctx.make_node("Erf", [x]).output[0]
    one = ctx.make_const(utils.make_name(f"{name}_one"), np.array(1, dtype=dtype)).output[0]
    node.type = "Sub"
    node.domain = ""
    ctx.replace_inputs(node, [one, erf])


CUSTOM_OPS = {"Erfc": (erfc_to_onnx, [])}  # tf2onnx's custom_op_handlers: TF ops it does not convert itself


def unconverted_ops(model: Any) -> list[str]:
    """Ops of the file, its subgraphs included, that are not ONNX operators (tf2onnx leaves a TF op it
    cannot convert in the file as is): ONNX Runtime would refuse them at load."""
    import onnx

    found: set[str] = set()

    def walk(graph: Any) -> None:
        for node in graph.node:
            if not onnx.defs.has(node.op_type, node.domain or ""):
                found.add(f"{node.domain + '.' if node.domain else ''}{node.op_type}")
            for attr in node.attribute:
                for g in (attr.g, *attr.graphs) if attr.HasField("g") else attr.graphs:
                    walk(g)

    walk(model.graph)
    return sorted(found)


def write_onnx(src: Source, sample: np.ndarray, out: Path) -> Path:
    """tf2onnx.convert.from_function on the serving tf.function: one self-contained .onnx file."""
    require_onnx()
    import tf2onnx

    spec = [input_spec(sample)]
    with unrolled(src.parts), quiet():
        fn = tf.function(src.serving(), input_signature=spec)
        model, _ = tf2onnx.convert.from_function(
            fn, input_signature=spec, opset=OPSET, custom_op_handlers=CUSTOM_OPS, output_path=str(out)
        )
    missing = unconverted_ops(model)
    if missing:
        out.unlink(missing_ok=True)
        raise NotImplementedError(
            f"onnx-tf: tf2onnx {version('tf2onnx')} has no ONNX conversion for {', '.join(missing)} (opset {OPSET})"
        )
    return out


def export_onnx(src: Source, folder: Path, sample: np.ndarray, int8: bool) -> Path:
    if not int8:
        return write_onnx(src, sample, folder / "model.onnx")
    with tempfile.TemporaryDirectory(prefix="fwbench-onnx-") as scratch:  # the fp32 file is not the artifact
        fp32 = write_onnx(src, sample, Path(scratch) / "model.onnx")
        with quiet("root"):  # onnxruntime.quantization advises pre-processing on the root logger, every call
            return onnxrt.quantize_dynamic(fp32, folder / "model.int8.onnx")


def load_onnx(path: Path, threads: int, device: str, settings: dict[str, Any]) -> Predict:
    """The shared ONNX Runtime session (bench.measure.onnxrt); its options go into the path's `settings`."""
    require_onnx()
    predict, session = onnxrt.load(path, threads, device)
    settings.update(session)
    return predict


# --- the paths --------------------------------------------------------------------------------------------


def export_paths(adapter: Any) -> list[ExportPath]:
    """One ExportPath per runtime of EXPORT_RUNTIMES["tensorflow"], in that order."""
    src = source_of(adapter)
    return [
        saved_model_path(src),
        tflite_path(src, False),
        tflite_path(src, True),
        onnx_path(src, False),
        onnx_path(src, True),
    ]


INT8 = {"quantization": "dynamic-range int8 weights, activations quantised at run time"}


def saved_model_path(src: Source) -> ExportPath:
    return ExportPath(
        "savedmodel",
        "tf.saved_model.save of the serving tf.function, loaded with tf.saved_model.load and its serve function",
        f"tensorflow {tf.__version__}",
        lambda folder, sample: export_saved_model(src, folder, sample),
        load_saved_model,
        settings={
            "endpoint": SERVE,
            "signature": SIGNATURE,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "rnn_unrolled": False,
        },
    )


def tflite_path(src: Source, int8: bool) -> ExportPath:
    _, engine = litert_interpreter()
    settings: dict[str, Any] = {
        "converter": "TFLiteConverter.from_saved_model",
        "supported_ops": "TFLITE_BUILTINS",
        "interpreter": engine,
        "interpreter_threads": src.threads,
        "delegate": "XNNPACK (the interpreter's default on CPU)",
        "rnn_unrolled": bool(recurrent_layers(src.parts)),
        "batch": "dynamic (resize_tensor_input, one interpreter per batch size)",
    }
    if int8:
        settings.update(
            optimizations="DEFAULT",
            min_elements="the converter leaves weights of fewer than 1024 elements in float32",
            **INT8,
        )
    return ExportPath(
        "tflite-int8" if int8 else "tflite",
        "TF Lite flatbuffer from a SavedModel"
        + (", dynamic-range int8 (Optimize.DEFAULT)" if int8 else "")
        + ", run in the LiteRT interpreter",
        engine,
        lambda folder, sample: export_tflite(src, folder, sample, int8=int8),
        lambda path: load_tflite(path, src.threads),
        quantized=int8,
        settings=settings,
    )


def onnx_path(src: Source, int8: bool) -> ExportPath:
    ort = version("onnxruntime")
    settings: dict[str, Any] = {
        "converter": f"tf2onnx {version('tf2onnx')} convert.from_function",
        "custom_ops": "Erfc as 1 - Erf (tf2onnx has no Erfc handler)",
        "opset": OPSET,
        "rnn_unrolled": bool(recurrent_layers(src.parts)),
        "batch": "dynamic",
    }
    if int8:
        settings.update(quantizer="onnxruntime.quantization.quantize_dynamic QInt8", **INT8)
    return ExportPath(
        "onnx-tf-int8" if int8 else "onnx-tf",
        "tf2onnx from the serving tf.function"
        + (", quantised by onnxruntime.quantization.quantize_dynamic" if int8 else "")
        + ", run in ONNX Runtime",
        f"onnxruntime {ort}" if ort else "onnxruntime (not installed)",
        lambda folder, sample: export_onnx(src, folder, sample, int8=int8),
        lambda path: load_onnx(path, src.threads, src.device, settings),
        quantized=int8,
        settings=settings,
    )
