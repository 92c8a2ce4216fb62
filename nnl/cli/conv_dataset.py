"""Convert a CSV dataset (or a cache folder) into a cache folder (nnabla_cli's ``conv_dataset``).

Example: ``nnl conv_dataset data/mnist_training.csv data/mnist_training.cache -N`` (``-N`` stores images as float32
in [0, 1]; ``-S`` shuffles the examples once; ``-F`` replaces an existing destination).
"""

from __future__ import annotations

import argparse
import os
import shutil


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="dataset CSV, or a cache folder (*.cache)")
    parser.add_argument("destination", help="cache folder to create")
    parser.add_argument("-F", "--force", action="store_true", help="replace the destination if it exists")
    parser.add_argument("-S", "--shuffle", action="store_true", help="shuffle the examples")
    parser.add_argument("-N", "--normalize", action="store_true", help="divide image values by 255 (float32)")
    parser.add_argument("-t", "--num_of_threads", type=int, default=None,
                        help="threads reading the files (default: [DATA_ITERATOR] setting, 10)")


def _prepare_destination(destination: str, force: bool) -> None:
    if os.path.isfile(destination):
        raise ValueError(f"destination {destination!r} is a file; remove it or choose a folder name.")
    if os.path.isdir(destination):
        if not force:
            raise ValueError(f"destination {destination!r} exists; use -F to overwrite it.")
        shutil.rmtree(destination)
    os.makedirs(destination)


def run(args: argparse.Namespace) -> int:
    from nnl.utils.create_cache import CreateCache

    if args.num_of_threads is not None and args.num_of_threads <= 0:
        raise ValueError(f"-t/--num_of_threads must be a positive integer, got {args.num_of_threads}.")
    source = args.source
    is_csv = source.lower().endswith(".csv")
    if not is_csv and not os.path.isdir(source):
        raise ValueError(f"source {source!r}: expected a .csv file or a cache folder.")
    if is_csv and "://" not in source and not os.path.isfile(source):
        raise FileNotFoundError(f"source {source!r} does not exist.")
    if os.path.abspath(source) == os.path.abspath(args.destination):
        raise ValueError("source and destination are the same.")
    _prepare_destination(args.destination, args.force)
    if is_csv and "://" not in source:
        creator = CreateCache(source, shuffle=args.shuffle, num_of_threads=args.num_of_threads)
        size = creator.size
        creator.create(args.destination, normalize=args.normalize)
    else:
        from nnl.utils.data_source import DataSource, DataSourceWithFileCache
        from nnl.utils.data_source_implements import CacheDataSource, CsvDataSource

        # As nnabla: the source's first order (shuffled with -S) is the order of the new cache.
        original: DataSource = (CsvDataSource if is_csv else CacheDataSource)(source, shuffle=args.shuffle,
                                                                               normalize=args.normalize)
        with DataSourceWithFileCache(original, cache_dir=args.destination, shuffle=args.shuffle) as cached:
            size = cached.size
    print(f"Number of Data: {size}")
    print(f"Shuffle:        {args.shuffle}")
    print(f"Normalize:      {args.normalize}")
    print(f"wrote {args.destination}")
    return 0
