"""A Llama 3 decoder through keras-hub: `Llama3Backbone` and, for generation, `Llama3CausalLM`. Twin:
impls/torch/llama.py (transformers' LlamaForCausalLM; the architecture and the flattened-logits wrapper are
described there). Backend-neutral: the same module runs on Keras' TensorFlow, JAX and PyTorch backends.

One set of weights, through keras-hub's own converter: `load_canonical` writes the canonical weights in the
transformers format (model.safetensors and config.json, as `save_pretrained` writes them) to a private
temporary folder and loads it with `keras_hub.models.Llama3Backbone.from_preset(folder)`, the path a user
takes from a transformers checkpoint; the converted weights are then copied into the twin's backbone, and
must read back through `layer_map` bit for bit (so the converter and this module's map agree name by name).

**The epsilon.** keras-hub 0.32's converter (keras_hub/src/utils/transformers/convert_llama3.py) does not
read `rms_norm_eps`: a converted backbone keeps keras-hub's default 1e-6, while Llama 3 (and this workload)
uses 1e-5; the logits then differ by ~0.009. The twin sets the epsilon explicitly from the workload
(`layer_norm_epsilon`), and the parity case's mutant builds the keras side with 1e-6, which the parity
test must catch (bench/core/workloads.py llama-tiny).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from bench.core.spec import Workload
from bench.interfaces.decoder_spec import hf_config
from impls.keras import common, weights
from impls.keras.weights import LayerMap

PREFIX = "net.lm."  # the torch twin's wrapper: canonical names are "net.lm." + transformers' names


class AllTokens(keras.layers.Layer):
    """keras-hub's padding mask for unpadded ids: every position is a token."""

    def call(self, ids: Any) -> Any:
        return ops.ones_like(ids, dtype="bool")


class FlattenTokens(keras.layers.Layer):
    """(B, L, vocab) -> (B * L, vocab), as the torch twin's wrapper."""

    def call(self, logits: Any) -> Any:
        return ops.reshape(logits, (-1, ops.shape(logits)[-1]))


def backbone_of(workload_kwargs: Mapping[str, Any]) -> Any:
    import keras_hub

    k = workload_kwargs
    if k["tie_embeddings"]:
        raise ValueError("tie_embeddings True: the decoder twins map an untied output layer only (valid: False)")
    return keras_hub.models.Llama3Backbone(
        vocabulary_size=k["vocab_size"],
        num_layers=k["layers"],
        num_query_heads=k["heads"],
        hidden_dim=k["hidden"],
        intermediate_dim=k["intermediate"],
        num_key_value_heads=k["kv_heads"],
        rope_max_wavelength=float(k["rope_theta"]),
        layer_norm_epsilon=float(k["rms_norm_eps"]),  # explicit: keras-hub's converter drops it (module doc)
        tie_word_embeddings=False,
        dropout=0.0,
        name="backbone",
    )


def build(workload: Workload) -> dict[str, keras.Model]:
    backbone = backbone_of(workload.model_kwargs)
    ids = keras.Input((None,), dtype="int32", name="x")
    hidden = backbone({"token_ids": ids, "padding_mask": AllTokens(name="all_tokens")(ids)})
    logits = backbone.token_embedding(hidden, reverse=True)  # as Llama3CausalLM computes them
    return {"net": keras.Model(ids, FlattenTokens(name="flatten_tokens")(logits), name="llama_causal_lm")}


