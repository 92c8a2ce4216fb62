"""Create an image-classification dataset from a folder with one sub-folder per class (nnabla_cli's flags).

nnabla_cli's name for ``nnl dataset image-folder``.

Example: ``nnl create_image_classification_dataset -i photos -o data -c 3 -w 64 -g 64 -m trimming -s true
-f1 train.csv -r1 80 -f2 test.csv -r2 20``. As in nnabla_cli, images that cannot be read are left out with a warning.
"""

from __future__ import annotations

import argparse

from nnl.cli.dataset import add_image_folder_arguments, run_image_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_image_folder_arguments(parser, nnabla_style=True)


def run(args: argparse.Namespace) -> int:
    return run_image_folder(args)
