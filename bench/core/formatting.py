"""Values to text: the numbers, ratios, intervals and tables that the report, `fwbench compare` and the
progress display print. Pure functions of their arguments: what the numbers mean is bench/analysis's
(cells.py, verdicts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is only passed through (its import is slow: the progress display does without)
    import pandas as pd

    from bench.analysis.verdicts import Ratio


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def runs_text(n: int) -> str:
    """'about 40 runs' or 'more than 1000 runs' (bench.core.stats.runs_to_resolve's advice)."""
    limit = 1000  # bench.core.stats.MAX_ADVISED_RUNS (not imported: scipy's import is slow)
    return f"more than {limit} runs" if n > limit else f"about {n} runs"


def fmt_ratio(ratio: Ratio | None) -> str:
    """'1.23*' where the difference is significant by the verdict rule; '1.23' otherwise."""
    if ratio is None:
        return "-"
    return f"{ratio.value:.2f}" + ("*" if ratio.significant else "")


def fmt_ci(ratio: Ratio | None) -> str:
    """'1.23 [1.10, 1.40]*': a ratio with its 95% CI (starred as fmt_ratio)."""
    if ratio is None:
        return "-"
    return f"{ratio.value:.2f} [{ratio.low:.2f}, {ratio.high:.2f}]" + ("*" if ratio.significant else "")


def fmt_interval(ci: tuple[float, float] | None) -> str:
    """'[0.976, 1.026]': a CI alone, three decimals."""
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"


def fmt_change(x: float | None) -> str:
    """'+20.0%': a relative change."""
    return "-" if x is None else f"{x:+.1%}"


def fmt_runs(value: float | None, n: int, unit: str) -> str:
    """'0.586 ms (3 runs)'."""
    return f"{fmt(value)}{unit} ({n} run{'s' if n != 1 else ''})"


def one_line(reason: str, limit: int = 80) -> str:
    """The last non-blank line of a reason, fit for a table cell."""
    line = next((ln for ln in reversed(reason.splitlines()) if ln.strip()), "")
    line = line.replace("|", "/")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def spread(values: Sequence[float]) -> str:
    """'0.97' for one value or equal values; '0.97 (0.95–0.98)' (median, range) for several."""
    if not values:
        return "-"
    med = float(np.median(values))
    if len(values) == 1 or np.ptp(values) == 0:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}–{fmt(max(values))})"


def workload_label(workload: str, scenario: str, name_scenario: bool) -> str:
    """'mlp-iris', or 'mlp-iris (inference)' where the results hold more than one scenario."""
    return f"{workload} ({scenario})" if name_scenario else workload


def slug(text: str) -> str:
    """'AMD EPYC' -> 'amd-epyc' (a file name)."""
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-") or "device"


def blank_missing(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(object)
    return df.where(df.notna(), "")


def markdown(df: pd.DataFrame) -> str:
    """Cells verbatim (numbers are already formatted: tabulate must not re-parse '21,447')."""
    return df.to_markdown(index=False, disable_numparse=True)


def workload_title(workload: str, precision: str, model: str, several_models: bool) -> str:
    """'### cnn-digits', '### cnn-digits (bf16)', '### cnn-digits on NVIDIA H100' (a section per workload)."""
    return (
        f"### {workload}"
        + (f" ({precision})" if precision != "fp32" else "")
        + (f" on {model}" if several_models else "")
    )
