"""The report's Generation section: decoder workloads' greedy generation in the infer scenario
(bench/analysis/generation.py), per workload: time to first token, time per output token, tokens/s and the
KV cache by backend and batch, and each backend's greedy ids against torch-eager's (the same seed and
prompts). Nothing here imports a framework."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bench.analysis.generation import agreement, generation_cells
from bench.core.formatting import markdown
from bench.records.results import Suite

REFERENCE = "torch-eager"  # the side every other backend's greedy ids are compared with
COLUMNS = [
    "backend", "batch", "TTFT ms", "ms / output token", "tokens/s", "KV cache MiB", "runs",
    f"greedy ids vs {REFERENCE}", "implementation",
]  # fmt: skip


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
            greedy = "" if ref is None or c.backend == REFERENCE else agreement(ref.first, c.first).text()
            rows.append([
                c.backend, c.batch, f"{c.ttft_ms:.2f}", f"{c.decode_ms_per_token:.3f}", f"{c.tokens_s:.0f}",
                f"{c.kv_cache_mib:.3g}", c.runs, greedy, c.implementation,
            ])  # fmt: skip
        first = here[0].first
        lines += [
            f"### {workload}: prompt {first.prompt_tokens} ids, {first.new_tokens} new",
            "",
            markdown(pd.DataFrame(rows, columns=COLUMNS)),
            "",
        ]
    return lines
