"""ResNet v1.5, channels last, Keras functional model: the twin of impls/torch/resnet.py (read its
docstring for the model_kwargs). Layer names are the torch module names with "_" for "." (stem_conv,
layer1_0_bn1, layer2_0_downsample_0, fc), so the layer map reads the canonical name off each layer.

What differs between the frameworks and is made equal here (docs/FRAMEWORK_DIFFERENCES.md):
- Padding of strided convs. torch pads k // 2 on every side. Keras' 'same' pads k - s in total for an
  even input (more generally max((out - 1) * s + k - in, 0)) and puts the odd pixel at the bottom/right:
  for a 3x3 stride-2 conv on an even input that is 0 on top, 1 at the bottom, a different window grid
  from torch's. So every strided conv here is ZeroPadding2D(k // 2) + a 'valid' conv, exactly torch's.
  Stride-1 convs use 'same' (k // 2 on each side for odd k: the same as torch); 1x1 convs pad nothing.
- The stem's max-pool 3x3 stride 2 with padding 1: torch pads a max-pool with -inf. It follows the
  activation (ReLU, or softplus in the parity test), so its inputs are >= 0 and a zero pad never exceeds
  the window's real maximum: ZeroPadding2D(1) + 'valid' MaxPooling2D gives torch's outputs. (Where a
  window's maximum is a ReLU's 0 and ties with the pad, the gradient is 0 anyway: ReLU's gradient at 0 is
  0 in both frameworks.)
- BatchNorm (TorchBatchNorm below): momentum in the other convention, eps default, and the running
  variance, which torch updates with the unbiased batch variance.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from bench.core.spec import Workload
from impls.keras.weights import LayerMap

# TF 2.21 refuses the max-pool gradient under XLA with op determinism on, even on CPU: the imagenet stem's
# max-pool (resnet50-imagenet fails at its first step, seen). The cifar stem has no max-pool and
# resnet18-cifar10 does run there (seen), but this declaration is per model module, not per workload.
UNSUPPORTED_DETERMINISTIC = {
    "keras-xla": "with --deterministic, TF 2.21 has no deterministic XLA max-pool gradient "
    '("GPU MaxPool gradient ops do not yet have a deterministic XLA implementation")'
}

STEMS = ("cifar", "imagenet")
ACTIVATIONS = ("relu", "softplus")  # both >= 0: the zero-padded max-pool below relies on it
EXPANSION = {"basic": 1, "bottleneck": 4}


class TorchBatchNorm(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization (channels last) with torch's training-mode arithmetic:

    - the batch is normalised with its biased variance (mean of squared deviations) in both frameworks,
      but torch's running_var moves towards the *unbiased* batch variance (x n / (n - 1), n = values
      per channel: batch x H x W) while Keras' moving_variance moves towards the biased one. Here the
      moving variance gets the unbiased one, as torch's.
    - the moments are two-pass (mean, then the mean of squared deviations) on every Keras backend:
      Keras on PyTorch's own `ops.moments` computes E[x^2] - E[x]^2, which loses float32 digits.
    - `momentum` is Keras' (the weight of the old value); the twin passes 1 - torch's momentum.
    The forward pass otherwise is Keras' own: computed in float32 whatever the compute dtype (as Keras
    does under a mixed precision policy), then `ops.batch_normalization`.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if mask is not None or self.renorm or self.axis not in (-1, len(inputs.shape) - 1):
            raise ValueError("TorchBatchNorm: channels-last, no mask, no renorm")
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        if training and self.trainable:
            axes = self._reduction_axes
            mean = ops.mean(x, axis=axes)
            variance = ops.mean(ops.square(x - mean), axis=axes)  # biased: what the batch is normalised with
            n = ops.cast(ops.size(x), x.dtype) / ops.cast(ops.shape(x)[-1], x.dtype)  # values per channel
            unbiased = variance * (n / (n - 1.0))
            m = self.momentum
            self.moving_mean.assign(ops.cast(self.moving_mean, x.dtype) * m + mean * (1.0 - m))
            self.moving_variance.assign(ops.cast(self.moving_variance, x.dtype) * m + unbiased * (1.0 - m))
        else:
            mean = ops.cast(self.moving_mean, x.dtype)
            variance = ops.cast(self.moving_variance, x.dtype)
        out = ops.batch_normalization(
            x,
            mean=mean,
            variance=variance,
            axis=-1,
            offset=ops.cast(self.beta, x.dtype) if self.center else None,
            scale=ops.cast(self.gamma, x.dtype) if self.scale else None,
            epsilon=self.epsilon,
        )
        return ops.cast(out, self.compute_dtype)


# torchvision's conv initialisation (kaiming-normal, fan_out, ReLU gain), for --init native; under
# --init shared (the default) the torch twin's initial weights are loaded instead.
def conv_init() -> keras.initializers.Initializer:
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def kname(torch_name: str) -> str:
    """The keras layer name of a torch module name: dots become underscores (Keras on PyTorch keeps the
    variables in a torch ParameterDict, whose keys cannot hold dots; torch's names hold no underscores)."""
    return torch_name.replace(".", "_")


class Builder:
    """Creates the layers with the torch module names, from the workload's model_kwargs."""

    def __init__(self, k: Any) -> None:
        # Keras' momentum is the weight of the old running value, torch's the weight of the new batch
        # statistic: keras momentum = 1 - torch momentum (torch 0.1 -> keras 0.9; Keras' default is 0.99).
        self.bn_momentum = 1.0 - float(k["bn_momentum"])
        self.bn_eps = float(k["bn_eps"])  # torch's default 1e-5, Keras' 1e-3: always passed explicitly
        self.zero_init_residual = bool(k.get("zero_init_residual", False))
        self.activation = k["activation"]
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"resnet activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}")

    def conv(self, h: Any, channels: int, kernel: int, stride: int, name: str) -> Any:
        """torch's Conv2d(kernel, stride, padding=kernel // 2, bias=False)."""
        if kernel == 1:
            padding = "valid"  # torch pads 1x1 convs by 0 (the strided shortcut too)
        elif stride == 1:
            padding = "same"  # stride 1, odd kernel: k // 2 on each side, as torch
        else:
            h = keras.layers.ZeroPadding2D(kernel // 2, name=kname(f"{name}.pad"))(h)
            padding = "valid"  # not 'same': Keras' 'same' pads strided convs asymmetrically
        return keras.layers.Conv2D(
            channels,
            kernel,
            strides=stride,
            padding=padding,
            use_bias=False,
            kernel_initializer=conv_init(),
            name=kname(name),
        )(h)

    def bn(self, h: Any, name: str, zero_gamma: bool = False) -> Any:
        return TorchBatchNorm(
            axis=-1,
            momentum=self.bn_momentum,
            epsilon=self.bn_eps,
            gamma_initializer="zeros" if zero_gamma else "ones",
            name=kname(name),
        )(h)

    def block(self, h: Any, kind: str, in_channels: int, channels: int, stride: int, name: str) -> Any:
        zero = self.zero_init_residual
        out_channels = channels * EXPANSION[kind]
        if kind == "basic":
            out = self.act(self.bn(self.conv(h, channels, 3, stride, f"{name}.conv1"), f"{name}.bn1"), f"{name}.act1")
            out = self.bn(self.conv(out, channels, 3, 1, f"{name}.conv2"), f"{name}.bn2", zero)
        else:  # bottleneck, v1.5: the stride on the 3x3 conv
            out = self.act(self.bn(self.conv(h, channels, 1, 1, f"{name}.conv1"), f"{name}.bn1"), f"{name}.act1")
            out = self.act(self.bn(self.conv(out, channels, 3, stride, f"{name}.conv2"), f"{name}.bn2"), f"{name}.act2")
            out = self.bn(self.conv(out, out_channels, 1, 1, f"{name}.conv3"), f"{name}.bn3", zero)
        if stride != 1 or in_channels != out_channels:  # 1x1 conv with the stride ('valid': no padding) + BN
            h = self.bn(self.conv(h, out_channels, 1, stride, f"{name}.downsample.0"), f"{name}.downsample.1")
        return self.act(keras.layers.Add(name=kname(f"{name}.add"))([out, h]), f"{name}.act")

    def act(self, h: Any, name: str) -> Any:
        if self.activation == "relu":
            return keras.layers.ReLU(name=kname(name))(h)
        return keras.layers.Activation(self.activation, name=kname(name))(h)


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    if k["stem"] not in STEMS:
        raise ValueError(f"resnet stem {k['stem']!r} is not one of {', '.join(STEMS)}")
    if len(k["layers"]) != 4:
        raise ValueError("resnet: `layers` needs four stages (torchvision's layer1..layer4)")
    b = Builder(k)
    width = int(k["width"])
    inp = keras.Input(tuple(k["in_shape"]), name="x")
    if k["stem"] == "cifar":
        h = b.conv(inp, width, 3, 1, "stem.conv")
        h = b.act(b.bn(h, "stem.bn"), "stem.act")
    else:
        h = b.conv(inp, width, 7, 2, "stem.conv")
        h = b.act(b.bn(h, "stem.bn"), "stem.act")
        # torch's MaxPool2d(3, 2, padding=1) pads with -inf; after the activation (>= 0) a zero pad is the same
        h = keras.layers.ZeroPadding2D(1, name=kname("stem.pool.pad"))(h)
        h = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=kname("stem.pool"))(h)
    in_channels = width
    for i, blocks in enumerate(k["layers"]):
        channels = width * 2**i
        for j in range(blocks):
            stride = 2 if i > 0 and j == 0 else 1
            h = b.block(h, k["block"], in_channels, channels, stride, f"layer{i + 1}.{j}")
            in_channels = channels * EXPANSION[k["block"]]
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = keras.layers.Dense(int(k["num_classes"]), name="fc")(h)
    return {"net": keras.Model(inp, out, name="resnet")}


RULE_OF = (
    (keras.layers.Conv2D, "conv"),  # no bias: the rule maps the kernel alone
    (keras.layers.BatchNormalization, "batchnorm"),  # torch's twin keeps num_batches_tracked out of its weights
    (keras.layers.Dense, "dense"),
)


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    """Every layer with weights, under the torch module name its own name spells (`kname`)."""
    return [
        LayerMap(f"net.{layer.name.replace('_', '.')}", layer, kind)
        for layer in parts["net"].layers
        for cls, kind in RULE_OF
        if isinstance(layer, cls)
    ]
