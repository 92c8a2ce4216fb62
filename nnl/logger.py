"""nnabla's ``nnabla.logger``: the package logger (``from nnl.logger import logger``).

As in nnabla, it prints INFO and above to the console (``2026-01-01 12:00:00,000 [nnl][INFO]: ...``); set the
environment variable ``NNL_LOG_LEVEL`` (``DEBUG``, ``WARNING``...) to change the level.
"""

import logging
import os

logger = logging.getLogger("nnl")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s [nnl][%(levelname)s]: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(os.environ.get("NNL_LOG_LEVEL", "INFO").upper())
    logger.propagate = False

__all__ = ["logger"]
