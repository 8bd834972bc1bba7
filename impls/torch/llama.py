"""A Llama 3 decoder (RMSNorm, rotary positions, SwiGLU, grouped-query attention) through Hugging Face
transformers: `LlamaForCausalLM` built from a `LlamaConfig` (bench/interfaces/decoder_spec.py hf_config),
randomly initialised by transformers' own initialiser under the run's torch seed. Twin: impls/keras/llama.py
(keras-hub's Llama3CausalLM, loaded from these weights by keras-hub's own converter).

The benchmark's network `net` is a thin wrapper, so that the suite's classification step and predict serve a
causal LM unchanged: `net(x)` is the next-token logits of every position flattened to (batch * length,
vocab), and `prepare` flattens the targets `y` to (batch * length,); cross-entropy over them is the
causal-LM loss (the mean over every predicted token). Canonical weight names are the wrapper's
state_dict: "net.lm." + transformers' own names ("net.lm.model.layers.0.self_attn.q_proj.weight").
Attention is transformers' default for the device (scaled_dot_product_attention); the training forward
runs without a cache (use_cache=False). Generation (`generate`) is transformers' own, with its KV cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core.spec import Workload
from bench.interfaces.decoder_spec import hf_config


class CausalLM(nn.Module):
    """transformers' LlamaForCausalLM; forward: ids (B, L) -> logits (B * L, vocab)."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.lm(input_ids=x, use_cache=False).logits
        return logits.reshape(-1, logits.shape[-1])


def build(workload: Workload) -> dict[str, nn.Module]:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**hf_config(workload.model_kwargs))
    return {"net": CausalLM(LlamaForCausalLM(config))}


def prepare(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Token ids as int64 (torch's index dtype); the targets flattened as the logits are."""
    out = {**batch, "x": batch["x"].astype(np.int64)}
    if "y" in batch:
        out["y"] = batch["y"].reshape(-1)
    return out


def unwrapped(parts: Mapping[str, nn.Module]) -> Any:
    """transformers' model inside the benchmark's wrapper (a compiled wrapper keeps the module as _orig_mod)."""
    net = parts["net"]
    return getattr(net, "_orig_mod", net).lm


# The transformers cache per torch backend: the static cache (preallocated, fixed shapes) is the one
# transformers compiles generation with (torch.compile of the forward, fullgraph, static shapes); every other
# backend generates eagerly with the default dynamic cache. transformers compiles by itself only on GPUs
# (GenerationMixin._valid_auto_compile_criteria); on a CPU the CompileConfig's `_compile_all_devices` asks it to
# (measured on llama-tiny, batch 1: 0.30 ms a token compiled against 0.54 static-cache eager; 11 s to compile).
STATIC_CACHE_BACKENDS = ("torch-compile",)


def generator(parts: Mapping[str, nn.Module], backend: str) -> tuple[Callable[[np.ndarray, int], np.ndarray], str]:
    """transformers' greedy `generate` with its KV cache, exactly `new` new ids (no stop token), and its name."""
    import transformers

    lm = unwrapped(parts)
    compiled = backend in STATIC_CACHE_BACKENDS
    cache = "static" if compiled else "dynamic"
    compile_config = None
    if compiled:
        compile_config = transformers.CompileConfig(fullgraph=True, dynamic=False)
        compile_config._compile_all_devices = True  # also on a CPU (see STATIC_CACHE_BACKENDS)

    def generate(prompt: np.ndarray, new: int) -> np.ndarray:
        lm.eval()
        with torch.inference_mode():
            ids = lm.generate(
                input_ids=torch.from_numpy(prompt.astype(np.int64)),
                attention_mask=torch.ones(prompt.shape, dtype=torch.int64),
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                cache_implementation=cache,
                compile_config=compile_config,
                pad_token_id=0,
            )
        lm.train()
        return ids.numpy()

    how = ", its forward compiled (torch.compile)" if compiled else ""
    return generate, f"transformers {transformers.__version__} generate, greedy, {cache} KV cache{how}"
