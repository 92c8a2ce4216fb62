"""``NnpLoader``: nnabla's ``nnabla.utils.nnp_graph.NnpLoader`` — networks of an NNP file as nnl graphs.

>>> import nnl as nn, nnl.functions as F, nnl.parametric_functions as PF, tempfile, os
>>> from nnl.utils.save import save
>>> x = nn.Variable((2, 3)); y = F.relu(PF.affine(x, 4, name="fc"))
>>> path = os.path.join(tempfile.mkdtemp(), "m.nnp")
>>> save(path, {"networks": [{"name": "net", "batch_size": 2, "outputs": {"y": y}, "names": {"x": x}}]})
>>> net = NnpLoader(path).get_network("net", batch_size=5)
>>> net.inputs["x"].shape, net.outputs["y"].shape
((5, 3), (5, 4))
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from nnl.nnp.container import NnpFile, read_nnp
from nnl.nnp.graph import NnpNetwork, build_network
from nnl.nnp.network_pass import NnpNetworkPass
from nnl.parameter import parameter_scope
from nnl.parameter_io import _describe, _Entry, _publish

__all__ = ["NnpLoader", "NnpNetwork", "NnpNetworkPass", "publish_parameters"]


def publish_parameters(nnp: NnpFile, where: str, scope: OrderedDict[str, Any] | None = None) -> None:
    """Put the file's parameters into ``scope`` (default: the current one); all shapes are checked first."""
    entries = [_Entry(name, array, nnp.need_grad.get(name, True)) for name, array in nnp.parameters.items()]
    if scope is None:
        _publish(entries, where)
    else:
        with parameter_scope("", scope):
            _publish(entries, where)


class NnpLoader:
    """Read an ``.nnp`` / ``.nntxt`` file (or file object of format ``extension``); its parameters go into the
    current parameter scope (or ``scope``) at once, as nnabla does."""

    def __init__(self, filepath: Any, scope: OrderedDict[str, Any] | None = None, extension: str = ".nntxt") -> None:
        self.where = _describe(filepath)
        self.nnp = read_nnp(filepath, extension=extension)
        self.scope = scope
        publish_parameters(self.nnp, self.where, scope)

    def get_network_names(self) -> list[str]:
        return [n.name for n in self.nnp.proto.network]

    def get_network(self, name: str, batch_size: int | None = None, callback: Any = None) -> NnpNetwork:
        """The network ``name`` built with ``batch_size`` (default: the file's), parameters from the scope.

        ``callback``: an ``nnl.utils.nnp_graph.NnpNetworkPass`` editing the network as it is built.
        """
        if self.scope is None:
            return build_network(self.nnp, name, batch_size, parameter_scope=True, where=self.where, callback=callback)
        with parameter_scope("", self.scope):
            return build_network(self.nnp, name, batch_size, parameter_scope=True, where=self.where, callback=callback)
