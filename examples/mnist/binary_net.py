"""Binary neural networks on MNIST: BinaryConnect, BinaryNet and binary-weight (XNOR-style) LeNets.

    python examples/mnist/binary_net.py --net binary-net --max-iter 1000

``--net`` picks the variant: ``binary-connect`` (weights binarized to +-1 with PF.binary_connect_*, ReLU
activations), ``binary-net`` (binary weights and F.binary_tanh activations), ``binary-net-sigmoid`` (binary weights
and F.binary_sigmoid activations), ``binary-weight`` (PF.binary_weight_*: +-alpha per output map) or ``float`` (the
same LeNet in full precision, for comparison). Every layer is followed by batch normalization; the real-valued
weights behind the binary ones are clipped to [-1, 1] after each update, as in the BinaryConnect paper. Trains on
the first 4,000 bundled digits, reports the error on the last 1,000 and saves the parameters to ``--output``.
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
from nnl.utils.data_iterator import data_iterator_simple

# net name -> (convolution, affine, activation); the first two are parametric functions
NETS = {
    "float": (PF.convolution, PF.affine, F.relu),
    "binary-connect": (PF.binary_connect_convolution, PF.binary_connect_affine, F.relu),
    "binary-net": (PF.binary_connect_convolution, PF.binary_connect_affine, F.binary_tanh),
    "binary-net-sigmoid": (PF.binary_connect_convolution, PF.binary_connect_affine, F.binary_sigmoid),
    "binary-weight": (PF.binary_weight_convolution, PF.binary_weight_affine, F.relu),
}


def lenet(image, net="binary-net", maps=(32, 64), hidden=256, test=False):
    """LeNet-style classifier: two conv + pool blocks and two affine layers, each followed by batch normalization."""
    conv, affine, act = NETS[net]

    def bn(h, name):
        return PF.batch_normalization(h, batch_stat=not test, name=name)

    h = conv(image, maps[0], (5, 5), name="conv1")
    h = act(bn(F.max_pooling(h, (2, 2)), "bn1"))
    h = conv(h, maps[1], (5, 5), name="conv2")
    h = act(bn(F.max_pooling(h, (2, 2)), "bn2"))
    h = act(bn(affine(h, hidden, name="fc3"), "bn3"))
    return bn(affine(h, 10, name="fc4"), "bn4")


def mnist_iterator(images, labels, batch_size, rng):
    """Shuffled batches of (images scaled to [0, 1] shaped (B, 1, 28, 28), int labels (B, 1)), forever."""

    def load(i):
        return images[i][None].astype(np.float32) / 255.0, labels[i : i + 1].astype(np.int32)

    return data_iterator_simple(load, len(images), batch_size, shuffle=True, rng=rng, with_memory_cache=False)


def evaluate(images, labels, predict, vimage):
    """Classification error of the graph ``predict`` (fed through ``vimage``) over all images."""
    batch, wrong = vimage.shape[0], 0
    for start in range(0, len(images) - batch + 1, batch):
        vimage.d = images[start : start + batch, None] / 255.0
        predict.forward(clear_buffer=True)
        wrong += int((predict.d.argmax(axis=1) != labels[start : start + batch]).sum())
    return wrong / (len(images) // batch * batch)


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", "-n", default="binary-net", choices=sorted(NETS))
    parser.add_argument("--max-iter", "-i", type=int, default=1000)
    parser.add_argument("--batch-size", "-b", type=int, default=100)
    parser.add_argument("--learning-rate", "-l", type=float, default=3e-3)
    parser.add_argument("--val-interval", type=int, default=500, help="iterations between test-error evaluations")
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.binary_net")
    parser.add_argument("--context", "-c", default="cpu")
    return parser.parse_args(argv)


def main(argv=None):
    """Train and return ``{"train_loss", "test_error", "test_accuracy"}`` (the last two on the 1,000 test digits)."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    (train_x, train_y), (test_x, test_y) = load_mnist5k()

    image = nn.Variable([args.batch_size, 1, 28, 28])
    label = nn.Variable([args.batch_size, 1])
    pred = lenet(image, args.net)
    loss = F.mean(F.softmax_cross_entropy(pred, label))
    vimage = nn.Variable([100, 1, 28, 28])
    vpred = lenet(vimage, args.net, test=True)

    params = nn.get_parameters()
    solver = S.Adam(args.learning_rate)
    solver.set_parameters(params)
    # the real-valued weights of binarized layers are kept in [-1, 1] (sign() does not care about larger values)
    clipped = [p for name, p in params.items() if args.net != "float" and name.endswith("/W")]

    monitor = Monitor(args.output)
    monitor_loss = MonitorSeries("Training loss", monitor, interval=10)
    monitor_err = MonitorSeries("Test error", monitor, interval=1)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=100)

    data = mnist_iterator(train_x, train_y, args.batch_size, rng)
    for i in range(args.max_iter):
        # the learning rate falls linearly to a tenth over the run
        solver.set_learning_rate(args.learning_rate * (1 - 0.9 * i / args.max_iter))
        image.d, label.d = data.next()
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        loss.backward(clear_buffer=True)
        solver.update()
        for p in clipped:
            p.d = np.clip(p.d, -1.0, 1.0)
        monitor_loss.add(i, float(loss.d))
        monitor_time.add(i)
        if (i + 1) % args.val_interval == 0 and i + 1 < args.max_iter:
            monitor_err.add(i, evaluate(test_x, test_y, vpred, vimage))
    data.close()

    test_error = evaluate(test_x, test_y, vpred, vimage)
    monitor_err.add(args.max_iter - 1, test_error)
    nn.save_parameters(os.path.join(args.output, f"{args.net}_params.h5"))
    print(f"{args.net}: test error {test_error:.4f} (accuracy {1 - test_error:.4f}) after {args.max_iter} iterations")
    return {"train_loss": float(loss.d), "test_error": test_error, "test_accuracy": 1 - test_error}


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
