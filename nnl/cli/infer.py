"""Run a model on input files and write its outputs (nnabla_cli's ``infer``).

Each input file feeds one input variable of the executor, in order: raw binary (read with ``-t``'s type, as
nnabla_cli does; with the default float32 a file whose name contains ``int32`` or ``uint8`` is read as that type),
``.npy`` arrays, or images (``.png .jpg .jpeg .bmp .gif .tif .tiff``: resized to the input's shape and divided by 255
unless the executor sets ``no_image_normalization``). A model with one input also takes several files, stacked into
one batch. Outputs are written as ``<OUTPUT_PREFIX>_<i>.bin`` (float32, in the executor's output order) and, with
``--print`` or without ``-o``, printed (the top-5 classes for a vector output).

Examples: ``nnl infer -c results.nnp -o out x.bin`` (nnabla_cli-compatible),
``nnl infer -c results.nnp --print digit1.png digit2.png``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
DATA_TYPES = {"uint8": np.uint8, "int32": np.int32, "float32": np.float32}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="model (.nnp, or .nntxt)")
    parser.add_argument("-p", "--param", help="parameter file (.h5 / .protobuf) when the model has none")
    parser.add_argument("-o", "--output", help="output file prefix: writes <prefix>_0.bin, <prefix>_1.bin, ...")
    parser.add_argument("-t", "--data_type", default="float32", choices=tuple(DATA_TYPES),
                        help="type of the values in raw binary inputs (default float32)")
    parser.add_argument("-b", "--batch_size", type=int, default=None,
                        help="samples per raw binary input (default: from the file size; -1: the network's)")
    parser.add_argument("-e", "--executor", help="executor to run (default: the first)")
    parser.add_argument("--print", dest="print_outputs", action="store_true", help="print the outputs")
    parser.add_argument("inputs", nargs="+", help="input files: raw binary, .npy or images")


def _executor_proto(model: Any, name: str | None) -> Any:
    executors = list(model.nnp.proto.executor)
    if name is None:
        return executors[0] if executors else None
    return next(e for e in executors if e.name == name)  # Model() already checked the name


def _network_batch_size(model: Any) -> int:
    return int(model.nnp.network(model.network_name).batch_size) or 1


def read_raw(path: str, data_type: str, sample_shape: tuple[int, ...], batch_size: int | None, name: str
             ) -> np.ndarray:
    """A raw binary file as ``(N, *sample_shape)`` (nnabla_cli's reading rule for the type)."""
    dtype = DATA_TYPES[data_type]
    if data_type == "float32":
        base = os.path.basename(path)
        dtype = np.int32 if "int32" in base else np.uint8 if "uint8" in base else np.float32
    values = np.fromfile(path, dtype)
    per_sample = int(np.prod(sample_shape))
    shape_text = f"(N, {', '.join(map(str, sample_shape))})" if sample_shape else "(N,)"
    if batch_size is not None:
        expected = batch_size * per_sample
        if values.size != expected:
            raise ValueError(f"{path}: {values.size} {np.dtype(dtype).name} values, but input {name!r} of shape "
                             f"{(batch_size, *sample_shape)} needs {expected} (batch {batch_size} x {per_sample}).")
        return values.reshape(batch_size, *sample_shape)
    if values.size == 0 or values.size % per_sample:
        raise ValueError(f"{path}: {values.size} {np.dtype(dtype).name} values ({os.path.getsize(path)} bytes), but "
                         f"input {name!r} of shape {shape_text} needs a multiple of {per_sample} values "
                         f"({per_sample} per sample); check -t/--data_type.")
    return values.reshape(-1, *sample_shape)


def read_image(path: str, sample_shape: tuple[int, ...], normalize: bool, name: str) -> np.ndarray:
    """An image file as ``(1, *sample_shape)`` float32, resized (and its channels converted) to fit."""
    from nnl.utils.image_utils import imread

    if len(sample_shape) == 3 and sample_shape[0] in (1, 3, 4):
        channels, height, width = sample_shape
    elif len(sample_shape) == 2:
        channels, (height, width) = 0, sample_shape
    else:
        raise ValueError(f"{path}: input {name!r} has shape {sample_shape} per sample; an image fits (C, H, W) with "
                         "C in 1, 3, 4, or (H, W).")
    try:
        image = imread(path, grayscale=channels in (0, 1), size=(width, height), channel_first=True,
                       num_channels=channels if channels in (3, 4) else -1)
    except Exception as e:  # Pillow raises many kinds for a broken file
        raise ValueError(f"{path}: cannot read the image ({type(e).__name__}: {e}).") from e
    maximum = 65535.0 if image.dtype == np.uint16 else 255.0
    array = image.astype(np.float32) / maximum if normalize else image.astype(np.float32)
    return array.reshape(1, *sample_shape)


def read_npy(path: str, sample_shape: tuple[int, ...], name: str) -> np.ndarray:
    """A ``.npy`` array as ``(N, *sample_shape)``: one sample, a batch, or any array with a multiple of the
    sample's size."""
    array = np.load(path, allow_pickle=False)
    if tuple(array.shape) == tuple(sample_shape):
        return array[None]
    per_sample = int(np.prod(sample_shape))
    if tuple(array.shape[1:]) == tuple(sample_shape) or (array.size and array.size % per_sample == 0):
        return array.reshape(-1, *sample_shape)
    raise ValueError(f"{path}: array of shape {array.shape} does not fit input {name!r} of shape (N, "
                     f"{', '.join(map(str, sample_shape))}) ({per_sample} values per sample).")


def read_input(path: str, args: argparse.Namespace, sample_shape: tuple[int, ...], batch_size: int | None,
               normalize: bool, name: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"input file {path!r} does not exist.")
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return read_image(path, sample_shape, normalize, name)
    if ext == ".npy":
        return read_npy(path, sample_shape, name)
    return read_raw(path, args.data_type, sample_shape, batch_size, name)


def gather_inputs(model: Any, args: argparse.Namespace, normalize: bool) -> dict[str, np.ndarray]:
    """The arrays fed to the model's inputs, by name."""
    names = list(model.input_names)
    paths: Sequence[str] = args.inputs
    batch_size = args.batch_size
    if batch_size is not None and batch_size < 1:
        batch_size = _network_batch_size(model)
    if len(paths) != len(names) and len(names) != 1:
        raise ValueError(f"{len(paths)} input files for the model's {len(names)} inputs {names}; give one file per "
                         "input, in this order.")
    groups = [list(paths)] if len(names) == 1 else [[p] for p in paths]
    arrays = {}
    for name, files in zip(names, groups):
        sample_shape = tuple(int(d) for d in model.input_shapes[name][1:])
        parts = [read_input(p, args, sample_shape, batch_size, normalize, name) for p in files]
        arrays[name] = np.concatenate(parts).astype(np.float32, copy=False)
    sizes = {name: len(a) for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the inputs hold different numbers of samples: {sizes}.")
    return arrays


def describe(name: str, output: np.ndarray, top: int = 5) -> str:
    """Text for one output: the top classes per sample for a vector output, else the values."""
    lines = [f"{name}: shape {tuple(output.shape)}"]
    if output.ndim == 2 and output.shape[1] > 1:
        k = min(top, output.shape[1])
        for i, row in enumerate(output):
            best = np.argsort(-row, kind="stable")[:k]
            lines.append(f"  [{i}] " + ", ".join(f"{int(c)}: {float(row[c]):.4f}" for c in best))
    else:
        lines.append("  " + np.array2string(output, precision=4, threshold=200).replace("\n", "\n  "))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from nnl.inference import Model
    from nnl.nnp.container import read_nnp

    for path in [args.config] + ([args.param] if args.param else []):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file {path!r} does not exist.")
    nnp = read_nnp([args.config, args.param] if args.param else args.config)
    model = Model(nnp, executor=args.executor)
    executor = _executor_proto(model, args.executor)
    normalize = not (executor is not None and executor.no_image_normalization)
    outputs = model(gather_inputs(model, args, normalize))
    if args.output:
        directory = os.path.dirname(args.output)
        if directory:
            os.makedirs(directory, exist_ok=True)
        for i, (name, value) in enumerate(outputs.items()):
            path = f"{args.output}_{i}.bin"
            np.asarray(value, np.float32).tofile(path)
            print(f"wrote {path} ({name}, shape {tuple(value.shape)}, float32)")
    if args.print_outputs or not args.output:
        for name, value in outputs.items():
            print(describe(name, value))
    return 0
