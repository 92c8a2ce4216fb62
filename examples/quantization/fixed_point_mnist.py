"""Fixed-point quantization-aware training of a LeNet on MNIST, compared with its float twin.

    python examples/quantization/fixed_point_mnist.py --max-iter 1000 --qat-iter 500

Three steps: (1) a float LeNet is trained; (2) its weights are copied into the same network built from
PF.fixed_point_quantized_convolution / PF.fixed_point_quantized_affine (weights and biases rounded to signed
fixed-point numbers of ``--n-w`` bits with step ``--delta-w``) with every ReLU output rounded by
F.fixed_point_quantize to unsigned ``--n-a``-bit numbers with step ``--delta-a``, and evaluated as is
(post-training quantization); (3) that quantized network is fine-tuned (quantization-aware training: the forward pass
uses the rounded values, the backward pass the straight-through estimator into the float weights) and evaluated
again. Reports the test accuracy of each on the last 1,000 bundled digits; saves ``float_params.h5`` and
``quantized_params.h5`` (the latter with the rounded copies ``W_q``, ``b_q``) to ``--output``.
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


def lenet(image, quantize=None):
    """LeNet (16 and 32 maps, 128 hidden units) in float, or fixed point when ``quantize`` holds the bit widths and
    steps ``{"n_w", "delta_w", "n_a", "delta_a"}``."""
    if quantize is None:
        conv, affine, act = PF.convolution, PF.affine, F.relu
    else:
        q = dict(n_w=quantize["n_w"], delta_w=quantize["delta_w"], n_b=8, delta_b=quantize["delta_w"])

        def conv(x, maps, kernel, name):
            return PF.fixed_point_quantized_convolution(x, maps, kernel, name=name, **q)

        def affine(x, units, name):
            return PF.fixed_point_quantized_affine(x, units, name=name, **q)

        def act(x):
            return F.fixed_point_quantize(F.relu(x), sign=False, n=quantize["n_a"], delta=quantize["delta_a"])

    h = act(F.max_pooling(conv(image, 16, (5, 5), name="conv1"), (2, 2)))
    h = act(F.max_pooling(conv(h, 32, (5, 5), name="conv2"), (2, 2)))
    h = act(affine(h, 128, name="fc3"))
    return affine(h, 10, name="fc4")


def copy_float_weights():
    """Copy each float parameter (``float/<layer>/conv/W`` ...) into its quantized twin
    (``quantized/<layer>/fp_quantized_conv/W`` ...)."""
    floats = nn.get_parameters(grad_only=False)
    for name, param in nn.get_parameters().items():
        if name.startswith("quantized/"):
            twin = name.replace("quantized/", "float/", 1).replace("fp_quantized_conv", "conv")
            param.d = floats[twin.replace("fp_quantized_affine", "affine")].d.copy()


def accuracy(images, labels, predict, vimage):
    batch, correct = vimage.shape[0], 0
    for start in range(0, len(images) - batch + 1, batch):
        vimage.d = images[start : start + batch, None] / 255.0
        predict.forward(clear_buffer=True)
        correct += int((predict.d.argmax(axis=1) == labels[start : start + batch]).sum())
    return correct / (len(images) // batch * batch)


def train(loss, image, label, data, solver, iterations, learning_rate, monitor_loss, monitor_time, first=0):
    """``iterations`` Adam steps with a learning rate falling linearly to a tenth."""
    for k in range(iterations):
        solver.set_learning_rate(learning_rate * (1 - 0.9 * k / iterations))
        image.d, label.d = data.next()
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        loss.backward(clear_buffer=True)
        solver.update()
        monitor_loss.add(first + k, float(loss.d))
        monitor_time.add(first + k)
    return float(loss.d)


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", "-i", type=int, default=1000, help="iterations of float training")
    parser.add_argument("--qat-iter", type=int, default=500, help="iterations of quantization-aware fine-tuning")
    parser.add_argument("--batch-size", "-b", type=int, default=64)
    parser.add_argument("--learning-rate", "-l", type=float, default=2e-3)
    parser.add_argument("--qat-learning-rate", type=float, default=5e-4)
    parser.add_argument("--n-w", type=int, default=3, help="bits of the weights (signed)")
    parser.add_argument("--delta-w", type=float, default=2**-4, help="step of the weights")
    parser.add_argument("--n-a", type=int, default=3, help="bits of the activations (unsigned)")
    parser.add_argument("--delta-a", type=float, default=2**-1, help="step of the activations")
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.fixed_point")
    parser.add_argument("--context", "-c", default="cpu")
    return parser.parse_args(argv)


def main(argv=None):
    """Train; return the test accuracies ``float_accuracy``, ``ptq_accuracy`` (float weights rounded),
    ``quantized_accuracy`` (after quantization-aware training) and the last training losses."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    (train_x, train_y), (test_x, test_y) = load_mnist5k()
    quantize = dict(n_w=args.n_w, delta_w=args.delta_w, n_a=args.n_a, delta_a=args.delta_a)

    image = nn.Variable([args.batch_size, 1, 28, 28])
    label = nn.Variable([args.batch_size, 1])
    vimage = nn.Variable([100, 1, 28, 28])
    nets = {}
    for kind, q in (("float", None), ("quantized", quantize)):
        with nn.parameter_scope(kind):
            loss = F.mean(F.softmax_cross_entropy(lenet(image, q), label))
            nets[kind] = loss, lenet(vimage, q), S.Adam(args.learning_rate)
            nets[kind][2].set_parameters(nn.get_parameters())

    monitor = Monitor(args.output)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=100)
    monitor_acc = MonitorSeries("Test accuracy", monitor, interval=1)

    def load(i):
        return train_x[i][None].astype(np.float32) / 255.0, train_y[i : i + 1].astype(np.int32)

    data = data_iterator_simple(load, len(train_x), args.batch_size, shuffle=True, rng=rng, with_memory_cache=False)
    loss, vpred, solver = nets["float"]
    float_loss = train(
        loss, image, label, data, solver, args.max_iter, args.learning_rate,
        MonitorSeries("Float training loss", monitor, interval=10), monitor_time,
    )  # fmt: skip
    float_accuracy = accuracy(test_x, test_y, vpred, vimage)
    monitor_acc.add(args.max_iter - 1, float_accuracy)
    with nn.parameter_scope("float"):
        nn.save_parameters(os.path.join(args.output, "float_params.h5"))

    copy_float_weights()
    loss, vpred, solver = nets["quantized"]
    ptq_accuracy = accuracy(test_x, test_y, vpred, vimage)
    monitor_qat = MonitorSeries("Quantization-aware training loss", monitor, interval=10)
    qat_loss = train(
        loss, image, label, data, solver, args.qat_iter, args.qat_learning_rate, monitor_qat, monitor_time,
        first=args.max_iter,
    )  # fmt: skip
    data.close()
    quantized_accuracy = accuracy(test_x, test_y, vpred, vimage)
    monitor_acc.add(args.max_iter + args.qat_iter - 1, quantized_accuracy)
    with nn.parameter_scope("quantized"):
        nn.save_parameters(os.path.join(args.output, "quantized_params.h5"))

    bits = f"{args.n_w}-bit weights, {args.n_a}-bit activations"
    print(f"fixed_point_mnist: test accuracy float {float_accuracy:.4f}, {bits}: {ptq_accuracy:.4f} after rounding")
    print(f"fixed_point_mnist: {quantized_accuracy:.4f} after {args.qat_iter} quantization-aware training iterations")
    return {
        "float_loss": float_loss,
        "qat_loss": qat_loss,
        "float_accuracy": float_accuracy,
        "ptq_accuracy": ptq_accuracy,
        "quantized_accuracy": quantized_accuracy,
    }


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
