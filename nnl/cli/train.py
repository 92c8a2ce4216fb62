"""Train a network from an nntxt / NNP configuration (nnabla_cli's ``train``).

Example: ``nnl train -c examples/mnist/lenet.nntxt -o results/lenet`` (``--resume`` continues a stopped run).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="training configuration (.nntxt or .nnp)")
    parser.add_argument("-o", "--outdir", required=True, help="output folder (results, checkpoints, report)")
    parser.add_argument("-p", "--param", help="initial parameters (.h5, .protobuf or .nnp)")
    parser.add_argument("-r", "--resume", action="store_true", help="continue from the latest checkpoint in OUTDIR")
    parser.add_argument("-C", "--context", help="extension to run on ('cpu'; overrides the configuration)")
    parser.add_argument("-s", "--seed", type=int, default=0, help="random seed (data order, initial parameters)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from nnl.training import train

    result = train(args.config, args.outdir, resume=args.resume, context=args.context, param=args.param,
                   seed=args.seed, progress=not args.quiet)
    last = result.history[-1] if result.history else {}
    summary = ", ".join(f"{k}={v:.6f}" for k, v in last.items())
    print(f"training finished: {len(result.history)} epochs; last epoch {summary}; results in {args.outdir}")
    return 0
