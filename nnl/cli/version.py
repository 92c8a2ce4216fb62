"""Print nnl's version."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    import nnl

    print(f"nnl {nnl.__version__}")
    return 0
