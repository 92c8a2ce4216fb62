"""Create datasets in Neural Network Console's CSV format: image files plus CSVs naming them.

  nnl dataset mnist -o DIR            the bundled MNIST subset (4,000 + 1,000 digits, no network needed)
  nnl dataset mnist -o DIR --full     the full MNIST (60,000 + 10,000), downloaded once and verified
  nnl dataset cifar10 -o DIR          CIFAR-10 (50,000 + 10,000 32x32 RGB images), downloaded once and verified
  nnl dataset image-folder SRC -o DIR -c 3 -w 64 -g 64 -m trimming -s true -f1 train.csv -r1 80 -f2 test.csv -r2 20
                                      one class per sub-folder of SRC (nnabla_cli create_image_classification_dataset)

Downloads are cached in $NNL_DATA_HOME (default ~/.cache/nnl/datasets).
"""

from __future__ import annotations

import argparse
import sys


def parse_bool(text: str) -> bool:
    """``true``/``false`` (nnabla's spelling) and the usual synonyms."""
    value = str(text).strip().lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_image_folder_arguments(parser: argparse.ArgumentParser, nnabla_style: bool) -> None:
    """The options of ``create_image_classification_dataset`` (nnabla's flags; ``nnabla_style`` makes the source a
    required ``-i`` option and the shaping options required, as in nnabla_cli)."""
    if nnabla_style:
        parser.add_argument("-i", "--sourcedir", required=True, help="source folder, one sub-folder per class")
    else:
        parser.add_argument("sourcedir", help="source folder, one sub-folder per class")
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.add_argument("-c", "--channel", type=int, required=nnabla_style, default=3, choices=(1, 3),
                        help="output color channels (default 3)")
    parser.add_argument("-w", "--width", type=int, required=nnabla_style, default=None,
                        help="output width (default: the first image's)")
    parser.add_argument("-g", "--height", type=int, required=nnabla_style, default=None,
                        help="output height (default: the first image's)")
    parser.add_argument("-m", "--mode", required=nnabla_style, default="trimming", choices=("trimming", "padding"),
                        help="how the aspect ratio is fitted (default trimming)")
    parser.add_argument("-s", "--shuffle", type=parse_bool, nargs="?", const=True, default=False,
                        required=nnabla_style, help="shuffle before splitting (true or false; default false)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the shuffle")
    parser.add_argument("-f1", "--file1", required=nnabla_style, default="train.csv",
                        help="first CSV (default train.csv)")
    parser.add_argument("-r1", "--ratio1", type=int, help="percent of the images in the first CSV")
    parser.add_argument("-f2", "--file2", help="second CSV")
    parser.add_argument("-r2", "--ratio2", type=int, help="percent of the images in the second CSV")
    if not nnabla_style:  # nnabla_cli always leaves them out with a warning
        parser.add_argument("--skip-unreadable", action="store_true",
                            help="leave unreadable images out with a warning instead of stopping")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    kinds = parser.add_subparsers(dest="kind", metavar="DATASET", required=True)
    mnist = kinds.add_parser("mnist", help="MNIST as PNG files + mnist_training.csv / mnist_test.csv")
    mnist.add_argument("-o", "--outdir", required=True, help="output folder")
    mnist.add_argument("--full", action="store_true",
                       help="download the full MNIST (60,000 + 10,000) instead of the bundled 5,000 digits")
    cifar = kinds.add_parser("cifar10", help="CIFAR-10 as PNG files + cifar10_training.csv / cifar10_test.csv")
    cifar.add_argument("-o", "--outdir", required=True, help="output folder")
    folder = kinds.add_parser("image-folder", help="a dataset from a folder with one sub-folder of images per class")
    add_image_folder_arguments(folder, nnabla_style=False)


def _rows(csv_path: str) -> int:
    with open(csv_path, encoding="utf-8") as f:
        return sum(1 for _ in f) - 1


def _first_image_size(source_dir: str) -> tuple[int, int]:
    from PIL import Image

    from nnl.data.image_folder import find_images

    _, entries = find_images(source_dir)
    path = f"{source_dir}/{entries[0].source}"
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as e:
        raise ValueError(f"cannot read {path!r} to take the output size from it ({e}); give -w and -g.") from e


def run_image_folder(args: argparse.Namespace) -> int:
    from nnl.data.image_folder import create_image_classification_dataset

    width, height = args.width, args.height
    if width is None or height is None:
        first_w, first_h = _first_image_size(args.sourcedir)
        width, height = width or first_w, height or first_h
    if args.file2 is not None and not args.shuffle and (args.ratio2 or (args.ratio1 or 100) < 100):
        print("note: without -s true the second file takes the last images in class order (whole classes); "
              "add -s true to mix them.", file=sys.stderr)
    written = create_image_classification_dataset(
        args.sourcedir, args.outdir, args.channel, width, height, args.mode, args.shuffle, args.seed,
        args.file1, args.ratio1, args.file2, args.ratio2, skip_unreadable=getattr(args, "skip_unreadable", True))
    for path in written:
        print(f"wrote {path} ({_rows(path)} images, {width}x{height}, {args.channel} channel(s))")
    return 0


def run(args: argparse.Namespace) -> int:
    from nnl.data.downloads import DownloadError

    try:
        if args.kind == "mnist" and args.full:
            from nnl.data.mnist_full import write_mnist_full

            training, test = write_mnist_full(args.outdir)
        elif args.kind == "mnist":
            from nnl.data.csv_datasets import write_mnist

            training, test = write_mnist(args.outdir)
        elif args.kind == "cifar10":
            from nnl.data.cifar10 import write_cifar10

            training, test = write_cifar10(args.outdir)
        else:
            return run_image_folder(args)
        print(f"wrote {training} ({_rows(training)} images) and {test} ({_rows(test)} images)")
    except DownloadError as e:
        print(f"nnl dataset {args.kind}: error: {e}", file=sys.stderr)
        return 2
    return 0
