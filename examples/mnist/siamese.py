"""Siamese network on MNIST: a 2-D embedding of digits learnt from pairs with the contrastive loss.

    python examples/mnist/siamese.py --max-iter 1000

Two copies of one small convolutional network (the parameters are shared because both copies use the same names)
embed a pair of digits into the plane. The contrastive loss pulls pairs of the same digit together and pushes pairs
of different digits at least ``--margin`` apart: ``y d^2 + (1 - y) max(margin - d, 0)^2`` with ``d`` the Euclidean
distance and ``y`` = 1 for a same-digit pair. Half the training pairs are same-digit pairs. Reports the test loss,
the pair accuracy (same digit iff d < margin / 2) and the accuracy of classifying each test digit by the nearest
class centre of the training embeddings; writes ``embedding.png`` (the test digits in the plane, coloured by class)
and ``siamese_params.h5`` to ``--output``.
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
from nnl.monitor import Monitor, MonitorSeries, MonitorTimeElapsed


def embed(image, dims=2):
    """Digits (B, 1, 28, 28) in [0, 1] -> points (B, dims)."""
    h = F.relu(F.max_pooling(PF.convolution(image, 20, (5, 5), name="conv1"), (2, 2)))
    h = F.relu(F.max_pooling(PF.convolution(h, 50, (5, 5), name="conv2"), (2, 2)))
    h = F.relu(PF.affine(h, 256, name="fc3"))
    return PF.affine(h, dims, name="embedding")


def contrastive_loss(f0, f1, same, margin):
    """Mean over pairs of ``same * d^2 + (1 - same) * max(margin - d, 0)^2``; ``same`` is (B, 1) in {0, 1}."""
    d2 = F.sum(F.squared_error(f0, f1), axis=1, keepdims=True)
    d = F.pow_scalar(d2 + 1e-6, 0.5)  # the offset keeps the gradient of the root finite at d = 0
    return F.mean(same * d2 + (1 - same) * F.maximum_scalar(margin - d, 0) ** 2), d


def pair_sampler(images, labels, batch_size, rng):
    """Random pairs (x0, x1, same), half of them of the same digit."""
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    while True:
        first = rng.randint(0, len(images), batch_size)
        same = rng.rand(batch_size) < 0.5
        second = rng.randint(0, len(images), batch_size)
        for k in np.flatnonzero(same):
            second[k] = rng.choice(by_class[labels[first[k]]])
        same = (labels[first] == labels[second]).astype(np.float32)[:, None]
        yield images[first, None] / 255.0, images[second, None] / 255.0, same


def embed_all(images, points, vimage):
    """Embeddings (N, dims) of all images through the graph ``points`` (fed through ``vimage``)."""
    batch, out = vimage.shape[0], []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        vimage.d[...] = 0
        vimage.d[: len(chunk)] = chunk[:, None] / 255.0
        points.forward(clear_buffer=True)
        out.append(points.d[: len(chunk)].copy())
    return np.concatenate(out)


def save_embedding_plot(path, points, labels):
    """Scatter plot of the 2-D embedding coloured by digit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    for c in range(10):
        p = points[labels == c]
        ax.scatter(p[:, 0], p[:, 1], s=4, label=str(c), color=plt.cm.tab10(c))
    ax.legend(markerscale=4, fontsize=8)
    ax.set_title("Test digits in the learnt embedding")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", "-i", type=int, default=1000)
    parser.add_argument("--batch-size", "-b", type=int, default=64)
    parser.add_argument("--learning-rate", "-l", type=float, default=1e-3)
    parser.add_argument("--margin", type=float, default=1.0)
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.siamese")
    parser.add_argument("--context", "-c", default="cpu")
    return parser.parse_args(argv)


def main(argv=None):
    """Train; return ``{"train_loss", "test_loss", "pair_accuracy", "centroid_accuracy"}`` on the test digits."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    (train_x, train_y), (test_x, test_y) = load_mnist5k()

    x0 = nn.Variable([args.batch_size, 1, 28, 28])
    x1 = nn.Variable([args.batch_size, 1, 28, 28])
    same = nn.Variable([args.batch_size, 1])
    loss, _ = contrastive_loss(embed(x0), embed(x1), same, args.margin)
    vimage = nn.Variable([200, 1, 28, 28])
    vpoints = embed(vimage)

    solver = S.Adam(args.learning_rate)
    solver.set_parameters(nn.get_parameters())

    monitor = Monitor(args.output)
    monitor_loss = MonitorSeries("Training loss", monitor, interval=10)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=100)

    pairs = pair_sampler(train_x, train_y, args.batch_size, rng)
    for i in range(args.max_iter):
        x0.d, x1.d, same.d = next(pairs)
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        loss.backward(clear_buffer=True)
        solver.update()
        monitor_loss.add(i, float(loss.d))
        monitor_time.add(i)
    train_loss = float(loss.d)

    # evaluation on the embeddings of all digits
    train_points = embed_all(train_x, vpoints, vimage)
    test_points = embed_all(test_x, vpoints, vimage)
    centres = np.stack([train_points[train_y == c].mean(axis=0) for c in range(10)])
    nearest = ((test_points[:, None] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    centroid_accuracy = float((nearest == test_y).mean())
    test_rng = np.random.RandomState(1)
    first, second = test_rng.randint(0, len(test_x), (2, 2000))
    second[:1000] = [test_rng.choice(np.flatnonzero(test_y == test_y[k])) for k in first[:1000]]
    is_same = test_y[first] == test_y[second]
    d = np.sqrt(((test_points[first] - test_points[second]) ** 2).sum(axis=1))
    pair_accuracy = float(((d < args.margin / 2) == is_same).mean())
    test_loss = float(np.mean(np.where(is_same, d**2, np.maximum(args.margin - d, 0) ** 2)))

    MonitorSeries("Test loss", monitor).add(args.max_iter - 1, test_loss)
    MonitorSeries("Test pair accuracy", monitor).add(args.max_iter - 1, pair_accuracy)
    save_embedding_plot(os.path.join(args.output, "embedding.png"), test_points, test_y)
    nn.save_parameters(os.path.join(args.output, "siamese_params.h5"))
    print(f"siamese: test pair accuracy {pair_accuracy:.4f}, nearest-centre accuracy {centroid_accuracy:.4f}")
    return {
        "train_loss": train_loss,
        "test_loss": test_loss,
        "pair_accuracy": pair_accuracy,
        "centroid_accuracy": centroid_accuracy,
    }


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
