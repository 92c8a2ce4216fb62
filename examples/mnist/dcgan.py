"""DCGAN on MNIST: a deconvolutional generator against a convolutional discriminator, with two Adam solvers.

    python examples/mnist/dcgan.py --max-iter 1000

The generator maps 64-D Gaussian noise through an affine layer and two stride-2 PF.deconvolution layers (with batch
normalization) to 28x28 digits in [-1, 1]; the discriminator is two stride-2 convolutions and an affine logit.
Both are trained with sigmoid cross entropy (the generator with the non-saturating loss). The generator's parameters
live under the scope ``gen``, the discriminator's under ``dis``, each with its own solver. ``MonitorImageTile``
writes a tile of digits generated from fixed noise to ``<output>/Fake-images/`` every ``--image-interval``
iterations; the parameters are saved as ``generator.h5`` and ``discriminator.h5``.
"""

from __future__ import annotations

import argparse
import logging
import os

import numpy as np

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.data import load_mnist5k
from nnl.ext_utils import get_extension_context
from nnl.logger import logger
from nnl.monitor import Monitor, MonitorImageTile, MonitorSeries, MonitorTimeElapsed


def generator(z, maps=64, test=False):
    """Noise (B, Z) -> images (B, 1, 28, 28) in [-1, 1]: 7x7 -> 14x14 -> 28x28 through deconvolutions."""
    with nn.parameter_scope("gen"):
        h = PF.affine(z, (2 * maps, 7, 7), name="project")
        h = F.relu(PF.batch_normalization(h, batch_stat=not test, name="bn0"))
        h = PF.deconvolution(h, maps, (4, 4), pad=(1, 1), stride=(2, 2), name="deconv1")
        h = F.relu(PF.batch_normalization(h, batch_stat=not test, name="bn1"))
        h = PF.deconvolution(h, 1, (4, 4), pad=(1, 1), stride=(2, 2), name="deconv2")
        return F.tanh(h)


def discriminator(x, maps=64, test=False):
    """Images (B, 1, 28, 28) -> one logit per image, (B, 1): "real" when positive."""
    with nn.parameter_scope("dis"):
        h = F.leaky_relu(PF.convolution(x, maps, (4, 4), pad=(1, 1), stride=(2, 2), name="conv1"), 0.2)
        h = PF.convolution(h, 2 * maps, (4, 4), pad=(1, 1), stride=(2, 2), name="conv2")
        h = F.leaky_relu(PF.batch_normalization(h, batch_stat=not test, name="bn2"), 0.2)
        return PF.affine(h, 1, name="logit")


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", "-i", type=int, default=1000)
    parser.add_argument("--batch-size", "-b", type=int, default=64)
    parser.add_argument("--learning-rate", "-l", type=float, default=2e-4)
    parser.add_argument("--beta1", type=float, default=0.5, help="Adam's beta1 (0.5 steadies GAN training)")
    parser.add_argument("--latent", type=int, default=64, help="size of the noise vector")
    parser.add_argument("--maps", type=int, default=64, help="feature maps of the first layers")
    parser.add_argument("--image-interval", type=int, default=250, help="iterations between generated image tiles")
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.dcgan")
    parser.add_argument("--context", "-c", default="cpu")
    return parser.parse_args(argv)


def main(argv=None):
    """Train; return the last losses and the discriminator's mean outputs ``d_real`` = D(x), ``d_fake`` = D(G(z))."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    (train_x, _), _ = load_mnist5k()
    real_images = train_x.astype(np.float32)[:, None] / 127.5 - 1.0  # to [-1, 1], the generator's range
    batch = args.batch_size

    # generator step: fresh noise each forward (F.randn), the discriminator judges the fakes as real
    z = F.randn(shape=(batch, args.latent))
    fake = generator(z, args.maps)
    fake.persistent = True  # read again by the discriminator step
    pred_fake = discriminator(fake, args.maps)
    loss_gen = F.mean(F.sigmoid_cross_entropy(pred_fake, F.constant(1, pred_fake.shape)))

    # discriminator step on the same fakes, cut from the generator so its gradient stops there
    fake_dis = fake.get_unlinked_variable(need_grad=False)
    pred_fake_dis = discriminator(fake_dis, args.maps)
    x = nn.Variable([batch, 1, 28, 28])
    pred_real = discriminator(x, args.maps)
    loss_real = F.mean(F.sigmoid_cross_entropy(pred_real, F.constant(1, pred_real.shape)))
    loss_fake = F.mean(F.sigmoid_cross_entropy(pred_fake_dis, F.constant(0, pred_fake_dis.shape)))
    loss_dis = loss_real + loss_fake
    for v in (pred_real, pred_fake_dis):
        v.persistent = True

    # images from fixed noise, to watch the same digits evolve
    z_fixed = nn.Variable.from_numpy_array(rng.randn(64, args.latent).astype(np.float32))
    fake_fixed = generator(z_fixed, args.maps, test=True)

    solver_gen = S.Adam(args.learning_rate, beta1=args.beta1)
    solver_dis = S.Adam(args.learning_rate, beta1=args.beta1)
    with nn.parameter_scope("gen"):
        solver_gen.set_parameters(nn.get_parameters())
    with nn.parameter_scope("dis"):
        solver_dis.set_parameters(nn.get_parameters())

    monitor = Monitor(args.output)
    monitor_gen = MonitorSeries("Generator loss", monitor, interval=10)
    monitor_dis = MonitorSeries("Discriminator loss", monitor, interval=10)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=100)
    monitor_fake = MonitorImageTile(
        "Fake images", monitor, interval=args.image_interval, num_images=64, normalize_method=lambda v: (v + 1) / 2
    )

    order, position = rng.permutation(len(real_images)), 0
    for i in range(args.max_iter):
        loss_gen.forward(clear_no_need_grad=True)
        solver_gen.zero_grad()
        loss_gen.backward(clear_buffer=True)
        solver_gen.update()

        if position + batch > len(order):
            order, position = rng.permutation(len(real_images)), 0
        x.d = real_images[order[position : position + batch]]
        position += batch
        loss_dis.forward(clear_no_need_grad=True)
        solver_dis.zero_grad()
        loss_dis.backward(clear_buffer=True)
        solver_dis.update()

        monitor_gen.add(i, float(loss_gen.d))
        monitor_dis.add(i, float(loss_dis.d))
        monitor_time.add(i)
        if i == 0 or (i + 1) % args.image_interval == 0:
            fake_fixed.forward(clear_buffer=True)
            monitor_fake.add(i, fake_fixed)

    with nn.parameter_scope("gen"):
        nn.save_parameters(os.path.join(args.output, "generator.h5"))
    with nn.parameter_scope("dis"):
        nn.save_parameters(os.path.join(args.output, "discriminator.h5"))
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    result = {
        "generator_loss": float(loss_gen.d),
        "discriminator_loss": float(loss_dis.d),
        "d_real": float(sigmoid(pred_real.d).mean()),
        "d_fake": float(sigmoid(pred_fake_dis.d).mean()),
    }
    print("dcgan: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return result


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
