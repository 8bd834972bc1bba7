"""The summary's side comparisons, on bench/analysis/cells.py's cells under bench/analysis/verdicts.py's rule:
out of the box vs tuned (per framework the fastest cell of each backend tier), the Keras 3 backends beside
native PyTorch, and each backend in a lower precision against its own fp32 cell. Rendered by
bench/report/comparisons.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.analysis.cells import DEFAULT_PRECISION, Cell, by_workload, speed_only
from bench.analysis.verdicts import Ratio, fastest, fastest_ok, judged, ratio, step_samples, why_no_verdict
from bench.core import stats
from bench.core.backends import BACKENDS


def tier_of(c: Cell) -> str:
    """The cell's backend tier (bench.core.backends.BackendInfo.tier); an unregistered backend counts as tuned."""
    info = BACKENDS.get(c.backend)
    return info.tier if info else "tuned"


@dataclass(frozen=True)
class TierComparison:
    """One workload out of the box and tuned: per framework the fastest cell of each backend tier."""

    workload: str
    scenario: str
    device_model: str
    fastest: dict[tuple[str, str], Cell]  # (framework, tier) -> the tier's fastest ok cell
    margin: float = stats.DEFAULT_MARGIN  # the verdict rule's margin for "the same"

    def cell(self, framework: str, tier: str) -> Cell | None:
        return self.fastest.get((framework, tier))

    def ratio(self, tier: str) -> Ratio | None:
        """TensorFlow / PyTorch step time within one tier (above 1: PyTorch faster)."""
        pt, tf = self.cell("torch", tier), self.cell("tensorflow", tier)
        return ratio(tf, pt, self.margin) if pt is not None and tf is not None else None


def tier_comparisons(cs: Sequence[Cell], margin: float = stats.DEFAULT_MARGIN) -> list[TierComparison]:
    """Workloads that ran a default-tier and a tuned backend of some framework: what a user gets from
    the documented path against the fastest path one opts into."""
    out = []
    for (model, scenario, workload), group in by_workload(cs).items():
        best = {
            (fw, tier): cell
            for fw in ("torch", "tensorflow")
            for tier in ("default", "tuned")
            if (cell := fastest([c for c in group if tier_of(c) == tier], fw)) is not None
        }
        if any((fw, "default") in best and (fw, "tuned") in best for fw in ("torch", "tensorflow")):
            out.append(TierComparison(workload, scenario, model, best, margin))
    return out


KERAS_COLUMNS = ("Keras on TensorFlow", "Keras on JAX", "Keras on PyTorch", "PyTorch eager", "PyTorch fastest")


@dataclass(frozen=True)
class KerasComparison:
    """One workload on every Keras 3 backend beside native PyTorch (the Keras team's own comparison):
    per column of KERAS_COLUMNS the fastest ok cell."""

    workload: str
    scenario: str
    device_model: str
    fastest: dict[str, Cell]
    margin: float = stats.DEFAULT_MARGIN  # the verdict rule's margin for "the same"

    def ratio(self, a: str, b: str) -> Ratio | None:
        """Step time of column a / column b (above 1: b faster)."""
        ca, cb = self.fastest.get(a), self.fastest.get(b)
        return ratio(ca, cb, self.margin) if ca is not None and cb is not None else None


def keras_column(c: Cell) -> str | None:
    """The cell's column in the Keras 3 backend table: by its Keras backend, or native PyTorch eager."""
    info = BACKENDS.get(c.backend)
    if info is None:
        return None
    if info.keras_backend is not None:
        return {"tensorflow": "Keras on TensorFlow", "jax": "Keras on JAX", "torch": "Keras on PyTorch"}[
            info.keras_backend
        ]
    return "PyTorch eager" if info.tier == "default" else None


def keras_comparisons(cs: Sequence[Cell], margin: float = stats.DEFAULT_MARGIN) -> list[KerasComparison]:
    """Workloads with an ok cell of Keras on JAX or on PyTorch: the Keras 3 backend table's rows."""
    out = []
    for (model, scenario, workload), group in by_workload(cs).items():
        best = {
            col: cell
            for col in KERAS_COLUMNS[:4]
            if (cell := fastest_ok(c for c in group if keras_column(c) == col)) is not None
        }
        native = fastest(group, "torch")
        if native is not None:
            best["PyTorch fastest"] = native
        if "Keras on JAX" in best or "Keras on PyTorch" in best:
            out.append(KerasComparison(workload, scenario, model, best, margin))
    return out


@dataclass(frozen=True)
class PrecisionComparison:
    """One backend on one workload in a lower precision beside its own fp32 cell."""

    workload: str
    device_model: str
    backend: str
    precision: str
    fp32: Cell | None
    cell: Cell
    margin: float = stats.DEFAULT_MARGIN  # the verdict rule's margin for "the same"

    def speedup(self) -> Ratio | None:
        """fp32 step time / this precision's (above 1: the lower precision is faster), with the verdict rule."""
        if self.fp32 is None or not self.fp32.ok or not self.cell.ok:
            return None
        sa, sb, run_level = step_samples(self.fp32, self.cell)
        return judged(sa, sb, run_level, run_level, why_no_verdict(self.fp32, self.cell), self.margin)

    def metric_change(self) -> float | None:
        """Mean final metric in this precision minus in fp32 (None: speed only, or a side without one)."""
        if self.fp32 is None or not self.fp32.ok or not self.cell.ok or speed_only(self.cell):
            return None
        a, b = list(self.fp32.metric_by_seed().values()), list(self.cell.metric_by_seed().values())
        return float(np.mean(b) - np.mean(a)) if a and b else None


def precision_comparisons(cs: Sequence[Cell], margin: float = stats.DEFAULT_MARGIN) -> list[PrecisionComparison]:
    """Every cell in a precision other than fp32, with the same backend's fp32 cell of its workload (if run)."""
    fp32 = {(c.device_model, c.base_scenario, c.workload, c.backend): c for c in cs if c.precision == "fp32"}
    return [
        PrecisionComparison(
            c.workload,
            c.device_model,
            c.backend,
            c.precision,
            fp32.get((c.device_model, c.base_scenario, c.workload, c.backend)),
            c,
            margin,
        )
        for c in cs
        if c.precision != DEFAULT_PRECISION
    ]
