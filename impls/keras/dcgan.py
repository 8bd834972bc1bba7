"""The digits DCGAN, keras twin of impls/torch/dcgan.py (same layers, NHWC).

torch's ConvTranspose2d/Conv2d(kernel k, stride s, padding p) with k - s == 2p (here k4 s2 p1, on even
sizes) is keras' padding="same": TensorFlow's SAME pads k - s in total, split evenly, which is p on each
side (the parity test sees ~1e-7). The generator's Dense output is reshaped to (4, 4, G) here
and to (G, 4, 4) in torch: the weight rule reorders its columns ("out_chw"). The discriminator's
Dense after Flatten reorders its rows ("chw").

The step mirrors torch's: G(z) once; a discriminator update on real and stopped-gradient fakes; then
the generator update through the updated discriminator, with gradients for G's variables only.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from bench.core.spec import OptimizerSpec, Workload
from impls.keras.common import make_optimizer
from impls.keras.weights import LayerMap


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    g = k["g_channels"]
    d0, d1 = k["d_channels"]
    kernel, stride = k["kernel"], k["stride"]
    if kernel - stride != 2 * k["padding"]:
        raise ValueError(f"dcgan: padding {k['padding']} is 'same' only when kernel - stride == 2 * padding")
    z = keras.Input((k["z_dim"],), name="z")
    h = keras.layers.Dense(g * 4 * 4, activation=k["activation"], name="g_fc")(z)
    h = keras.layers.Reshape((4, 4, g))(h)
    img = keras.layers.Conv2DTranspose(1, kernel, strides=stride, padding="same", activation="sigmoid", name="g_up")(h)
    generator = keras.Model(z, img, name="generator")

    x = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(d0, kernel, strides=stride, padding="same", name="d_conv1")(x)
    h = keras.layers.LeakyReLU(negative_slope=k["leaky_slope"])(h)
    h = keras.layers.Conv2D(d1, kernel, strides=stride, padding="same", name="d_conv2")(h)
    h = keras.layers.LeakyReLU(negative_slope=k["leaky_slope"])(h)
    logit = keras.layers.Dense(1, name="d_fc")(keras.layers.Flatten()(h))
    discriminator = keras.Model(x, logit, name="discriminator")
    return {"generator": generator, "discriminator": discriminator}


def layer_map(parts: Mapping[str, keras.Model]) -> list[LayerMap]:
    gen, disc = parts["generator"], parts["discriminator"]
    g = gen.get_layer("g_up").get_weights()[0].shape[3]
    d1 = disc.get_layer("d_conv2").get_weights()[0].shape[3]
    return [
        LayerMap("generator.0", gen.get_layer("g_fc"), "dense", {"out_chw": (g, 4, 4)}),
        LayerMap("generator.3", gen.get_layer("g_up"), "conv_transpose"),
        LayerMap("discriminator.0", disc.get_layer("d_conv1"), "conv"),
        LayerMap("discriminator.2", disc.get_layer("d_conv2"), "conv"),
        LayerMap("discriminator.5", disc.get_layer("d_fc"), "dense", {"chw": (d1, 2, 2)}),
    ]


def make_optimizers(parts: Mapping[str, keras.Model], spec: OptimizerSpec) -> dict[str, keras.optimizers.Optimizer]:
    """One optimizer per network, both from the workload's spec."""
    optimizers = {}
    for name, model in parts.items():
        optimizers[name] = make_optimizer(spec)
        optimizers[name].build(model.trainable_variables)
    return optimizers


def bce_with_logits(logits: tf.Tensor, label: float) -> tf.Tensor:
    """Mean binary cross-entropy against a constant label (torch's binary_cross_entropy_with_logits)."""
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label), logits=logits)
    )


def train_step(
    parts: Mapping[str, keras.Model],
    optimizers: Mapping[str, keras.optimizers.Optimizer],
    batch: Mapping[str, tf.Tensor],
) -> tf.Tensor:
    gen, disc = parts["generator"], parts["discriminator"]
    with tf.GradientTape() as g_tape:
        fake = gen(batch["z"], training=True)
        with g_tape.stop_recording():  # the discriminator update is not part of the generator's graph
            with tf.GradientTape() as d_tape:
                d_real = disc(batch["real"], training=True)
                d_fake = disc(tf.stop_gradient(fake), training=True)
                d_loss = bce_with_logits(d_real, 1.0) + bce_with_logits(d_fake, 0.0)
            d_grads = d_tape.gradient(d_loss, disc.trainable_variables)
            optimizers["discriminator"].apply_gradients(zip(d_grads, disc.trainable_variables))
        g_loss = bce_with_logits(disc(fake, training=True), 1.0)
    g_grads = g_tape.gradient(g_loss, gen.trainable_variables)
    optimizers["generator"].apply_gradients(zip(g_grads, gen.trainable_variables))
    return d_loss + g_loss


def predict(parts: Mapping[str, keras.Model], z: tf.Tensor) -> tf.Tensor:
    """Samples G(z), NHWC."""
    return parts["generator"](z, training=False)
