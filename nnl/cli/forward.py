"""Evaluate a model on a CSV dataset (nnabla_cli's ``forward``): ``output_result.csv`` and ``confusion_matrix.json``.

Example: ``nnl forward -c results/lenet/results.nnp -d data/mnist/mnist_test.csv -o results/lenet_eval``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="trained model (.nnp)")
    parser.add_argument("-d", "--dataset", required=True, help="dataset CSV")
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.add_argument("-b", "--batch-size", type=int, help="batch size (default: the network's)")
    parser.add_argument("-e", "--executor", help="executor to run (default: the first)")


def run(args: argparse.Namespace) -> int:
    from nnl.training.evaluate import forward_dataset

    matrices = forward_dataset(args.config, args.dataset, args.outdir, args.batch_size, args.executor)
    for name, m in matrices.items():
        print(f"{name}: accuracy {m['accuracy']:.4f} on {m['samples']} samples (avg F-measure {m['avg_f_measure']:.4f})")
    print(f"wrote {args.outdir}/output_result.csv")
    return 0
