"""Keras 3 twins (one module per model, backend-neutral Keras layers) and the adapters that drive them:
backend.py (on TensorFlow: tf.function, XLA, fit, eager), jax_backend.py (on JAX), torch_backend.py
(on PyTorch).

Imported as `impls.keras.<model>`; never put impls/ itself on sys.path, or this folder would
shadow the real `keras` package. Importing this package does not import keras.
"""

from __future__ import annotations

KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def check_backend(name: str) -> None:
    """Keras reads KERAS_BACKEND once, when it is first imported: each adapter module sets it before
    importing keras, then calls this. A process whose keras already ran on another backend gets a
    UsageError naming both (each Keras backend runs in its own worker process)."""
    if name not in KERAS_BACKENDS:
        raise ValueError(f"Keras backend {name!r} is not one of {', '.join(KERAS_BACKENDS)}")
    from keras import backend

    if backend.backend() != name:
        from bench.errors import UsageError

        raise UsageError(
            f"this process imported keras on {backend.backend()!r}; Keras on {name!r} needs its own process"
        )
