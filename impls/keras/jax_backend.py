"""keras-jax: the Keras twins on Keras 3's JAX backend, trained by the stateless step of the Keras
guide for custom training loops in JAX: the model called statelessly under `jax.value_and_grad`, then
the optimizer's `stateless_apply`, the whole step under one `jax.jit`.

The model's state (trainable, non-trainable and optimizer variables) lives in the adapter as JAX
arrays, passed into and returned from the jitted step (donated, so XLA updates it in place); it is
written back into the Keras variables only when weights are read. The step runs the model module's
backend-neutral `loss` (impls/keras/base.py) under a `keras.StatelessScope` mapping every variable to
its array, which is what `stateless_call` does for one model; here it spans every part (DQN's q and
target). A model with only a TensorFlow-written step (the GAN) is unsupported, with that reason.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "jax"  # before keras is imported anywhere in this process

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import keras
import numpy as np

from bench.core.errors import UsageError
from bench.core.spec import BackendOptions, Workload
from impls.keras import check_backend, common
from impls.keras.base import KerasTwin

check_backend("jax")

State = tuple[list[jax.Array], list[jax.Array], list[jax.Array]]  # trained part's trainable, all others, optimizer


def xla_flags(threads: int, deterministic: bool, device: str) -> str:
    """XLA_FLAGS for this run, read by JAX when it first initialises a device (after this adapter's
    __init__ sets them). XLA:CPU has no thread-count flag: one thread turns its multi-threaded Eigen
    off; more threads leave XLA's own pool (one thread per usable CPU), which settings() records."""
    flags = [os.environ.get("XLA_FLAGS", "")]
    if device == "cpu" and threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    if device == "cuda" and deterministic:
        flags.append("--xla_gpu_deterministic_ops=true")
    return " ".join(f for f in flags if f)


