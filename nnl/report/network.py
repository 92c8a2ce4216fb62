"""Per-function statistics of a network in an NNP file: output shape, parameter count and multiply-adds.

Shapes come from building the network with nnl at the file's batch size; NNC's statistics are per sample, so a
leading dimension equal to the batch size (``-1`` in the file, or nnabla's literal batch dimension) is left out of the
shapes shown and of the element counts. Parameter counts are the element counts of the ``Parameter``
variables a function reads; a parameter shared by several functions is counted once in the total.

Multiply-adds (one multiplication fused with one addition) are counted where a weight is contracted with the input,
per sample (``B`` = batch, ``O`` = output elements per sample):

- Affine (and its BinaryConnect / BinaryWeight forms): every output element sums over the ``W.shape[0]`` input
  features, so ``MACs = O * W.shape[0]``.
- Convolution, DepthwiseConvolution (and binary forms): every output element sums over its group's input channels
  times the kernel taps, which is the product of ``W.shape[1:]`` (``(C_in / group, *kernel)``, or the kernel alone for
  depthwise), so ``MACs = O * prod(W.shape[1:])``.
- Deconvolution, DepthwiseDeconvolution: every *input* element is scattered to ``prod(W.shape[1:])`` outputs
  (``(C_out / group, *kernel)``), so ``MACs = I * prod(W.shape[1:])`` with ``I`` the input elements per sample.
- BatchMatmul: every output element is a dot product over the contracted dimension ``K`` of ``a``
  (``a.shape[-1]``, or ``a.shape[-2]`` with ``transpose_a``), so ``MACs = O * K``.

Every other function counts 0 multiply-adds (their cost is elementwise and not reported here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nnl.nnp.container import NnpFile

__all__ = ["LayerStatistics", "NetworkStatistics", "network_statistics"]

_AFFINE = frozenset({"Affine", "BinaryConnectAffine", "BinaryWeightAffine"})
_CONVOLUTION = frozenset({"Convolution", "DepthwiseConvolution", "BinaryConnectConvolution",
                          "BinaryWeightConvolution"})
_DECONVOLUTION = frozenset({"Deconvolution", "DepthwiseDeconvolution"})


@dataclass
class LayerStatistics:
    """One function: its name and type, the variables it reads and writes, and its per-sample costs."""

    name: str
    type: str
    inputs: list[str]
    outputs: list[str]
    output_shape: tuple[int, ...]
    parameters: int
    macs: int


@dataclass
class NetworkStatistics:
    """The functions of one network in execution order, its data inputs, and the totals."""

    name: str
    inputs: dict[str, tuple[int, ...]]
    layers: list[LayerStatistics] = field(default_factory=list)
    total_parameters: int = 0
    total_macs: int = 0


def _size(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))


def _macs(type_name: str, weight: tuple[int, ...] | None, in_shapes: list[tuple[int, ...]], out_size: int,
          in_size: int, transpose_a: bool) -> int:
    if type_name in _AFFINE and weight is not None:
        return out_size * weight[0]
    if type_name in _CONVOLUTION and weight is not None:
        return out_size * _size(weight[1:])
    if type_name in _DECONVOLUTION and weight is not None:
        return in_size * _size(weight[1:])
    if type_name == "BatchMatmul" and in_shapes and len(in_shapes[0]) >= 2:
        return out_size * in_shapes[0][-2 if transpose_a else -1]
    return 0


def network_statistics(nnp: NnpFile, network_name: str) -> NetworkStatistics:
    """Build ``network_name`` of ``nnp`` and return its per-function, per-sample statistics."""
    from nnl.nnp.arguments import arguments_from_proto
    from nnl.nnp.graph import build_network, network_inputs
    from nnl.nnp.loops import expand_loops

    proto = expand_loops(nnp.network(network_name))
    batch = int(proto.batch_size or 1)
    built = build_network(nnp, network_name, batch_size=batch, parameter_scope=False, where="report")

    def shown(name: str) -> tuple[int, ...]:
        shape = tuple(int(d) for d in built.variables[name].shape)
        return shape[1:] if shape and shape[0] == batch else shape

    def per_sample(name: str) -> int:
        return _size(shown(name))

    stats = NetworkStatistics(proto.name, {name: shown(name) for name in network_inputs(proto)})
    parameters = set(built.parameters)
    counted: set[str] = set()
    for function in proto.function:
        params = [i for i in function.input if i in parameters]
        data = [i for i in function.input if i not in parameters]
        weight = tuple(int(d) for d in built.variables[params[0]].shape) if params else None
        transpose_a = bool(arguments_from_proto(function).get("transpose_a", False)) \
            if function.type == "BatchMatmul" else False
        out_size = sum(per_sample(o) for o in function.output)
        in_size = per_sample(data[0]) if data else 0
        layer = LayerStatistics(
            name=function.name,
            type=function.type,
            inputs=list(function.input),
            outputs=list(function.output),
            output_shape=shown(function.output[0]) if function.output else (),
            parameters=sum(_size(tuple(built.variables[p].shape)) for p in params),
            macs=_macs(function.type, weight, [shown(d) for d in data], out_size, in_size, transpose_a),
        )
        stats.layers.append(layer)
        stats.total_parameters += sum(_size(tuple(built.variables[p].shape)) for p in params if p not in counted)
        counted.update(params)
        stats.total_macs += layer.macs
    return stats
