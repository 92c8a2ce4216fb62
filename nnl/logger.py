"""nnabla's ``nnabla.logger``: the package logger (``from nnl.logger import logger``)."""

from nnl import logger

__all__ = ["logger"]
