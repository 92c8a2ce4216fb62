"""Create datasets in Neural Network Console's CSV format (``nnl dataset mnist -o DIR``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="DATASET", required=True)
    mnist = kinds.add_parser("mnist", help="MNIST as PNG files + mnist_training.csv / mnist_test.csv")
    mnist.add_argument("-o", "--outdir", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from nnl.data.csv_datasets import write_mnist

    if args.kind == "mnist":
        training, test = write_mnist(args.outdir)
        print(f"wrote {training} (4000 images) and {test} (1000 images)")
    return 0
