"""Variational autoencoder on binarized MNIST: MLP encoder and decoder, the reparameterisation trick with F.randn.

    python examples/mnist/vae.py --max-iter 3000

The encoder maps a digit to the mean and log-variance of a Gaussian posterior over a ``--latent``-D code; a code
is drawn as ``mu + exp(logvar / 2) * eps`` with ``eps = F.randn(...)`` so the draw is differentiable; the decoder
maps it back to one Bernoulli logit per pixel. The loss is the negative evidence lower bound: the Bernoulli negative
log-likelihood of the digit (sigmoid cross entropy, summed over pixels) plus the KL divergence of the posterior
from the standard normal prior, in nats per digit. Reports it on the 1,000 test digits; ``MonitorImageTile`` writes
test reconstructions and samples from the prior to ``--output``; parameters go to ``vae_params.h5``.
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
from nnl.utils.data_iterator import data_iterator_simple


def encoder(x, hidden, latent):
    """Digits (B, 1, 28, 28) -> posterior mean and log-variance, each (B, latent)."""
    h = F.elu(PF.affine(x, hidden, name="enc1"))
    h = F.elu(PF.affine(h, hidden, name="enc2"))
    return PF.affine(h, latent, name="enc_mu"), PF.affine(h, latent, name="enc_logvar")


def decoder(z, hidden):
    """Codes (B, latent) -> Bernoulli logits (B, 1, 28, 28)."""
    h = F.elu(PF.affine(z, hidden, name="dec1"))
    h = F.elu(PF.affine(h, hidden, name="dec2"))
    return PF.affine(h, (1, 28, 28), name="dec_out")


def negative_elbo(x, hidden, latent):
    """Mean over the batch of -ELBO = -log p(x|z) + KL(q(z|x) || N(0, I)), with one z drawn per digit."""
    mu, logvar = encoder(x, hidden, latent)
    z = mu + F.exp(0.5 * logvar) * F.randn(shape=mu.shape)
    logits = decoder(z, hidden)
    nll = F.sum(F.sigmoid_cross_entropy(logits, x), axis=(1, 2, 3))
    kl = 0.5 * F.sum(mu**2 + F.exp(logvar) - logvar - 1.0, axis=1)
    return F.mean(nll + kl)


def binarize(images):
    """uint8 digits as {0, 1} float32 pixels (B, 1, 28, 28): the data of a Bernoulli likelihood."""
    return (images[:, None] > 127).astype(np.float32)


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", "-i", type=int, default=3000)
    parser.add_argument("--batch-size", "-b", type=int, default=100)
    parser.add_argument("--learning-rate", "-l", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=400, help="units of each hidden layer")
    parser.add_argument("--latent", type=int, default=16, help="size of the latent code")
    parser.add_argument("--val-interval", type=int, default=500)
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.vae")
    parser.add_argument("--context", "-c", default="cpu")
    return parser.parse_args(argv)


def main(argv=None):
    """Train; return ``{"train_loss", "test_loss"}``: the negative ELBO in nats per digit."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    (train_x, _), (test_x, _) = load_mnist5k()
    train_x, test_x = binarize(train_x), binarize(test_x)

    x = nn.Variable([args.batch_size, 1, 28, 28])
    loss = negative_elbo(x, args.hidden, args.latent)
    vbatch = 100
    vx = nn.Variable([vbatch, 1, 28, 28])
    vloss = negative_elbo(vx, args.hidden, args.latent)
    # pictures: reconstructions of test digits (posterior means) and digits decoded from prior samples
    reconstruction = F.sigmoid(decoder(encoder(vx, args.hidden, args.latent)[0], args.hidden))
    z_prior = nn.Variable.from_numpy_array(rng.randn(vbatch, args.latent).astype(np.float32))
    samples = F.sigmoid(decoder(z_prior, args.hidden))

    solver = S.Adam(args.learning_rate)
    solver.set_parameters(nn.get_parameters())

    monitor = Monitor(args.output)
    monitor_loss = MonitorSeries("Training loss", monitor, interval=10)
    monitor_vloss = MonitorSeries("Test loss", monitor, interval=1)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=100)
    as_is = lambda v: v  # noqa: E731 (pixel probabilities are already in [0, 1])
    monitor_rec = MonitorImageTile("Reconstructions", monitor, interval=1, num_images=64, normalize_method=as_is)
    monitor_samples = MonitorImageTile("Samples", monitor, interval=1, num_images=64, normalize_method=as_is)

    def test_loss():
        total = 0.0
        for start in range(0, len(test_x), vbatch):
            vx.d = test_x[start : start + vbatch]
            vloss.forward(clear_buffer=True)
            total += float(vloss.d)
        return total / (len(test_x) // vbatch)

    data = data_iterator_simple(lambda i: (train_x[i],), len(train_x), args.batch_size, shuffle=True, rng=rng)
    for i in range(args.max_iter):
        (x.d,) = data.next()
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        loss.backward(clear_buffer=True)
        solver.update()
        monitor_loss.add(i, float(loss.d))
        monitor_time.add(i)
        if (i + 1) % args.val_interval == 0 and i + 1 < args.max_iter:
            monitor_vloss.add(i, test_loss())
    data.close()

    final = test_loss()
    monitor_vloss.add(args.max_iter - 1, final)
    vx.d = test_x[:vbatch]
    reconstruction.forward(clear_buffer=True)
    samples.forward(clear_buffer=True)
    monitor_rec.add(args.max_iter - 1, reconstruction)
    monitor_samples.add(args.max_iter - 1, samples)
    nn.save_parameters(os.path.join(args.output, "vae_params.h5"))
    print(f"vae: test negative ELBO {final:.2f} nats per digit after {args.max_iter} iterations")
    return {"train_loss": float(loss.d), "test_loss": final}


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