def loss(parts: Mapping[str, keras.Model], batch: Mapping[str, Any]) -> Any:
    """The causal-LM loss: the classifier's cross-entropy over every position, targets flattened as the logits."""
    return common.classification_loss(ops.reshape(batch["y"], (-1,)), parts["net"](batch["x"], training=True))


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    b = parts["net"].get_layer("backbone")
    maps = [
        LayerMap(
            f"{PREFIX}model.embed_tokens", b.token_embedding, "reversible_embedding", {"reverse": f"{PREFIX}lm_head"}
        ),
        LayerMap(f"{PREFIX}model.norm", b.get_layer("sequence_output_layernorm"), "rmsnorm"),
    ]
    for i in range(b.num_layers):
        layer = b.get_layer(f"transformer_layer_{i}")
        att, p = layer._self_attention_layer, f"{PREFIX}model.layers.{i}."
        maps += [
            LayerMap(f"{p}input_layernorm", layer._self_attention_layernorm, "rmsnorm"),
            LayerMap(f"{p}post_attention_layernorm", layer._feedforward_layernorm, "rmsnorm"),
        ]
        for name, dense, in_dims in (
            ("self_attn.q_proj", att._query_dense, 1),  # kernel (hidden, heads, head_dim)
            ("self_attn.k_proj", att._key_dense, 1),  # (hidden, kv_heads, head_dim)
            ("self_attn.v_proj", att._value_dense, 1),
            ("self_attn.o_proj", att._output_dense, 2),  # (heads, head_dim, hidden)
            ("mlp.gate_proj", layer._feedforward_gate_dense, 1),
            ("mlp.up_proj", layer._feedforward_intermediate_dense, 1),
            ("mlp.down_proj", layer._feedforward_output_dense, 1),
        ):
            maps.append(LayerMap(p + name, dense, "kernel", {"shape": tuple(dense.kernel.shape), "in_dims": in_dims}))
    return maps


def write_transformers_folder(folder: Path, w: Mapping[str, np.ndarray], model_kwargs: Mapping[str, Any]) -> None:
    """`w` (canonical) as a transformers checkpoint folder: model.safetensors (transformers' names) and config.json."""
    from safetensors.numpy import save_file

    names = {k: k.removeprefix(PREFIX) for k in w}
    outside = sorted(k for k, v in names.items() if v == k)
    if outside:
        raise ValueError(f"canonical weights {outside} are not under {PREFIX!r}: not the decoder twin's")
    save_file({names[k]: np.ascontiguousarray(v) for k, v in w.items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})  # fmt: skip
    (folder / "config.json").write_text(json.dumps(hf_config(model_kwargs), indent=1))


def load_canonical(
    parts: dict[str, keras.Model], maps: list[LayerMap], w: Mapping[str, np.ndarray], workload: Workload
) -> None:
    """The canonical weights through keras-hub's converter (module doc), then checked through the layer map."""
    import keras_hub

    k = workload.model_kwargs
    with tempfile.TemporaryDirectory(prefix="fwbench-llama-") as tmp:
        write_transformers_folder(Path(tmp), w, k)
        converted = keras_hub.models.Llama3Backbone.from_preset(tmp, layer_norm_epsilon=float(k["rms_norm_eps"]))
    parts["net"].get_layer("backbone").set_weights(converted.get_weights())
    back = weights.get_canonical(maps)
    unequal = sorted(n for n in set(w) | set(back) if n not in w or n not in back or not np.array_equal(w[n], back[n]))
    if unequal:
        raise ValueError(f"keras-hub's converter and impls/keras/llama.py layer_map disagree on {unequal[:8]}")


def generator(parts: Mapping[str, keras.Model], backend: str) -> tuple[Callable[[np.ndarray, int], np.ndarray], str]:
    """keras-hub's `Llama3CausalLM.generate` over the twin's backbone (the same variables), greedy sampler, no
    preprocessor, with its KV cache: exactly `new` new ids (no stop token); and its name. keras-hub compiles
    generation itself: a tf.function on TensorFlow (XLA on keras-xla), jax.jit on JAX; eager on keras-eager
    and on PyTorch."""
    import keras_hub

    lm = keras_hub.models.Llama3CausalLM(backbone=parts["net"].get_layer("backbone"), preprocessor=None)
    lm.compile(sampler="greedy", jit_compile=backend == "keras-xla", run_eagerly=backend == "keras-eager")

    def generate(prompt: np.ndarray, new: int) -> np.ndarray:
        b, p = prompt.shape
        ids = np.zeros((b, p + new), dtype="int32")  # keras-hub fills the positions its padding mask leaves out
        ids[:, :p] = prompt
        mask = np.zeros(ids.shape, dtype=bool)
        mask[:, :p] = True
        return np.asarray(lm.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)["token_ids"])

    how = "XLA" if backend == "keras-xla" else "eager" if backend == "keras-eager" else keras.backend.backend()
    return generate, f"keras-hub {keras_hub.__version__} Llama3CausalLM.generate, greedy sampler, KV cache ({how})"
