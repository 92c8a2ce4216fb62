"""The process-wide communicator of training scripts and the CLI (nnabla's ``nnabla.utils.communicator_util``).

``create_communicator()`` joins the job when the process was started by torchrun, ``nnl.communicators.launch``
or mpirun (more than one process), and leaves ``current_communicator()`` None otherwise;
``single_or_rankzero()`` tells whether this process should write monitors, logs and files.

>>> create_communicator() is None      # a plain single process
True
>>> single_or_rankzero()
True
"""

from __future__ import annotations

from typing import Any

from nnl.logger import logger

_current_communicator: Any = None


def current_communicator() -> Any:
    """The communicator :func:`create_communicator` made, or None in a single process."""
    return _current_communicator


def create_communicator(ignore_error: bool = False, extension_module: str = "cudnn", type_config: str = "float") -> Any:
    """Create and initialise the job's communicator when this process is one of several; else None.

    The context comes from ``extension_module`` (nnabla's default ``'cudnn'``; when that extension is not
    available in nnl, the CPU context with the same ``type_config`` is used, so collectives run on gloo). Its
    ``device_id`` is set to the process's local rank. With ``ignore_error`` a failure logs a warning and
    returns None instead of raising.
    """
    global _current_communicator
    from nnl._distributed.env import read_env

    penv = read_env()
    if not penv.distributed:
        _current_communicator = None
        return None
    import nnl.communicators as C
    from nnl.ext_utils import get_extension_context

    try:
        try:
            context = get_extension_context(extension_module, type_config=type_config)
        except (ValueError, ImportError):
            context = get_extension_context("cpu", type_config=type_config)
        logger.log(99, f"Create communicator with contexts {context}")
        comm = C.MultiProcessCommunicator(context)
        comm.init()
        context.device_id = str(comm.local_rank)
        _current_communicator = comm if comm.size > 1 else None
    except Exception:
        if not ignore_error:
            raise
        logger.warning("Failed to initialize nnl.communicators.")
        _current_communicator = None
    return _current_communicator


def single_or_rankzero() -> bool:
    """True in a single process or on rank 0 (the process that writes monitors and saves files)."""
    return not _current_communicator or _current_communicator.rank == 0
