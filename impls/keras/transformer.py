"""A small BERT-style encoder classifier. Twin: impls/torch/transformer.py (the architecture is described there).

The attention is written out with keras.ops (Dense q/k/v/o, softmax(QK^T / sqrt(d_head)) V) rather than
keras.layers.MultiHeadAttention, whose per-head kernel layout would need its own weight rule; so every
weight maps with the "dense", "layernorm" and "embedding" rules. LayerNormalization epsilon comes from
the workload (keras' default 1e-3 differs from torch's 1e-5); GELU is the exact (erf) form, as torch's
default nn.GELU().
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from bench.core.datasets.text import PAD_ID
from bench.core.spec import Workload
from impls.keras.weights import LayerMap

MASK_BIAS = -1e9  # added to the attention scores of padding keys


def activation(name: str) -> Callable[[Any], Any]:
    """A keras activation by the torch twin's name; "gelu" explicitly exact (keras.ops.gelu defaults to tanh)."""
    if name == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=False)
    return keras.activations.get(name)


class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of the position 0..seq_len-1 (torch: nn.Embedding on arange)."""

    def __init__(self, seq_len: int, d_model: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seq_len = seq_len
        self.embedding = keras.layers.Embedding(seq_len, d_model, name="embedding")

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.embedding.build((self.seq_len,))

    def call(self, x: Any) -> Any:
        return x + self.embedding(ops.arange(self.seq_len))[None]


class TokenMask(keras.layers.Layer):
    """(B, L) float32: 1 for tokens, 0 for padding."""

    def call(self, ids: Any) -> Any:
        return ops.cast(ops.not_equal(ids, PAD_ID), "float32")


class MaskedMean(keras.layers.Layer):
    """The mean over the real tokens of (B, L, D) -> (B, D)."""

    def call(self, h: Any, keep: Any) -> Any:
        return ops.sum(h * keep[:, :, None], axis=1) / ops.maximum(ops.sum(keep, axis=1, keepdims=True), 1.0)


class EncoderLayer(keras.layers.Layer):
    """Post-LN: x = LN(x + Drop(O(Attention(x)))); x = LN(x + Drop(FF2(act(FF1(x)))))."""

    def __init__(self, d_model: int, heads: int, ff: int, act: str, dropout: float, eps: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.d_model, self.heads, self.d_head = d_model, heads, d_model // heads
        self.q = keras.layers.Dense(d_model, name="q")
        self.k = keras.layers.Dense(d_model, name="k")
        self.v = keras.layers.Dense(d_model, name="v")
        self.o = keras.layers.Dense(d_model, name="o")
        self.attn_dropout = keras.layers.Dropout(dropout)
        self.norm1 = keras.layers.LayerNormalization(epsilon=eps, name="norm1")
        self.ff1 = keras.layers.Dense(ff, activation=activation(act), name="ff1")
        self.ff2 = keras.layers.Dense(d_model, name="ff2")
        self.norm2 = keras.layers.LayerNormalization(epsilon=eps, name="norm2")
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape: tuple[int, ...]) -> None:
        for layer in (self.q, self.k, self.v, self.o, self.ff1):
            layer.build(input_shape)
        self.ff2.build((*input_shape[:-1], self.ff1.units))
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)

    def split_heads(self, t: Any) -> Any:
        return ops.transpose(ops.reshape(t, (-1, t.shape[1], self.heads, self.d_head)), (0, 2, 1, 3))

    def call(self, x: Any, keep: Any, training: bool = False) -> Any:
        mask_bias = ((1.0 - keep) * MASK_BIAS)[:, None, None, :]  # (B, 1, 1, L): over the keys
        q, k, v = self.split_heads(self.q(x)), self.split_heads(self.k(x)), self.split_heads(self.v(x))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.d_head) + mask_bias
        probs = self.attn_dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.reshape(ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3)), (-1, x.shape[1], self.d_model))
        x = self.norm1(x + self.dropout(self.o(context), training=training))
        return self.norm2(x + self.dropout(self.ff2(self.ff1(x)), training=training))


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    d, eps, drop = k["d_model"], k["layernorm_eps"], k["dropout"]
    ids = keras.Input((k["seq_len"],), dtype="int32", name="x")
    keep = TokenMask(name="keep")(ids)
    h = keras.layers.Embedding(k["vocab_size"], d, name="tok")(ids)
    h = PositionEmbedding(k["seq_len"], d, name="pos")(h)
    h = keras.layers.LayerNormalization(epsilon=eps, name="embed_norm")(h)
    h = keras.layers.Dropout(drop, name="embed_dropout")(h)
    for i in range(k["layers"]):
        h = EncoderLayer(d, k["heads"], k["ff"], k["activation"], drop, eps, name=f"encoder_{i}")(h, keep)
    pooled = keras.layers.Dropout(drop, name="dropout")(MaskedMean(name="mean")(h, keep))
    out = keras.layers.Dense(k["num_classes"], name="fc")(pooled)
    return {"net": keras.Model(ids, out, name="transformer_classifier")}


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    net = parts["net"]
    maps = [
        LayerMap("net.tok", net.get_layer("tok"), "embedding"),
        LayerMap("net.pos", net.get_layer("pos").embedding, "embedding"),
        LayerMap("net.embed_norm", net.get_layer("embed_norm"), "layernorm"),
        LayerMap("net.fc", net.get_layer("fc"), "dense"),
    ]
    encoders = [layer for layer in net.layers if isinstance(layer, EncoderLayer)]  # in call order
    for i, enc in enumerate(encoders):
        maps += [LayerMap(f"net.layers.{i}.{n}", getattr(enc, n), "dense") for n in ("q", "k", "v", "o", "ff1", "ff2")]
        maps += [LayerMap(f"net.layers.{i}.{n}", getattr(enc, n), "layernorm") for n in ("norm1", "norm2")]
    return maps
