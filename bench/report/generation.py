"""The report's Generation section: decoder workloads' greedy generation in the infer scenario
(bench/analysis/generation.py), per workload: time to first token, time per output token, tokens/s and the
KV cache by backend and batch, and each backend's greedy ids against torch-eager's (the same seed and
prompts). Nothing here imports a framework."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bench.analysis import verdicts
from bench.analysis.generation import agreement, generation_cells, versus
from bench.core.formatting import markdown
from bench.records.results import Suite

REFERENCE = "torch-eager"  # the side every other backend's greedy ids are compared with
COLUMNS = [
    "backend", "batch", "TTFT ms", "ms / output token", "tokens/s", "KV cache MiB", "runs",
    f"TTFT / {REFERENCE}'s [CI]", f"per token / {REFERENCE}'s [CI]", f"greedy ids vs {REFERENCE}", "implementation",
]  # fmt: skip
ANSWERS = {
    verdicts.FASTER_A: "faster*",
    verdicts.FASTER_B: f"{REFERENCE} faster*",
    verdicts.SAME: "the same*",
    verdicts.UNKNOWN: "not yet known",
}


def ratio_text(r: verdicts.Ratio | None) -> str:
    if r is None:
        return ""
    answer = ANSWERS.get(r.answer, f"no verdict ({r.why_not})" if r.why_not else "no verdict")
    return f"{r.value:.2f} [{r.low:.2f}, {r.high:.2f}] {answer}"


def generation_section(suites: Sequence[Suite]) -> list[str]:
    cs = generation_cells(suites)
    if not cs:
        return []
    lines = [
        "## Generation",
        "",
        "Each library's own greedy `generate` with its KV cache (transformers; keras-hub), after the training budget: "
        "time to first token (a generate of one new id: the prompt's prefill and the first id), time per output "
        "token (the rest of a full generate, per id), generated ids per second; medians over runs of each run's "
        "median. KV cache: keys and values of every layer over prompt + new positions, float32, computed. "
        "Each backend against torch-eager by the verdict rule of every workload (per-run medians, Welch on their logs, "
        "`*`: a side, or the same within the margin, with 3+ runs a side, none contended). "
        "Greedy ids: against torch-eager's run of the same seed; each framework trained its own copy from the same "
        "initial weights, so the weights differ by training's rounding, and a difference shows where, with both "
        "margins (top-1 minus top-2 logit). docs/METHODOLOGY.md, Generation.",
        "",
    ]
    for workload in sorted({c.workload for c in cs}):
        rows = []
        here = [c for c in cs if c.workload == workload]
        for c in here:
            ref = next((r for r in here if r.backend == REFERENCE and r.batch == c.batch), None)
            other = ref is not None and c.backend != REFERENCE
            greedy = agreement(ref.first, c.first).text() if other else ""  # type: ignore[union-attr]
            ttft = ratio_text(versus(c, ref, "ttft")) if other else ""  # type: ignore[arg-type]
            decode = ratio_text(versus(c, ref, "decode")) if other else ""  # type: ignore[arg-type]
            rows.append([
                c.backend, c.batch, f"{c.ttft_ms:.2f}", f"{c.decode_ms_per_token:.3f}", f"{c.tokens_s:.0f}",
                f"{c.kv_cache_mib:.3g}", c.runs, ttft, decode, greedy, c.implementation,
            ])  # fmt: skip
        first = here[0].first
        lines += [
            f"### {workload}: prompt {first.prompt_tokens} ids, {first.new_tokens} new",
            "",
            markdown(pd.DataFrame(rows, columns=COLUMNS)),
            "",
        ]
    return lines
