"""Entry point of the ``nnl`` command."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "console": "nnl.cli.console",
    "conv_dataset": "nnl.cli.conv_dataset",
    "convert": "nnl.cli.convert",
    "create_image_classification_dataset": "nnl.cli.create_image_classification_dataset",
    "dataset": "nnl.cli.dataset",
    "forward": "nnl.cli.forward",
    "infer": "nnl.cli.infer",
    "report": "nnl.cli.report",
    "train": "nnl.cli.train",
    "function_info": "nnl.cli.function_info",
    "version": "nnl.cli.version",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnl", description="nnl: nnabla's API and tools, re-created.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__)
        module.add_arguments(sub)
        modules[name] = module
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        return int(modules[args.command].run(args) or 0)
    except (ValueError, FileNotFoundError, NotImplementedError) as e:  # bad input: a message, not a traceback
        print(f"nnl {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
