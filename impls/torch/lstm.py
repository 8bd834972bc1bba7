"""Sentiment LSTM: Embedding -> nn.LSTM (`layers` stacked, default 1, batch_first) -> the last layer's last
hidden state -> Linear logits. Twin: impls/keras/lstm.py.

torch's LSTM has two biases per gate (b_ih and b_hh), Keras' one: every layer's b_hh is zeroed at build
and frozen (requires_grad False), so both twins train the same 4H bias parameters per layer (b_ih here,
the keras `bias` there), count the same parameters, and take the same SGD step; the weight rule
"lstm" (impls/keras/weights.py) maps layer k's b_ih + b_hh to the k-th keras LSTM's bias. Between stacked
layers there is no dropout (nn.LSTM's `dropout` stays 0; keras stacks plain LSTM layers): the one dropout
is the workload's, on the last hidden state before the classifier.

The cell activation is tanh (nn.LSTM has no other): the `activation` kwarg must say "tanh"; the
gates are sigmoid on both sides. Inputs are pre-padded fixed-length sequences (bench/core/datasets/text.py)
without masking, so the last hidden state has read the real tokens last.

bf16 on a CPU (--precision bf16): torch.autocast sends nn.LSTM to oneDNN's bfloat16 RNN primitive
(`mkldnn_rnn_layer` is on its CPU lower-precision list), also on a CPU where oneDNN has no bfloat16
(no AVX512: "could not create a primitive descriptor for the LSTM forward propagation primitive") and
where torch itself would not pick oneDNN for a bfloat16 LSTM. On such a CPU the LSTM runs with oneDNN
off: ATen's own LSTM, whose matmuls autocast computes in bfloat16 (not a float32 fallback: the
outputs differ from float32 by bf16 rounding; on this project's AVX2 VM a lstm-base-text step took 47 s against
2.2 s in fp32). fp32, and every precision on a GPU, are unaffected. TorchScript cannot switch oneDNN off:
`torchscript` at bf16 on such a CPU still fails in oneDNN.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.core.spec import Workload
from impls.torch.common import token_ids_int64 as prepare  # noqa: F401  (the backend's `prepare` hook)

# The parity test compares canonical weights with b_hh added into b_ih (Keras holds their sum); the
# keras twin declares the same pair. Layer 0 only: bench/measure/parity.py's `fold` requires every declared name,
# and a 1-layer net has no l1. The deeper layers' b_hh are zero and frozen as well, and the keras rule
# writes them back as zeros, so they compare equal unfolded (b_ih against the keras bias).
PARITY_FOLDS = {"net.lstm.bias_hh_l0": "net.lstm.bias_ih_l0"}

ONEDNN_BF16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()  # torch's own test before it picks oneDNN for bf16
# (backend, precision) -> why it cannot run here (TorchEager.build reads it): see the module docstring.
UNSUPPORTED_PRECISION = (
    {}
    if ONEDNN_BF16
    else {
        ("torchscript", "bf16"): "TorchScript sends nn.LSTM under bf16 autocast to oneDNN's bfloat16 RNN, which this "
        "CPU lacks (no AVX512), and cannot switch oneDNN off as the eager twin does"
    }
)


@torch.jit.unused
def cpu_bf16_without_onednn(x: torch.Tensor) -> bool:
    """Whether this forward runs under CPU bfloat16 autocast on a CPU where oneDNN has no bfloat16 LSTM."""
    return (
        x.is_cpu
        and not ONEDNN_BF16
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
    )


class LSTMClassifier(nn.Module):
    def __init__(
        self, vocab_size: int, embed_dim: int, hidden: int, num_classes: int, dropout: float, layers: int = 1
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=layers, batch_first=True, dropout=0.0)
        for k in range(layers):
            bias_hh = getattr(self.lstm, f"bias_hh_l{k}")
            with torch.no_grad():
                bias_hh.zero_()
            bias_hh.requires_grad_(False)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embedding(x)
        if not torch.jit.is_scripting():  # TorchScript compiles the plain call below only
            if cpu_bf16_without_onednn(e):
                with torch.backends.mkldnn.flags(enabled=False):
                    _, (h, _) = self.lstm(e)
                return self.fc(self.dropout(h[-1]))
        _, (h, _) = self.lstm(e)
        return self.fc(self.dropout(h[-1]))


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    if k["activation"] != "tanh":
        raise ValueError(f"nn.LSTM's cell activation is tanh; got activation={k['activation']!r}")
    net = LSTMClassifier(
        k["vocab_size"], k["embed_dim"], k["hidden"], k["num_classes"], k["dropout"], k.get("layers", 1)
    )
    return {"net": net}
