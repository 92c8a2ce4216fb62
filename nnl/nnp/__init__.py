"""The NNP schema: ``nnabla.proto`` (our own, wire-compatible with nnabla 1.39) and its compiled module.

``nnl.nnp.nnabla_pb2`` (also importable as ``nnl.utils.nnabla_pb2``, nnabla's module name) holds the messages
``NNablaProtoBuf``, ``Network``, ``Function``, ``Parameter``, ``Optimizer``, ``Solver``, ``SolverState`` ... and one
``<Name>Parameter`` message per function with arguments and per solver. The serialized file descriptor is
byte-identical to nnabla 1.39's, so both modules can live in one process.

Regenerate with ``python tools/gen_proto.py`` (see that file); nothing here needs the generator at runtime.
"""

from pathlib import Path

PROTO_PATH = Path(__file__).with_name("nnabla.proto")

__all__ = ["PROTO_PATH"]
