"""ResNet-20 image classification with data augmentation, on CIFAR-10 or (offline) a synthetic set of shapes.

    python examples/cifar10/resnet20.py --data-dir ~/data/cifar-10-batches-py --max-iter 20000 --batch-size 128
    python examples/cifar10/resnet20.py  # synthetic coloured shapes, no download

ResNet-20 (He et al.): a 3x3 convolution, three stages of three residual blocks with 16, 32 and 64 maps (each block
two 3x3 convolutions with batch normalization; a strided 1x1 projection where the shape changes), global average
pooling and an affine classifier. Training batches are augmented inside the graph: ``--augment crop-flip`` pads by
4 pixels and takes a random 32x32 crop (F.pad + F.random_crop) and flips half the images left-right (F.random_flip);
``--augment image-augmentation`` does the same with F.image_augmentation; ``none`` turns it off. Adam (or
``--solver momentum``: SGD with momentum, the usual choice for long CIFAR-10 runs) with weight decay and a cosine
learning-rate schedule. ``--data-dir`` names the python-pickle CIFAR-10 folder
(``data_batch_1`` ... ``data_batch_5``, ``test_batch``); without it a synthetic 10-class set of coloured shapes
(disc, square, ring, triangle, plus, X, bar, column, diamond, frame) on noisy backgrounds is generated, so the script
always runs offline. Reports the test error and saves ``resnet20_params.h5`` to ``--output``.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle

import numpy as np

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.ext_utils import get_extension_context
from nnl.logger import logger
from nnl.mixed_precision import DynamicLossScaler
from nnl.monitor import Monitor, MonitorSeries, MonitorTimeElapsed

SHAPES = ("disc", "square", "ring", "triangle", "plus", "x", "bar", "column", "diamond", "frame")


# ---------------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------------
def load_cifar10(data_dir):
    """The python-pickle CIFAR-10 batches as ((train_x, train_y), (test_x, test_y)), images uint8 (N, 3, 32, 32)."""

    def read(name):
        with open(os.path.join(os.path.expanduser(data_dir), name), "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        return batch[b"data"].reshape(-1, 3, 32, 32), np.asarray(batch[b"labels"], dtype=np.int32)

    parts = [read(f"data_batch_{k}") for k in range(1, 6)]
    train = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return train, read("test_batch")


def synthetic_shapes(n, rng, size=32):
    """``n`` images (uint8 (n, 3, size, size)) of one coloured shape each, labels (n,) indexing SHAPES.

    Each image draws a shape class, a radius, a centre, a shape colour and a different background colour, and adds
    Gaussian pixel noise, so position, scale and colour carry no information about the class.
    """
    labels = rng.randint(0, len(SHAPES), n).astype(np.int32)
    r = rng.uniform(6, 11, n)[:, None, None]
    cy, cx = (rng.uniform(r[:, 0, 0] + 1, size - r[:, 0, 0] - 1) for _ in range(2))
    grid = np.arange(size, dtype=np.float64)
    dy = (grid[None, :, None] - cy[:, None, None]) / r  # coordinates in units of the radius
    dx = (grid[None, None, :] - cx[:, None, None]) / r
    ady, adx, dist = np.abs(dy), np.abs(dx), np.sqrt(dx**2 + dy**2)
    box = np.maximum(adx, ady)
    masks = {
        "disc": dist < 1,
        "square": box < 0.8,
        "ring": (dist < 1) & (dist > 0.6),
        "triangle": (dy > -1) & (dy < 0.7) & (adx < (dy + 1) * 0.6),
        "plus": ((adx < 0.3) & (ady < 1)) | ((ady < 0.3) & (adx < 1)),
        "x": ((np.abs(dx - dy) < 0.4) | (np.abs(dx + dy) < 0.4)) & (box < 0.8),
        "bar": (ady < 0.3) & (adx < 1),
        "column": (adx < 0.3) & (ady < 1),
        "diamond": adx + ady < 1,
        "frame": (box < 0.85) & (box > 0.55),
    }
    mask = np.stack([masks[name] for name in SHAPES])[labels, np.arange(n)]  # (n, size, size)
    fg = rng.uniform(0, 1, (n, 3, 1, 1))
    bg = rng.uniform(0, 1, (n, 3, 1, 1))
    bg = np.where(np.abs(fg - bg).sum(axis=1, keepdims=True) < 0.6, 1 - fg, bg)  # keep the shape visible
    images = np.where(mask[:, None], fg, bg) + rng.normal(0, 0.08, (n, 3, size, size))
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels


def normalizer(train_x):
    """A function scaling uint8 images to zero mean and unit variance per channel (statistics of up to 10,000
    training images)."""
    data = train_x[:10000].astype(np.float32) / 255
    mean = data.mean(axis=(0, 2, 3), keepdims=True)
    std = data.std(axis=(0, 2, 3), keepdims=True)
    return lambda images: (images.astype(np.float32) / 255 - mean) / std


# ---------------------------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------------------------
def augment(x, method):
    """Random 32x32 crops of the images padded by 4 and random left-right flips (training only)."""
    if method == "crop-flip":
        padded = F.pad(x, (4, 4, 4, 4))
        return F.random_flip(F.random_crop(padded, shape=x.shape[1:]), axes=[3])
    if method == "image-augmentation":
        return F.image_augmentation(x, shape=x.shape[1:], pad=(4, 4), flip_lr=True)
    return x


def conv_bn(h, maps, kernel, stride, test, name):
    pad = (kernel // 2, kernel // 2)
    with nn.parameter_scope(name):
        h = PF.convolution(h, maps, (kernel, kernel), pad=pad, stride=(stride, stride), with_bias=False)
        return PF.batch_normalization(h, batch_stat=not test)


def residual_block(x, maps, stride, test, name):
    """Two 3x3 conv-BN layers added to the input (projected by a strided 1x1 conv-BN when the shape changes)."""
    with nn.parameter_scope(name):
        h = F.relu(conv_bn(x, maps, 3, stride, test, "conv1"))
        h = conv_bn(h, maps, 3, 1, test, "conv2")
        shortcut = x if stride == 1 and x.shape[1] == maps else conv_bn(x, maps, 1, stride, test, "shortcut")
        return F.relu(h + shortcut)


def resnet20(x, n_classes=10, test=False, blocks_per_stage=3):
    """ResNet-20 for 32x32 images (6 * blocks_per_stage + 2 layers); returns the class logits."""
    h = F.relu(conv_bn(x, 16, 3, 1, test, "conv0"))
    for stage, maps in enumerate((16, 32, 64)):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            h = residual_block(h, maps, stride, test, f"stage{stage + 1}_block{block + 1}")
    h = F.global_average_pooling(h)
    return PF.affine(h, n_classes, name="fc")


def evaluate(images, labels, predict, vimage):
    """Classification error of the graph ``predict`` over ``images`` (already normalized), batch by batch."""
    batch, wrong = vimage.shape[0], 0
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        vimage.d[...] = 0
        vimage.d[: len(chunk)] = chunk
        predict.forward(clear_buffer=True)
        wrong += int((predict.d[: len(chunk)].argmax(axis=1) != labels[start : start + batch]).sum())
    return wrong / len(images)


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 python batches folder (default: synthetic shapes)")
    parser.add_argument("--num-train", type=int, default=None, help="use the first N training images (synthetic: 5000)")
    parser.add_argument("--num-test", type=int, default=None, help="use the first N test images (synthetic: 1000)")
    parser.add_argument("--augment", default="crop-flip", choices=["crop-flip", "image-augmentation", "none"])
    parser.add_argument("--max-iter", "-i", type=int, default=1000)
    parser.add_argument("--batch-size", "-b", type=int, default=32)
    parser.add_argument("--solver", default="adam", choices=["adam", "momentum"])
    parser.add_argument("--learning-rate", "-l", type=float, default=None, help="default: 1e-3 (adam), 0.1 (momentum)")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--val-interval", type=int, default=250)
    parser.add_argument("--seed", "-s", type=int, default=0)
    parser.add_argument("--output", "-o", default="tmp.monitor.resnet20")
    parser.add_argument("--context", "-c", default="cpu", help="extension: cpu, torch, cudnn")
    parser.add_argument("--type-config", "-t", default="float", choices=["float", "half", "bfloat16"],
                        help="compute precision (half: with dynamic loss scaling)")
    return parser.parse_args(argv)


def main(argv=None):
    """Train; return ``{"train_loss", "test_error", "test_accuracy", "dataset"}``."""
    args = get_args(argv)
    nn.set_default_context(get_extension_context(args.context, type_config=args.type_config))
    nn.clear_parameters()
    nn.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    if args.data_dir:
        (train_x, train_y), (test_x, test_y) = load_cifar10(args.data_dir)
        dataset = "cifar10"
    else:
        data_rng = np.random.RandomState(12345)  # the same synthetic set whatever --seed
        train_x, train_y = synthetic_shapes(args.num_train or 5000, data_rng)
        test_x, test_y = synthetic_shapes(args.num_test or 1000, data_rng)
        dataset = "synthetic-shapes"
    train_x, train_y = train_x[: args.num_train], train_y[: args.num_train]
    test_x, test_y = test_x[: args.num_test], test_y[: args.num_test]
    normalize = normalizer(train_x)
    test_x = normalize(test_x)  # the training images stay uint8 and are normalized batch by batch

    image = nn.Variable([args.batch_size, 3, 32, 32])
    label = nn.Variable([args.batch_size, 1])
    pred = resnet20(augment(image, args.augment))
    loss = F.mean(F.softmax_cross_entropy(pred, label))
    vimage = nn.Variable([min(100, len(test_x)), 3, 32, 32])
    vpred = resnet20(vimage, test=True)

    if args.learning_rate is None:
        args.learning_rate = 1e-3 if args.solver == "adam" else 0.1
    solver = S.Adam(args.learning_rate) if args.solver == "adam" else S.Momentum(args.learning_rate, args.momentum)
    solver.set_parameters(nn.get_parameters())
    # float16 loses small gradients: scale the loss, and skip the steps whose gradients overflow
    scaler = DynamicLossScaler(scale=2.0**12, interval=500) if args.type_config == "half" else None

    monitor = Monitor(args.output)
    monitor_loss = MonitorSeries("Training loss", monitor, interval=10)
    monitor_err = MonitorSeries("Test error", monitor, interval=1)
    monitor_time = MonitorTimeElapsed("Training time", monitor, interval=100)

    order, position = rng.permutation(len(train_x)), 0
    for i in range(args.max_iter):
        solver.set_learning_rate(args.learning_rate * 0.5 * (1 + np.cos(np.pi * i / args.max_iter)))
        if position + args.batch_size > len(order):
            order, position = rng.permutation(len(train_x)), 0
        index = order[position : position + args.batch_size]
        position += args.batch_size
        image.d, label.d = normalize(train_x[index]), train_y[index, None]
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        if scaler is None:
            loss.backward(clear_buffer=True)
            solver.weight_decay(args.weight_decay)
            solver.update()
        else:
            scaler.backward(loss)
            scaler.update(solver, weight_decay=args.weight_decay)
        monitor_loss.add(i, float(loss.d))
        monitor_time.add(i)
        if (i + 1) % args.val_interval == 0 and i + 1 < args.max_iter:
            monitor_err.add(i, evaluate(test_x, test_y, vpred, vimage))

    test_error = evaluate(test_x, test_y, vpred, vimage)
    monitor_err.add(args.max_iter - 1, test_error)
    nn.save_parameters(os.path.join(args.output, "resnet20_params.h5"))
    print(f"resnet20 on {dataset}: test error {test_error:.4f} after {args.max_iter} iterations")
    return {"train_loss": float(loss.d), "test_error": test_error, "test_accuracy": 1 - test_error, "dataset": dataset}


if __name__ == "__main__":
    if not logger.handlers:  # show the monitors' progress lines, as nnabla's logger does by default
        logging.basicConfig(format="%(message)s")
        logger.setLevel(logging.INFO)
    main()
