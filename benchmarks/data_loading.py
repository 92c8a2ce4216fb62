"""Data-loading throughput of the NNC CSV pipeline (images/s), as `nnl train` reads its datasets.

    python benchmarks/data_loading.py [--images 4000] [--batch-size 64]

Writes the bundled MNIST subset as PNG files + CSV in a temporary folder, then times full passes of
``data_iterator_csv_dataset``: the first pass (PNG decoding), later passes from the memory cache, and passes over a
file cache (``cache_dir``), each with and without the background prefetch thread.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from nnl.data import load_mnist5k
from nnl.data.csv_datasets import write_image_classification_csv
from nnl.utils.data_iterator import data_iterator_csv_dataset


def images_per_second(iterator, batches: int) -> float:
    start = time.perf_counter()
    for _ in range(batches):
        iterator.next()
    return batches * iterator.batch_size / (time.perf_counter() - start)


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    (x, y), _ = load_mnist5k()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        csv = write_image_classification_csv(folder, "train.csv", "training", x[: args.images], y[: args.images])
        batches = args.images // args.batch_size
        for thread in (False, True):
            label = "prefetch" if thread else "no prefetch"
            it = data_iterator_csv_dataset(csv, args.batch_size, shuffle=True, rng=np.random.RandomState(0),
                                           use_thread=thread, with_file_cache=False)
            results[f"first pass, PNG decoding ({label})"] = images_per_second(it, batches)
            results[f"memory cache ({label})"] = images_per_second(it, batches)
            it.close()
            cache = tempfile.mkdtemp(dir=folder)
            it = data_iterator_csv_dataset(csv, args.batch_size, shuffle=True, rng=np.random.RandomState(0),
                                           use_thread=thread, with_memory_cache=False, with_file_cache=True,
                                           cache_dir=cache)
            results[f"file cache build ({label})"] = images_per_second(it, batches)
            results[f"file cache ({label})"] = images_per_second(it, batches)
            it.close()
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:>10,.0f} images/s")
    return results


if __name__ == "__main__":
    main()
