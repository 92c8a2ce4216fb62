"""Train LeNet on the bundled MNIST subset, written as an nnabla user would (only the imports differ).

    python examples/mnist/classification.py --epochs 5

The first 4,000 bundled images train, the last 1,000 test. Prints the loss per epoch and the test accuracy, and
saves the parameters to ``lenet_params.h5`` in the output directory.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.data import load_mnist5k
from nnl.ext_utils import get_extension_context


def mnist_lenet_prediction(image, test=False):
    """LeNet (Caffe's sizes: 20 and 50 maps, 500 hidden units): conv + max-pooling + ReLU twice, two affine layers."""
    image /= 255.0
    c1 = PF.convolution(image, 20, (5, 5), name="conv1")
    c1 = F.relu(F.max_pooling(c1, (2, 2)), inplace=True)
    c2 = PF.convolution(c1, 50, (5, 5), name="conv2")
    c2 = F.relu(F.max_pooling(c2, (2, 2)), inplace=True)
    c3 = F.relu(PF.affine(c2, 500, name="fc3"), inplace=True)
    c4 = PF.affine(c3, 10, name="fc4")
    return c4


def batches(images, labels, batch_size, rng):
    """Shuffled mini-batches covering the set once (the last partial batch is dropped)."""
    order = rng.permutation(len(images))
    for start in range(0, len(order) - batch_size + 1, batch_size):
        index = order[start : start + batch_size]
        yield images[index, None].astype(np.float32), labels[index, None].astype(np.int32)


def train(epochs=5, batch_size=32, learning_rate=1e-3, seed=0, context="cpu", output="tmp.monitor", verbose=True):
    """Train and return the test accuracy (the fraction of the 1,000 test images classified correctly)."""
    nn.set_default_context(get_extension_context(context))
    nn.clear_parameters()
    nn.seed(seed)
    (train_x, train_y), (test_x, test_y) = load_mnist5k()
    rng = np.random.RandomState(seed)

    image = nn.Variable([batch_size, 1, 28, 28])
    label = nn.Variable([batch_size, 1])
    pred = mnist_lenet_prediction(image, test=False)
    pred.persistent = True
    loss = F.mean(F.softmax_cross_entropy(pred, label))

    test_batch = 200
    vimage = nn.Variable([test_batch, 1, 28, 28])
    vpred = mnist_lenet_prediction(vimage, test=True)

    solver = S.Adam(learning_rate)
    solver.set_parameters(nn.get_parameters())

    for epoch in range(epochs):
        start, losses = time.time(), []
        for x, t in batches(train_x, train_y, batch_size, rng):
            image.d, label.d = x, t
            loss.forward(clear_no_need_grad=True)
            solver.zero_grad()
            loss.backward(clear_buffer=True)
            solver.update()
            losses.append(float(loss.d))
        if verbose:
            print(f"epoch {epoch + 1}: training loss {np.mean(losses):.4f} ({time.time() - start:.1f} s)")

    correct = 0
    for start in range(0, len(test_x), test_batch):
        vimage.d = test_x[start : start + test_batch, None]
        vpred.forward(clear_buffer=True)
        correct += int((vpred.d.argmax(axis=1) == test_y[start : start + test_batch]).sum())
    accuracy = correct / len(test_x)
    os.makedirs(output, exist_ok=True)
    nn.save_parameters(os.path.join(output, "lenet_params.h5"))
    if verbose:
        print(f"test accuracy {accuracy:.4f}")
    return accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--context", "-c", default="cpu")
    parser.add_argument("--output", "-o", default="tmp.monitor")
    args = parser.parse_args()
    train(args.epochs, args.batch_size, args.learning_rate, context=args.context, output=args.output)


if __name__ == "__main__":
    main()
