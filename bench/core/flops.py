"""Analytic FLOPs per training step: one number per workload, shared by both frameworks.

Convention (the same as torch.utils.flop_counter.FlopCounterMode, which cross-checks it in
tests/test_flops.py): a multiply-add is 2 FLOPs; only matmul, convolution and attention products
are counted (elementwise ops, norms and the optimizer update are left out: they are a small
share for these models and neither framework's counter sees them). A training step is the
forward pass plus the backward pass: gradients of the weights (the forward's FLOPs again) and of
each layer's input (again), except the first layer's input, which needs no gradient.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from bench.core.spec import Workload


def linear_chain_train_flops(batch: int, dims: list[int]) -> float:
    """Linear layers dims[0] -> dims[1] -> ...: forward 2*B*in*out each, backward twice that,
    minus the first layer's input gradient."""
    fwd = [2.0 * batch * i * o for i, o in itertools.pairwise(dims)]
    return sum(fwd) * 3 - fwd[0]


def mlp(w: Workload, batch: int) -> float:
    """impls/*/mlp.py: `hidden` is one width or a list of widths, one hidden layer each."""
    k = w.model_kwargs
    hidden = [k["hidden"]] if isinstance(k["hidden"], int) else list(k["hidden"])
    return linear_chain_train_flops(batch, [k["in_features"], *hidden, k["num_classes"]])


def dcgan(w: Workload, batch: int) -> float:
    """One discriminator update plus one generator update (impls/*/dcgan.py), per sample:
      G forward                                   G
      D forward on real and on detached fakes     2 D
      their backward: weight grads, input grads   2 D + 2 (D - D1)   (no input grad at D's first layer)
      D forward on the fakes again (G update)     D
      its backward: input grads only              D                  (D's weight grads are not taken)
      G backward: weight grads, input grads       G + (G - G1)       (z needs none)
    = 3 G - G1 + 8 D - 2 D1. G, D: forward FLOPs per sample; G1, D1: their first layer's.
    A (transposed) conv costs 2 * Cin * Cout * k^2 per output (input) pixel, as FlopCounterMode counts."""
    k = w.model_kwargs
    c = k["g_channels"]
    d0, d1 = k["d_channels"]
    kk = k["kernel"] ** 2
    g_layers = [2.0 * k["z_dim"] * c * 4 * 4, 2.0 * (4 * 4) * c * 1 * kk]
    d_layers = [2.0 * (4 * 4) * 1 * d0 * kk, 2.0 * (2 * 2) * d0 * d1 * kk, 2.0 * d1 * 2 * 2 * 1]
    g, d = sum(g_layers), sum(d_layers)
    return batch * (3 * g - g_layers[0] + 8 * d - 2 * d_layers[0])


def dqn(w: Workload, batch: int) -> float:
    """q's training step on `batch` transitions plus the target network's forward on next_obs (no grad)."""
    k = w.model_kwargs
    dims = [k["obs_dim"], k["hidden"], k["hidden"], k["num_actions"]]
    target_forward = sum(2.0 * batch * i * o for i, o in itertools.pairwise(dims))
    return linear_chain_train_flops(batch, dims) + target_forward


def forward_chain_train_flops(fwd: list[float]) -> float:
    """A chain of layers with forward FLOPs `fwd` (first layer first): forward, weight gradients and
    input gradients each cost the forward's FLOPs, except the first layer's input gradient."""
    return 3 * sum(fwd) - fwd[0]


def cnn(w: Workload, batch: int) -> float:
    """impls/*/cnn.py: a conv costs 2 * Cin * Cout * k^2 per output pixel; pooling is not counted."""
    k = w.model_kwargs
    height, width, channels = k["in_shape"]
    kernel, pool = k["kernel_size"], k["pool_size"]
    fwd = []
    for out in k["channels"]:
        if k["padding"] == "valid":
            height, width = height - kernel + 1, width - kernel + 1
        fwd.append(2.0 * batch * height * width * channels * out * kernel**2)
        channels, height, width = out, height // pool, width // pool
    fwd += [2.0 * batch * channels * height * width * k["hidden"], 2.0 * batch * k["hidden"] * k["num_classes"]]
    return forward_chain_train_flops(fwd)


