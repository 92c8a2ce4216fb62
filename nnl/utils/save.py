"""nnabla's ``nnabla.utils.save``: ``save(filename, contents, ...)`` (see ``nnl.nnp.save``)."""

from nnl.nnp.save import create_proto, save

__all__ = ["create_proto", "save"]
