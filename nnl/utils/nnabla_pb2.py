"""nnabla's ``nnabla.utils.nnabla_pb2``: the NNP protobuf messages (re-exported from ``nnl.nnp.nnabla_pb2``)."""

from nnl.nnp import nnabla_pb2 as _pb2

globals().update({_k: _v for _k, _v in vars(_pb2).items() if not _k.startswith("__")})
