"""nnabla's ``nnabla.utils.load``: ``load(filenames, ...)`` returning an ``Info`` (see ``nnl.nnp.load``)."""

from nnl.nnp.load import Info, load

__all__ = ["Info", "load"]