def conv1d(w: Workload, batch: int) -> float:
    """impls/*/conv1d.py: a conv costs 2 * Cin * Cout * k per output step, over (L - k) // stride + 1 steps
    ('valid') or ceil(L / stride) ('same': the zeros are multiplied too); pooling is not counted. The head's
    Linear sees C inputs after the global average pool ("gap", not counted) or C * L after "flatten"."""
    k = w.model_kwargs
    length, channels = k["in_samples"], 1
    same = k.get("padding", "valid") == "same"
    fwd = []
    for out, kernel, stride, pool in zip(k["channels"], k["kernel_sizes"], k["strides"], k["pool_sizes"], strict=True):
        length = -(-length // stride) if same else (length - kernel) // stride + 1
        fwd.append(2.0 * batch * length * channels * out * kernel)
        channels, length = out, length // pool
    features = channels * length if k.get("head", "gap") == "flatten" else channels
    fwd.append(2.0 * batch * features * k["num_classes"])
    return forward_chain_train_flops(fwd)


def resnet(w: Workload, batch: int) -> float:
    """impls/*/resnet.py: every conv (padding k // 2, output side (side + 2 * (k // 2) - k) // stride + 1) costs
    2 * Cin * Cout * k^2 per output pixel, the shortcut 1x1 convs included; then the Linear 2 * C * classes.
    BatchNorm, ReLU, the residual adds, the max-pool and the global average pool are elementwise or
    reductions: not counted. Training: forward, weight and input gradients each the forward's FLOPs, less
    the stem conv's input gradient (the images need none)."""
    k = w.model_kwargs
    side_h, side_w, channels = k["in_shape"]
    fwd: list[float] = []

    def conv(side: tuple[int, int], c_in: int, c_out: int, kernel: int, stride: int) -> tuple[int, int]:
        h, wd = ((s + 2 * (kernel // 2) - kernel) // stride + 1 for s in side)
        fwd.append(2.0 * batch * h * wd * c_in * c_out * kernel**2)
        return h, wd

    width = k["width"]
    side = conv((side_h, side_w), channels, width, *((3, 1) if k["stem"] == "cifar" else (7, 2)))
    if k["stem"] == "imagenet":
        side = ((side[0] - 1) // 2 + 1, (side[1] - 1) // 2 + 1)  # max-pool 3x3 stride 2 padding 1
    channels = width
    expansion = 1 if k["block"] == "basic" else 4
    for i, blocks in enumerate(k["layers"]):
        mid = width * 2**i
        for j in range(blocks):
            stride = 2 if i > 0 and j == 0 else 1
            block_in, c_out = side, mid * expansion
            if k["block"] == "basic":
                side = conv(conv(block_in, channels, mid, 3, stride), mid, mid, 3, 1)
            else:  # v1.5: the stride on the 3x3 conv
                side = conv(conv(conv(block_in, channels, mid, 1, 1), mid, mid, 3, stride), mid, c_out, 1, 1)
            if stride != 1 or channels != c_out:
                conv(block_in, channels, c_out, 1, stride)
            channels = c_out
    fwd.append(2.0 * batch * channels * k["num_classes"])
    return forward_chain_train_flops(fwd)


def lstm(w: Workload, batch: int) -> float:
    """impls/*/lstm.py: per time step the four gates cost 2 * 4H * (E + H) per sample (input and recurrent
    matmuls), over seq_len steps, and each further layer 2 * 4H * 2H (its input is the hidden state below); then
    the classifier 2 * H * C. Training is 3x the forward: the first layer
    is the embedding lookup (no matmul), so every matmul's input gradient is taken (the LSTM's towards the
    embeddings and along the recurrence). FlopCounterMode counts nn.LSTM as 0, so nothing cross-checks this."""
    k = w.model_kwargs
    e, h, layers = k["embed_dim"], k["hidden"], k.get("layers", 1)
    per_token = 4 * h * (e + h) + (layers - 1) * 4 * h * (h + h)
    forward = 2.0 * batch * k["seq_len"] * per_token + 2.0 * batch * h * k["num_classes"]
    return 3 * forward


def transformer(w: Workload, batch: int) -> float:
    """impls/*/transformer.py, per encoder layer: q/k/v/o projections 4 * 2 * L * d^2, attention scores
    QK^T and probabilities x V 2 * 2 * L^2 * d (summed over heads), feed-forward 2 * 2 * L * d * ff, per
    sample; then the classifier 2 * d * C. Training is 3x the forward (the first layer is an embedding
    lookup, so every matmul's input gradient is taken). Softmax, LayerNorm, the padding mask and the
    mean-pool are elementwise: not counted."""
    k = w.model_kwargs
    seq, d = k["seq_len"], k["d_model"]
    layer = 4 * 2.0 * seq * d * d + 2 * 2.0 * seq * seq * d + 2 * 2.0 * seq * d * k["ff"]
    forward = batch * (k["layers"] * layer + 2.0 * d * k["num_classes"])
    return 3 * forward


def llama(w: Workload, batch: int) -> float:
    """impls/*/llama.py, per token of `batch` sequences of the dataset's length: per layer the projections
    q and o 2 * d * d each, k and v 2 * d * (kv_heads * head_dim) each, SwiGLU's gate, up and down 3 * 2 * d * ff,
    and attention's QK^T and probabilities x V 2 * 2 * L * d (the full L x L as scaled_dot_product_attention
    computes it, causal mask or not); then the output layer 2 * d * vocab. Training is 3x the forward (the
    first layer is an embedding lookup). RMSNorm, rotary positions, SiLU and the softmax are elementwise."""
    k = w.model_kwargs
    seq, d, ff, kv = k["seq_len"], k["hidden"], k["intermediate"], k["kv_heads"] * (k["hidden"] // k["heads"])
    layer = 2.0 * (2 * d * d + 2 * d * kv + 3 * d * ff)
    return 3 * batch * seq * (k["layers"] * layer + 2.0 * d * k["vocab_size"]) + llama_attention(w, batch)


def llama_attention(w: Workload, batch: int) -> float:
    """The attention products of llama's training step alone: 3 x (QK^T and probabilities x V, 2 * 2 * L * d
    per token, every layer)."""
    k = w.model_kwargs
    return 3 * batch * k["seq_len"] * k["layers"] * 2 * 2.0 * k["seq_len"] * k["hidden"]


# model name (Workload.model) -> FLOPs of one training step on `batch` samples
TRAIN_STEP_FLOPS: dict[str, Callable[[Workload, int], float]] = {
    "lstm": lstm,
    "transformer": transformer,
    "mlp": mlp,
    "cnn": cnn,
    "resnet": resnet,
    "conv1d": conv1d,
    "dcgan": dcgan,
    "dqn": dqn,
    "llama": llama,
}


# Models whose analytic count cannot be cross-checked by torch's FlopCounterMode, and why
# (tests/test_flops.py checks every other registered workload against it).
COUNTER_BLIND = {"lstm": "FlopCounterMode counts nn.LSTM as 0"}
# Models whose count FlopCounterMode sees only in part: what it misses, by hand. On a CPU, transformers'
# attention runs torch's fused scaled_dot_product_attention (aten._scaled_dot_product_flash_attention_for_cpu),
# to which FlopCounterMode gives no FLOPs; it counts every projection (aten.mm).
COUNTER_MISSES: dict[str, Callable[[Workload, int], float]] = {"llama": llama_attention}


def train_step_flops(w: Workload, batch: int) -> float | None:
    fn = TRAIN_STEP_FLOPS.get(w.model)
    return fn(w, batch) if fn else None
