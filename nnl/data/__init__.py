"""Datasets: the bundled MNIST subset and (later) downloaders for the full datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BUNDLED_MNIST = Path(__file__).with_name("mnist5k.npz")


def load_mnist5k() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The bundled 5,000 real MNIST digits as ``((train_images, train_labels), (test_images, test_labels))``.

    Images are uint8 ``(N, 28, 28)``, labels int ``(N,)``; the first 4,000 are the training split, the last 1,000
    the test split.

    >>> (xt, yt), (xv, yv) = load_mnist5k()
    >>> xt.shape, xv.shape
    ((4000, 28, 28), (1000, 28, 28))
    """
    with np.load(BUNDLED_MNIST) as archive:
        images, labels = archive["images"], archive["labels"]
    return (images[:4000], labels[:4000]), (images[4000:], labels[4000:])
