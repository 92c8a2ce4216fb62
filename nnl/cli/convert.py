"""Convert model files between .nnp, .nntxt, .protobuf and .onnx (formats from the file extensions).

Examples: ``nnl convert model.nnp model.onnx``, ``nnl convert model.onnx model.nnp``,
``nnl convert net.nntxt params.h5 model.nnp`` (several inputs are merged, as nnabla_cli does).
"""

from __future__ import annotations

import argparse
import os

NNP_FORMATS = (".nnp", ".nntxt", ".prototxt", ".protobuf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="input file(s) then the output file")
    parser.add_argument("-n", "--network", help="network to export to ONNX (default: the executor's, else the first)")
    parser.add_argument("-b", "--batch-size", type=int, help="fixed batch size for ONNX (default: dynamic)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _default_network(nnp) -> str | None:
    return nnp.proto.executor[0].network_name if nnp.proto.executor else None


def convert(inputs: list[str], output: str, network: str | None = None, batch_size: int | None = None,
            opset: int = 17) -> None:
    """Convert ``inputs`` (merged) into ``output``."""
    from nnl.nnp.container import read_nnp, write_nnp

    in_exts = [_extension(p) for p in inputs]
    out_ext = _extension(output)
    if in_exts == [".onnx"]:
        from nnl.onnx import import_model

        nnp = import_model(inputs[0])
    elif ".onnx" in in_exts:
        raise ValueError("convert: an .onnx input cannot be merged with other files.")
    else:
        nnp = read_nnp(inputs)
    if out_ext == ".onnx":
        from nnl.onnx import export

        export(nnp, output, network=network or _default_network(nnp), opset=opset, batch_size=batch_size)
    elif out_ext in NNP_FORMATS:
        write_nnp(output, nnp, include_params=True)
    else:
        raise ValueError(f"convert: cannot write {output!r}; output formats: {', '.join(NNP_FORMATS + ('.onnx',))}.")


def run(args: argparse.Namespace) -> int:
    if len(args.files) < 2:
        raise SystemExit("nnl convert: give at least one input file and the output file.")
    *inputs, output = args.files
    convert(inputs, output, args.network, args.batch_size, args.opset)
    print(f"wrote {output}")
    return 0
