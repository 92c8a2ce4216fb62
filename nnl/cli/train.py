"""Train a network from an nntxt / NNP configuration (nnabla_cli's ``train``).

Example: ``nnl train -c examples/mnist/lenet.nntxt -o results/lenet`` (``--resume`` continues a stopped run).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="training configuration (.nntxt or .nnp)")
    parser.add_argument("-o", "--outdir", required=True, help="output folder (results, checkpoints, report)")
    parser.add_argument("-p", "--param", help="initial parameters (.h5, .protobuf or .nnp)")
    parser.add_argument("-r", "--resume", action="store_true", help="continue from the latest checkpoint in OUTDIR")
    parser.add_argument("-C", "--context", help="extension to run on ('cpu'; overrides the configuration)")
    parser.add_argument("-s", "--seed", type=int, default=0, help="random seed (data order, initial parameters)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--nproc", type=int, default=1,
                        help="data-parallel processes on this machine (torch.distributed; each reads its slice of the "
                             "data); for several machines start `nnl train` with torchrun instead")


def _launch(args: argparse.Namespace, argv: list[str]) -> int:
    from nnl.communicators import launch

    launch(args.nproc, "nnl.cli.main", ["train", *argv], module=True)
    return 0


def _worker_argv(args: argparse.Namespace) -> list[str]:
    argv = ["-c", args.config, "-o", args.outdir, "-s", str(args.seed)]
    for flag, value in (("-p", args.param), ("-C", args.context)):
        if value:
            argv += [flag, value]
    return argv + (["-r"] if args.resume else []) + (["-q"] if args.quiet else [])


def run(args: argparse.Namespace) -> int:
    from nnl.training import train
    from nnl.utils.communicator_util import create_communicator

    if args.nproc > 1:
        return _launch(args, _worker_argv(args))
    comm = create_communicator(extension_module=args.context or "cpu")  # None in a single plain process
    try:
        result = train(args.config, args.outdir, resume=args.resume, context=args.context, param=args.param,
                       seed=args.seed, progress=not args.quiet, comm=comm)
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise  # bad input (a dataset, a config): the command's own message and status
        print(f"nnl train: error: {e}", file=sys.stderr)  # a full disk, say: a message, not a traceback
        return 1
    if comm is not None and comm.rank != 0:
        return 0
    last = result.history[-1] if result.history else {}
    summary = ", ".join(f"{k}={v:.6f}" for k, v in last.items())
    print(f"training finished: {len(result.history)} epochs; last epoch {summary}; results in {args.outdir}")
    return 0
