"""nnabla's ``nnabla.utils.nnp_graph``: ``NnpLoader`` and ``NnpNetwork`` (see ``nnl.nnp.loader``)."""

from nnl.nnp.graph import NnpNetwork
from nnl.nnp.loader import NnpLoader

__all__ = ["NnpLoader", "NnpNetwork"]
