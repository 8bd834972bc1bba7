"""Keras 3 (TensorFlow backend) twins (one module per model) and the keras backends (backend.py).

Imported as `impls.keras.<model>`; never put impls/ itself on sys.path, or this folder would
shadow the real `keras` package.
"""
