"""The trivial backend variant of tests/test_extension.py: what adding a backend takes is this class
and one BackendInfo entry. It drives torch eagerly, under its own name."""

from __future__ import annotations

from typing import ClassVar

from impls.torch.backend import TorchEager


class TorchEagerVariant(TorchEager):
    name: ClassVar[str] = "torch-variant"
