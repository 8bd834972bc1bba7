"""The digits DCGAN, torch twin of impls/keras/dcgan.py.

generator:     z -> Linear(z_dim, G*4*4) -> act -> (G, 4, 4) -> ConvTranspose2d(G, 1, k4, s2, p1) -> sigmoid
               -> (1, 8, 8) in [0, 1]
discriminator: (1, 8, 8) -> Conv2d(1, D0, k4, s2, p1) -> LeakyReLU -> (D0, 4, 4) -> Conv2d(D0, D1, k4, s2, p1)
               -> LeakyReLU -> (D1, 2, 2) -> Flatten -> Linear(D1*2*2, 1) logit

One training step = one discriminator update (BCE-with-logits, real -> 1, detached fakes -> 0), then one
generator update through the just-updated discriminator (non-saturating loss: fakes -> 1), on the same
fakes G(z). The noise z comes in the batch, so both frameworks see the same noise. The step returns
d_loss + g_loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.core.spec import OptimizerSpec, Workload
from impls.torch.common import activation, make_optimizer


def build(workload: Workload) -> dict[str, nn.Module]:
    k = workload.model_kwargs
    g = k["g_channels"]
    d0, d1 = k["d_channels"]
    kernel, stride, pad = k["kernel"], k["stride"], k["padding"]
    generator = nn.Sequential(
        nn.Linear(k["z_dim"], g * 4 * 4),
        activation(k["activation"]),
        nn.Unflatten(1, (g, 4, 4)),
        nn.ConvTranspose2d(g, 1, kernel, stride=stride, padding=pad),
        nn.Sigmoid(),
    )
    discriminator = nn.Sequential(
        nn.Conv2d(1, d0, kernel, stride=stride, padding=pad),
        nn.LeakyReLU(k["leaky_slope"]),
        nn.Conv2d(d0, d1, kernel, stride=stride, padding=pad),
        nn.LeakyReLU(k["leaky_slope"]),
        nn.Flatten(),
        nn.Linear(d1 * 2 * 2, 1),
    )
    return {"generator": generator, "discriminator": discriminator}


def make_optimizers(
    parts: Mapping[str, nn.Module], spec: OptimizerSpec, device: str
) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per network, both from the workload's spec."""
    return {name: make_optimizer(spec, m.parameters(), device) for name, m in parts.items()}


def prepare(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Real images NHWC -> NCHW; the noise is left as it is."""
    return {k: v.transpose(0, 3, 1, 2) if k == "real" else v for k, v in batch.items()}


# Compiled whole, the step's first graph holds G(z) and the discriminator's loss; AOTAutograd gives
# that graph one backward node, which d_loss.backward() runs and frees, so g_loss.backward() through
# G(z) fails ("Trying to backward through the graph a second time"). torch-compile compiles the
# modules instead and runs this step.
UNSUPPORTED = {
    "torch-compile-step": "two backward passes through one compiled graph (G(z) feeds both losses): AOTAutograd "
    "frees its saved tensors after the first; torch-compile runs the GAN with its modules compiled"
}


def train_step(
    parts: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer], batch: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    gen, disc = parts["generator"], parts["discriminator"]
    real, z = batch["real"], batch["z"]
    fake = gen(z)
    d_real, d_fake = disc(real), disc(fake.detach())
    d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.zeros_like(d_fake)
    )
    optimizers["discriminator"].zero_grad(set_to_none=True)
    d_loss.backward()
    optimizers["discriminator"].step()
    g_logits = disc(fake)
    g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
    optimizers["generator"].zero_grad(set_to_none=True)
    # Gradients of the generator only, as keras' tape.gradient(g_loss, G.trainable_variables): the
    # discriminator's weight gradients are not computed for this loss.
    g_loss.backward(inputs=list(gen.parameters()))
    optimizers["generator"].step()
    return d_loss.detach() + g_loss.detach()


def predict(parts: Mapping[str, nn.Module], z: torch.Tensor) -> torch.Tensor:
    """Samples G(z), NHWC like the data (the task grades them in numpy)."""
    return parts["generator"](z).permute(0, 2, 3, 1)