class KerasJax(KerasTwin):
    name: ClassVar[str] = "keras-jax"
    framework: ClassVar[str] = "jax"
    # A LossScaleOptimizer's scale is an optimizer variable, which the stateless step keeps outside the
    # StatelessScope that the loss runs in: fp16 is not wired here.
    loss_scaling: ClassVar[bool] = False

    def __init__(self, opts: BackendOptions) -> None:
        os.environ["XLA_FLAGS"] = xla_flags(opts.threads, opts.deterministic, opts.device)
        platform = "gpu" if opts.device == "cuda" else "cpu"
        try:
            self.jax_device = jax.devices(platform)[0]
        except RuntimeError:
            raise UsageError(f"--device {opts.device}: JAX sees no {platform} (is jax[cuda12] installed?)") from None
        jax.config.update("jax_default_device", self.jax_device)
        if opts.device == "cuda":  # JAX's default on NVIDIA GPUs is TF32 for float32 matmuls: strict unless tf32
            jax.config.update(
                "jax_default_matmul_precision", "tensorfloat32" if opts.precision == "tf32" else "highest"
            )
        keras.utils.set_random_seed(opts.seed)
        self.precision = opts.precision
        self.device = opts.device
        self.threads = opts.threads
        self.deterministic = opts.deterministic

    def build(self, workload: Workload, init: dict[str, np.ndarray] | None) -> None:
        self.build_twin(workload, init)
        net, opt, loss_of, self.copies = self.neutral_step()
        predict = getattr(self.mod, "predict", common.classification_predict)
        parts = self.parts
        # The state: the trained part's trainable variables (differentiated), every other variable of
        # every part (non-trainable ones, a target network, dropout seeds) and the optimizer's.
        self.trainable_vars = list(net.trainable_variables)
        trained_ids = {id(v) for v in self.trainable_vars}
        self.other_vars = [v for p in parts.values() for v in p.variables if id(v) not in trained_ids]
        self.opt_vars = list(opt.variables)
        self.index = {id(v): (0, i) for i, v in enumerate(self.trainable_vars)}
        self.index.update({id(v): (1, i) for i, v in enumerate(self.other_vars)})

        def mapping(trainable: list[Any], others: list[Any]) -> list[tuple[Any, Any]]:
            return [*zip(self.trainable_vars, trainable), *zip(self.other_vars, others)]

        def loss_fn(trainable: list[Any], others: list[Any], batch: Any) -> tuple[Any, list[Any]]:
            with keras.StatelessScope(state_mapping=mapping(trainable, others)) as scope:
                loss = loss_of(parts, batch)
            return loss, [scope.get_current_value(v) for v in self.other_vars]

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def step(state: State, batch: Any) -> tuple[Any, State]:
            trainable, others, opt_vars = state
            (loss, others), grads = grad_fn(trainable, others, batch)
            trainable, opt_vars = opt.stateless_apply(opt_vars, grads, trainable)
            return loss, (trainable, others, opt_vars)

        def infer(state: State, x: Any) -> Any:
            with keras.StatelessScope(state_mapping=mapping(state[0], state[1])):
                return predict(parts, x)

        self._step = jax.jit(step, donate_argnums=0)
        self._predict = jax.jit(infer)
        self.state = self.read_state()

    def variable_lists(self) -> tuple[list[Any], list[Any], list[Any]]:
        return self.trainable_vars, self.other_vars, self.opt_vars

    def read_state(self) -> State:
        """Copies of the Keras variables' values (copies: the step donates its input state)."""
        return tuple([jnp.array(v.value, copy=True) for v in vs] for vs in self.variable_lists())  # type: ignore[return-value]

    def write_state(self) -> None:
        for vs, values in zip(self.variable_lists(), self.state):
            for v, value in zip(vs, values, strict=True):
                v.assign(value)

    def prepare(self, batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
        out = {k: jax.device_put(v, self.jax_device) for k, v in batch.items()}
        jax.block_until_ready(out)  # the batch is resident before the step clock starts
        self.batch_spec = out  # the profile scenario compiles the step's HLO for this shape (profiler)
        return out

    def train_step(self, batch: Mapping[str, jax.Array]) -> float:
        # One XLA executable: its outputs (loss and new state) are ready together, so float(loss)
        # returns when the whole step has finished.
        loss, self.state = self._step(self.state, batch)
        copies = self.copies(self.parts, batch)  # e.g. DQN's target <- q, on the flag the batch carries
        if copies:
            trainable, others, opt_vars = self.state
            for dst, src in copies:
                which, i = self.index[id(src)]
                _, j = self.index[id(dst)]
                others[j] = jnp.array(self.state[which][i], copy=True)  # its own buffer: the step donates both
            self.state = (trainable, others, opt_vars)
        return float(loss)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(self.state, self.prepare({"x": x})["x"])).astype(np.float32, copy=False)

    def infer_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """The jitted stateless predict over the current trained state (read at each call: a later training
        step donates the arrays it replaces). Only the model's variables are passed, not the optimizer's."""
        predict, parts = getattr(self.mod, "predict", common.classification_predict), self.parts
        variables = [*self.trainable_vars, *self.other_vars]

        def infer_stateless(trainable: list[Any], others: list[Any], x: Any) -> Any:
            with keras.StatelessScope(state_mapping=list(zip(variables, [*trainable, *others], strict=True))):
                return predict(parts, x)

        fn = jax.jit(infer_stateless)

        def infer(x: np.ndarray) -> np.ndarray:
            trainable, others, _ = self.state
            return np.asarray(fn(trainable, others, x)).astype(np.float32, copy=False)

        return infer

    def get_weights(self) -> dict[str, np.ndarray]:
        self.write_state()
        return super().get_weights()

    def set_weights(self, w: Mapping[str, np.ndarray]) -> None:
        super().set_weights(w)
        if hasattr(self, "state"):
            self.state = self.read_state()

    def reset_peak_memory(self) -> None:
        """JAX has no reset of its allocator peak: on GPU the peak is the process's so far (settings say so)."""

    def device_memory(self) -> dict[str, float]:
        if self.device != "cuda":
            return {}
        stats = self.jax_device.memory_stats() or {}
        return {"allocator_peak_allocated_mib": stats.get("peak_bytes_in_use", 0) / 1024.0**2}

    def matmul(self, n: int) -> Callable[[], float]:
        """One float32 n x n matmul per call, finished on return (the suite's measured peak)."""
        ka, kb = jax.random.split(jax.random.key(0))
        a, b = jax.random.normal(ka, (n, n), jnp.float32), jax.random.normal(kb, (n, n), jnp.float32)
        mm = jax.jit(lambda a, b: (a @ b)[0, 0])
        return lambda: float(mm(a, b))

    def profiler(self, folder: str) -> Any:
        """JAX's profiler over the profile scenario's window, into `folder`, read with XProf
        (impls/keras/profiling.py: the XLA operations of the jitted step)."""
        from impls.keras.profiling import JaxProfiler

        options = jax.profiler.ProfileOptions()
        options.host_tracer_level = 3  # XLA:CPU records each operation it runs at this level

        def hlo_text() -> str:
            """The jitted step's compiled HLO for the state and batch it ran on (compiled again: not timed)."""
            spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (self.state, self.batch_spec))
            return self._step.lower(*spec).compile().as_text()

        return JaxProfiler(
            folder,
            lambda: jax.profiler.start_trace(folder, profiler_options=options),
            jax.profiler.stop_trace,
            hlo_text,
        )

    def settings(self) -> dict[str, Any]:
        threads = 1 if self.threads == 1 else len(os.sched_getaffinity(0))
        return {
            **self.keras_settings(),
            "speed": self.speed_settings(
                f"{threads} intra-op, 1 inter-op (XLA:CPU's pool)" if self.device == "cpu" else "-",
                "off (XLA's own kernels; no oneDNN switch)",
                "jax.jit of the whole step",
                "on (every step)",
                "stateless_apply over every variable, in the jitted step",
            ),
            "jax_version": jax.__version__,
            "jax_device": str(self.jax_device),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            # XLA:CPU's pool: one thread with its Eigen threading off, else one per usable CPU
            "intra_op_threads": 1 if self.threads == 1 else len(os.sched_getaffinity(0)),
            "inter_op_threads": 1,  # one jitted step at a time: each train_step waits for its loss
            "compile": "jax.jit(stateless step, donate state)",
            "compile_cache": "none (JAX's compilation cache is off by default)",
            "allocator_peak": "process peak (JAX cannot reset it)" if self.device == "cuda" else None,
        }
