"""fwbench: the harness. Imports neither torch nor tensorflow (workers do, one framework each)."""

__version__ = "0.1.0"
