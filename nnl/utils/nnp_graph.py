"""nnabla's ``nnabla.utils.nnp_graph``: ``NnpLoader`` and ``NnpNetwork`` (see ``nnl.nnp.loader``)."""

from nnl.nnp.graph import NnpNetwork
from nnl.nnp.loader import NnpLoader
from nnl.nnp.network_pass import NnpNetworkPass

__all__ = ["NnpLoader", "NnpNetwork", "NnpNetworkPass"]
