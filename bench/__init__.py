"""fwbench: the harness. Imports neither torch nor tensorflow (workers do, one framework each)."""

from pathlib import Path

__version__ = "0.1.0"

REPO = Path(__file__).resolve().parent.parent  # the checkout: bench/ and impls/ side by side
