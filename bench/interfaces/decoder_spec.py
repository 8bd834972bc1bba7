"""What both decoder twins (impls/torch/llama.py, impls/keras/llama.py) and the generation measurement
(bench/measure/generation.py) agree on. Framework-neutral (standard library only).

`hf_config(model_kwargs)` is the transformers `LlamaConfig` of a decoder workload as the JSON dict that
`save_pretrained` writes to config.json: the torch twin builds `LlamaConfig(**hf_config(k))`, and the
keras twin writes it beside the weights for keras-hub's own converter (`Llama3Backbone.from_preset`).
One function, so that the two sides cannot read model_kwargs differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# model_kwargs of a decoder workload: each becomes the config entry named beside it
KWARGS_TO_HF = {
    "vocab_size": "vocab_size",
    "hidden": "hidden_size",
    "intermediate": "intermediate_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "max_positions": "max_position_embeddings",
    "rms_norm_eps": "rms_norm_eps",
    "tie_embeddings": "tie_word_embeddings",
}


def hf_config(k: Mapping[str, Any]) -> dict[str, Any]:
    """The transformers Llama config (as config.json holds it) of a decoder workload's model_kwargs: every
    architectural entry explicit, no bias, no dropout, the default (unscaled) rotary embedding."""
    missing = sorted(set(KWARGS_TO_HF) - set(k))
    if missing:
        raise ValueError(f"decoder model_kwargs lack {missing}; needed: {sorted(KWARGS_TO_HF)}")
    if k["hidden"] % k["heads"] or k["heads"] % k["kv_heads"]:
        raise ValueError(
            f"decoder: hidden {k['hidden']} must divide by heads {k['heads']}, and heads by kv_heads {k['kv_heads']}"
        )
    cfg: dict[str, Any] = {hf: k[ours] for ours, hf in KWARGS_TO_HF.items()}
    cfg.update(
        model_type="llama",
        architectures=["LlamaForCausalLM"],
        hidden_act="silu",
        head_dim=k["hidden"] // k["heads"],
        rope_parameters={"rope_type": "default", "rope_theta": float(k["rope_theta"])},
        rope_theta=float(k["rope_theta"]),  # the older key, read by converters that predate rope_parameters
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=0.0,
        initializer_range=float(k.get("init_std", 0.02)),
        bos_token_id=None,
        eos_token_id=None,  # the synthetic language has no end token: generation runs its full length
        pad_token_id=None,
        dtype="float32",
    )
    return cfg


@dataclass(frozen=True)
class GenerationSpec:
    """The generation protocol of the infer scenario (docs/METHODOLOGY.md, "Generation"): greedy, each
    library's own generate with its KV cache, `prompt_tokens` ids of the test split as the prompt and
    exactly `new_tokens` new ids (no stop token), at each batch size."""

    prompt_tokens: int = 32
    new_tokens: int = 32
    batch_sizes: tuple[int, ...] = (1, 8)
    repeats: int = 10  # timed calls per measurement, after one untimed warm-up (traces, compiles)


GENERATION = GenerationSpec()
