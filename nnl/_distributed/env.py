"""Where this process sits in a distributed job, read from the environment (no torch needed).

torchrun (and :func:`nnl.communicators.launch`) set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. ``mpirun`` (Open MPI) sets ``OMPI_COMM_WORLD_*`` and
MPICH/Intel MPI set ``PMI_RANK``/``PMI_SIZE``: those are honoured too, so ``mpirun -n N python train.py`` (the
way nnabla scripts are launched) works on one node with ``MASTER_ADDR``/``MASTER_PORT`` defaulting to
127.0.0.1:29500. A plain ``python script.py`` is a world of one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MASTER_ADDR = "127.0.0.1"
DEFAULT_MASTER_PORT = "29500"

# (rank, world size, local rank, local world size) variables of each launcher, most specific first.
_LAUNCHERS = (
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),
    (
        "Open MPI",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
    ),
    ("MPICH", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("Slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),
)


@dataclass(frozen=True)
class ProcessEnv:
    """The position of this process: ``launcher`` is None for a plain single process."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    master_addr: str = DEFAULT_MASTER_ADDR
    master_port: str = DEFAULT_MASTER_PORT
    launcher: str | None = None

    @property
    def distributed(self) -> bool:
        return self.size > 1


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"nnl.communicators: environment variable {name}={value!r} is not an integer.") from None


def read_env(environ: dict[str, str] | None = None) -> ProcessEnv:
    """The :class:`ProcessEnv` described by ``environ`` (default ``os.environ``).

    >>> read_env({})
    ProcessEnv(rank=0, size=1, local_rank=0, local_size=1, master_addr='127.0.0.1', master_port='29500', launcher=None)
    >>> read_env({'RANK': '1', 'WORLD_SIZE': '2', 'LOCAL_RANK': '1', 'MASTER_PORT': '1234'}).local_rank
    1
    """
    env = os.environ if environ is None else environ
    for launcher, rank_key, size_key, local_key, local_size_key in _LAUNCHERS:
        if size_key not in env or rank_key not in env:
            continue
        rank = _int(rank_key, env[rank_key])
        size = _int(size_key, env[size_key])
        if size < 1 or not 0 <= rank < size:
            raise ValueError(
                f"nnl.communicators: {rank_key}={rank} and {size_key}={size} do not describe a process of the job "
                f"(expected 0 <= rank < size)."
            )
        local_rank = _int(local_key, env[local_key]) if local_key in env else rank
        local_size = _int(local_size_key, env[local_size_key]) if local_size_key in env else size
        return ProcessEnv(
            rank=rank,
            size=size,
            local_rank=local_rank,
            local_size=local_size,
            master_addr=env.get("MASTER_ADDR", DEFAULT_MASTER_ADDR),
            master_port=env.get("MASTER_PORT", DEFAULT_MASTER_PORT),
            launcher=launcher,
        )
    return ProcessEnv()


def export_for_torch(penv: ProcessEnv) -> None:
    """Make sure torch.distributed's ``env://`` rendezvous finds the variables (mpirun does not set them)."""
    os.environ.setdefault("MASTER_ADDR", penv.master_addr)
    os.environ.setdefault("MASTER_PORT", penv.master_port)
    os.environ.setdefault("RANK", str(penv.rank))
    os.environ.setdefault("WORLD_SIZE", str(penv.size))
    os.environ.setdefault("LOCAL_RANK", str(penv.local_rank))
