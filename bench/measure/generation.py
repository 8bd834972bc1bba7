"""Greedy generation, measured (the infer scenario of a decoder workload; docs/METHODOLOGY.md "Generation").

A decoder's twin module gives `generator(parts, compiled) -> Generate`: the library's own generate with its
KV cache (transformers' `generate`; keras-hub's `CausalLM.generate`), greedy, a (batch, prompt) int32 array
of ids in, the (batch, prompt + new) ids out, exactly `new` new ids (no stop token). The protocol
(bench.interfaces.decoder_spec.GENERATION): the first `prompt_tokens` ids of the test split's sequences as
prompts; per batch size, one untimed warm-up of each call (tracing, compiling, allocating the cache), then
`repeats` timed calls of generate with 1 new id (time to first token: the prefill and the first id) and with
`new_tokens` new ids, alternating. Time per output token is the difference of the medians over the other
new_tokens - 1 ids. The generated ids are then scored by the backend's own forward (outside the clock):
each chosen id's margin (top-1 minus top-2 logit), so that two frameworks' outputs can be compared where
they differ (bench.analysis.generation). Framework-neutral: the twin modules import the frameworks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bench.interfaces.decoder_spec import GENERATION, GenerationSpec
from bench.machine.memory import peak_rss_mib
from bench.measure import harness
from bench.records import results

Generate = Callable[[np.ndarray, int], np.ndarray]  # (prompt ids (B, P), new) -> ids (B, P + new)


def kv_cache_mib(model_kwargs: Mapping[str, Any], batch: int, length: int, bytes_per_value: int = 4) -> float:
    """The KV cache of `length` positions: keys and values, every layer, float32 (both libraries keep it so)."""
    k = model_kwargs
    head_dim = k["hidden"] // k["heads"]
    return 2 * k["layers"] * batch * k["kv_heads"] * head_dim * length * bytes_per_value / 2**20


def margins(logits: np.ndarray, ids: np.ndarray, prompt: int) -> tuple[list[list[float]], float]:
    """Per row, per new position: top-1 minus top-2 of the logits that chose it; and the share of new ids that
    are the forward's argmax. `logits` (B, L, vocab) of the forward on `ids` (B, L)."""
    chooser = logits[:, prompt - 1 : -1, :]  # position t's logits choose id t + 1
    top2 = np.sort(chooser, axis=-1)[..., -2:]
    agree = float((chooser.argmax(axis=-1) == ids[:, prompt:]).mean())
    return (top2[..., 1] - top2[..., 0]).astype(float).tolist(), agree


def measure_batch(
    generate: Generate,
    forward: Callable[[np.ndarray], np.ndarray],
    prompts: np.ndarray,
    model_kwargs: Mapping[str, Any],
    implementation: str,
    spec: GenerationSpec = GENERATION,
) -> results.Generation:
    """One batch size: warm-up, `spec.repeats` alternating timed calls of 1 and of new_tokens new ids."""
    new, p = spec.new_tokens, prompts.shape[1]
    generate(prompts, 1)
    ids = generate(prompts, new)
    if ids.shape != (len(prompts), p + new):
        raise ValueError(f"{implementation}: generate gave ids of shape {ids.shape}, not {(len(prompts), p + new)}")
    ttft: list[float] = []
    total: list[float] = []
    for _ in range(spec.repeats):
        ttft += harness.time_calls(lambda: generate(prompts, 1), 1)
        total += harness.time_calls(lambda: generate(prompts, new), 1)
    ttft_p50, total_p50 = float(np.median(ttft)), float(np.median(total))
    vocab = int(model_kwargs["vocab_size"])
    logits = forward(np.ascontiguousarray(ids, dtype=np.int32)).reshape(len(ids), p + new, vocab)
    m, agree = margins(logits, ids, p)
    return results.Generation(
        batch=len(prompts),
        prompt_tokens=p,
        new_tokens=new,
        implementation=implementation,
        ttft_ms=ttft,
        total_ms=total,
        ttft_p50_ms=ttft_p50,
        total_p50_ms=total_p50,
        decode_ms_per_token=(total_p50 - ttft_p50) / (new - 1),
        tokens_s=len(prompts) * new / (total_p50 / 1e3),
        kv_cache_mib=kv_cache_mib(model_kwargs, len(prompts), p + new),
        peak_rss_mib=peak_rss_mib(),
        tokens=ids[:, p:].astype(int).tolist(),
        margins=m,
        forward_agrees=agree,
    )


def prompts_of(inputs: np.ndarray, batch: int, spec: GenerationSpec = GENERATION) -> np.ndarray:
    """The first `batch` test sequences' first prompt_tokens ids (int32)."""
    if inputs.shape[1] < spec.prompt_tokens:
        raise ValueError(f"test sequences of {inputs.shape[1]} ids are shorter than the prompt's {spec.prompt_tokens}")
    return np.ascontiguousarray(inputs[:batch, : spec.prompt_tokens], dtype=np.int32)


def measure(
    generate: Generate,
    forward: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    model_kwargs: Mapping[str, Any],
    implementation: str,
    spec: GenerationSpec = GENERATION,
) -> list[results.Generation]:
    """Every batch size of the protocol, smallest first."""
    return [
        measure_batch(generate, forward, prompts_of(inputs, b, spec), model_kwargs, implementation, spec)
        for b in spec.batch_sizes
    ]
