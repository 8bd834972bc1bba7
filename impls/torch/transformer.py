"""A small BERT-style encoder classifier. Twin: impls/keras/transformer.py.

Token + learned position embeddings -> LayerNorm -> dropout -> N post-LN encoder layers -> mean over
the real (non-padding) tokens -> dropout -> Linear logits. An encoder layer, as in BERT:
    x = LayerNorm(x + Dropout(O(Attention(x))));  x = LayerNorm(x + Dropout(FF2(act(FF1(x)))))
with multi-head self-attention written out (q/k/v/o Linear layers, softmax(QK^T / sqrt(d_head)) V,
dropout on the attention probabilities), so that the keras twin maps every weight with plain
"dense" / "layernorm" / "embedding" rules and TorchScript, torch.compile and XLA see the same ops.
Padding (token id 0, pre-padded) is masked out of the attention keys (an additive MASK_BIAS) and
out of the mean. GELU is the exact (erf) one on both sides.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.core.datasets.text import PAD_ID
from bench.core.spec import Workload
from impls.torch.common import activation
from impls.torch.common import token_ids_int64 as prepare  # noqa: F401  (the backend's `prepare` hook)

MASK_BIAS = -1e9  # added to the attention scores of padding keys: softmax gives them weight 0


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, ff: int, act: str, dropout: float, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.d_head = d_model // heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=eps)
        self.ff1 = nn.Linear(d_model, ff)
        self.act = activation(act)
        self.ff2 = nn.Linear(ff, d_model)
        self.norm2 = nn.LayerNorm(d_model, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.d_head).transpose(1, 2)  # (B, heads, L, d_head)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.split_heads(self.q(x)), self.split_heads(self.k(x)), self.split_heads(self.v(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_head) + mask_bias
        probs = self.attn_dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).transpose(1, 2).reshape(b, n, d)
        x = self.norm1(x + self.dropout(self.o(context)))
        return self.norm2(x + self.dropout(self.ff2(self.act(self.ff1(x)))))


class TransformerClassifier(nn.Module):
    def __init__(
        self, vocab_size: int, seq_len: int, d_model: int, heads: int, ff: int, layers: int, num_classes: int,
        act: str, dropout: float, eps: float,
    ) -> None:  # fmt: skip
        super().__init__()
        self.pad_id = PAD_ID  # attributes, not globals: TorchScript reads those
        self.mask_bias = MASK_BIAS
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(seq_len, d_model)
        self.embed_norm = nn.LayerNorm(d_model, eps=eps)
        self.layers = nn.ModuleList([EncoderLayer(d_model, heads, ff, act, dropout, eps) for _ in range(layers)])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (x != self.pad_id).to(self.fc.weight.dtype)  # (B, L): 1 for tokens, 0 for padding
        mask_bias = ((1.0 - keep) * self.mask_bias)[:, None, None, :]  # (B, 1, 1, L): over the keys
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.dropout(self.embed_norm(self.tok(x) + self.pos(positions)))
        for layer in self.layers:
            h = layer(h, mask_bias)
        pooled = (h * keep[:, :, None]).sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.fc(self.dropout(pooled))


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    net = TransformerClassifier(
        k["vocab_size"], k["seq_len"], k["d_model"], k["heads"], k["ff"], k["layers"], k["num_classes"],
        k["activation"], k["dropout"], k["layernorm_eps"],
    )  # fmt: skip
    return {"net": net}
