"""PyTorch twins (one module per model) and the torch backends (backend.py).

Imported as `impls.torch.<model>`; never put impls/ itself on sys.path, or this folder would
shadow the real `torch` package.
"""
