"""Keras 3 twins (one module per model, backend-neutral Keras layers) and the adapters that drive them:
backend.py (on TensorFlow: tf.function, XLA, fit, eager), jax_backend.py (on JAX), torch_backend.py
(on PyTorch).

Imported as `impls.keras.<model>`; never put impls/ itself on sys.path, or this folder would
shadow the real `keras` package. Importing this package does not import keras.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence

KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def check_backend(name: str) -> None:
    """Keras reads KERAS_BACKEND once, when it is first imported: each adapter module sets it before
    importing keras, then calls this. A process whose keras already ran on another backend gets a
    UsageError naming both (each Keras backend runs in its own worker process)."""
    if name not in KERAS_BACKENDS:
        raise ValueError(f"Keras backend {name!r} is not one of {', '.join(KERAS_BACKENDS)}")
    from keras import backend

    if backend.backend() != name:
        from bench.core.errors import UsageError

        raise UsageError(
            f"this process imported keras on {backend.backend()!r}; Keras on {name!r} needs its own process"
        )


@contextlib.contextmanager
def optional_imports_off(names: Sequence[str]) -> Iterator[None]:
    """While inside, `import NAME` (and its submodules) raises ImportError for each of `names` not imported
    yet, as if it were not installed; afterwards each imports as usual. For libraries that a framework
    imports only to offer optional features (`try: import pandas except ImportError: pandas = None`)."""
    off = [n for n in names if n not in sys.modules]
    for n in off:
        sys.modules[n] = None  # type: ignore[assignment]  # the import system's "not importable" marker
    try:
        yield
    finally:
        for n in off:
            if n in sys.modules and sys.modules[n] is None:
                del sys.modules[n]
