"""Decoder generation across runs and frameworks (the infer scenario's `Result.generation`,
bench/measure/generation.py): per (workload, backend, batch) the medians over runs, and the greedy outputs of
two runs compared token by token. Framework-free."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.analysis import cells, verdicts
from bench.core import stats
from bench.records.results import Generation, Result, Suite


@dataclass(frozen=True)
class Agreement:
    """Two greedy generations of the same prompts: equal ids, or the first (row, position) where they differ
    and both runs' margins there (top-1 minus top-2 logit of the id each chose)."""

    equal: bool
    compared: int  # ids compared (rows x new positions)
    row: int | None = None
    position: int | None = None  # 0 = the first new id
    ids: tuple[int, int] | None = None
    margins: tuple[float, float] | None = None

    def text(self) -> str:
        if self.equal:
            return f"equal ({self.compared} ids)"
        ma, mb = self.margins or (float("nan"), float("nan"))
        return (
            f"differ at row {self.row}, new id {self.position} ({self.ids[0]} vs {self.ids[1]}; "  # type: ignore[index]
            f"margins {ma:.3g} / {mb:.3g})"
        )


def agreement(a: Generation, b: Generation) -> Agreement:
    """Where the greedy ids of `a` and `b` (the same prompts) first differ, row by row."""
    if (a.batch, a.prompt_tokens, a.new_tokens) != (b.batch, b.prompt_tokens, b.new_tokens):
        raise ValueError(
            f"generations of different protocols: batch/prompt/new {a.batch}/{a.prompt_tokens}/{a.new_tokens} "
            f"and {b.batch}/{b.prompt_tokens}/{b.new_tokens}"
        )
    compared = 0
    for row, (ta, tb) in enumerate(zip(a.tokens, b.tokens, strict=True)):
        for pos, (x, y) in enumerate(zip(ta, tb, strict=True)):
            if x != y:
                return Agreement(False, compared, row, pos, (x, y), (a.margins[row][pos], b.margins[row][pos]))
            compared += 1
    return Agreement(True, compared)


@dataclass(frozen=True)
class GenerationCell:
    """One (workload, backend, batch) over its ok infer runs: medians over runs of each run's median."""

    workload: str
    backend: str
    batch: int
    runs: int
    implementation: str
    ttft_ms: float
    decode_ms_per_token: float
    tokens_s: float
    kv_cache_mib: float
    first: Generation  # the lowest seed's record (the greedy comparison's)
    ttft_runs: tuple[float, ...] = ()  # each run's median, for the verdict rule
    decode_runs: tuple[float, ...] = ()
    contended: int = 0  # runs whose CPU was taken by other processes


def generation_results(suites: Sequence[Suite]) -> list[Result]:
    return [r for s in suites for r in s.results if r.ok and r.scenario == "infer" and r.generation]


def generation_cells(suites: Sequence[Suite]) -> list[GenerationCell]:
    groups: dict[tuple[str, str, int], list[tuple[int, Generation, bool]]] = {}
    for r in generation_results(suites):
        for g in r.generation:
            groups.setdefault((r.workload, r.backend, g.batch), []).append((r.seed or 0, g, r.contended))
    out = []
    for (workload, backend, batch), runs in sorted(groups.items()):
        gs = [g for _, g, _ in sorted(runs, key=lambda sg: sg[0])]
        out.append(
            GenerationCell(
                workload, backend, batch, len(gs), gs[0].implementation,
                float(np.median([g.ttft_p50_ms for g in gs])),
                float(np.median([g.decode_ms_per_token for g in gs])),
                float(np.median([g.tokens_s for g in gs])),
                float(gs[0].kv_cache_mib or 0.0),
                gs[0],
                tuple(float(g.ttft_p50_ms or 0.0) for g in gs),
                tuple(float(g.decode_ms_per_token or 0.0) for g in gs),
                sum(c for _, _, c in runs),
            )
        )  # fmt: skip
    return out


def versus(
    a: GenerationCell, b: GenerationCell, figure: str, margin: float = stats.DEFAULT_MARGIN
) -> verdicts.Ratio | None:
    """a / b of `figure` ("ttft" or "decode": each run's median) with the verdict rule of every workload: Welch
    on the logs of the per-run values, an answer only with MIN_RUNS_FOR_RUN_LEVEL_CI runs a side, none contended."""
    sa, sb = (getattr(c, f"{figure}_runs") for c in (a, b))
    why = verdicts.no_verdict_reason([len(sa), len(sb)], a.contended + b.contended)
    run_level = min(len(sa), len(sb)) >= cells.MIN_RUNS_FOR_RUN_LEVEL_CI
    return verdicts.judged(sa, sb, run_level, run_level, why, margin)
