"""nnabla's ``nnabla.logger``: the package logger (``from nnl.logger import logger``)."""

import logging

logger = logging.getLogger("nnl")

__all__ = ["logger"]
