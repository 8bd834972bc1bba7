"""Sentiment LSTM: Embedding -> nn.LSTM (1 layer, batch_first) -> last hidden state -> Linear logits.
Twin: impls/keras/lstm.py.

torch's LSTM has two biases per gate (b_ih and b_hh), Keras' one: b_hh is zeroed at build and
frozen (requires_grad False), so both twins train the same 4H bias parameters (b_ih here, the
keras `bias` there), count the same parameters, and take the same SGD step; the weight rule
"lstm" (impls/keras/weights.py) maps b_ih + b_hh to the keras bias.

The cell activation is tanh (nn.LSTM has no other): the `activation` kwarg must say "tanh"; the
gates are sigmoid on both sides. Inputs are pre-padded fixed-length sequences (bench/datasets/text.py)
without masking, so the last hidden state has read the real tokens last.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.spec import Workload
from impls.torch.common import token_ids_int64 as prepare  # noqa: F401  (the backend's `prepare` hook)

# The parity test compares canonical weights with b_hh added into b_ih (Keras holds their sum); the
# keras twin declares the same pair.
PARITY_FOLDS = {"net.lstm.bias_hh_l0": "net.lstm.bias_ih_l0"}


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=1, batch_first=True)
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embedding(x))
        return self.fc(self.dropout(h[-1]))


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    if k["activation"] != "tanh":
        raise ValueError(f"nn.LSTM's cell activation is tanh; got activation={k['activation']!r}")
    return {"net": LSTMClassifier(k["vocab_size"], k["embed_dim"], k["hidden"], k["num_classes"], k["dropout"])}
