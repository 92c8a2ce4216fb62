"""Communicators for data-parallel training (nnabla's ``nnabla.communicators``), on torch.distributed.

One process per device, started by torchrun, ``mpirun`` or :func:`launch`; the collectives run on
torch.distributed with gloo for CPU contexts and NCCL for CUDA contexts. A plain ``python script.py`` is a world
of one process: every collective is the identity and torch is not even imported, so the same script runs
alone or distributed.

The canonical loop (nnabla's, unchanged)::

    import nnl as nn
    import nnl.communicators as C
    from nnl.ext_utils import get_extension_context

    ctx = get_extension_context("cpu")
    comm = C.MultiProcessDataParallelCommunicator(ctx)
    comm.init()
    # ... build the network; each rank reads its slice of the data:
    #     data = data_iterator(...).slice(rng, comm.size, comm.rank)
    comm.bcast([p.data for p in nn.get_parameters().values()], src=0)   # same start everywhere
    for i in range(n_iter):
        loss.forward(clear_no_need_grad=True)
        solver.zero_grad()
        loss.backward(clear_buffer=True)
        comm.all_reduce([p.grad for p in nn.get_parameters().values()], division=True)
        solver.update()

Launch with ``torchrun --nproc_per_node N train.py`` (several nodes: torchrun's ``--nnodes``/``--rdzv_*``), with
``mpirun -n N python train.py`` on one node, with ``python -m nnl.communicators --nproc N train.py [args]``, or
from Python with ``nnl.communicators.launch(N, "train.py", args)``.

Semantics follow nnabla: ``division=True`` divides the sum by the number of processes of the group;
``inplace=False`` packs the arrays into one buffer per dtype and runs one collective (fast), ``inplace=True``
runs one collective per array with no extra memory; the results land in the given arrays either way. Ranks passed
as ``src``/``dst`` are world ranks. Groups (``new_group``) must be created by every process, members or not
(torch.distributed's rule). Before each collective the processes compare the number, sizes and dtypes of their
arrays and raise :class:`CommunicatorError` on a mismatch (gloo would otherwise compute garbage); set
``comm.check_consistency = False`` or ``NNL_DIST_CHECK=0`` to skip that extra small message. ``NNL_DIST_BACKEND``
(``gloo``/``nccl``) forces the backend and ``NNL_DIST_TIMEOUT`` (seconds) sets the collective timeout.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from nnl._distributed.backend import (
    WORLD,
    CommunicatorError,
    LocalBackend,
    TorchBackend,
    choose_backend,
    signature,
    timeout_from_env,
)
from nnl._distributed.callback import AllReduceCallback
from nnl._distributed.env import ProcessEnv, read_env
from nnl._distributed.launch import (
    LaunchError,
    WorkerResult,
    free_port,
    install_error_report,
    launch,
    write_error_report,
)
from nnl.core.context import Context
from nnl.core.ndarray import NdArray

__all__ = [
    "Communicator",
    "MultiProcessDataParallelCommunicator",
    "MultiProcessDataParalellCommunicator",
    "MultiProcessCommunicator",
    "Comm",
    "Dist",
    "DataParallelCommunicator",
    "DataParalellCommunicator",
    "AllReduceCallback",
    "CommunicatorBackwardCallback",
    "CommunicatorError",
    "LaunchError",
    "WorkerResult",
    "launch",
    "free_port",
    "current_communicator",
    "single_or_rankzero",
]

_Writeback = Callable[[], None]


# -- NdArray <-> NumPy ----------------------------------------------------------------------------------------
def _as_list(data: Any, what: str, arg: str = "data") -> list[Any]:
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    for x in items:
        if isinstance(x, (NdArray, np.ndarray)):
            continue
        if hasattr(x, "grad") and hasattr(x, "data") and hasattr(x, "need_grad"):
            raise TypeError(
                f"{what}: argument {arg}: expected NdArrays, got a Variable; pass its buffer, "
                f"e.g. [v.grad for v in params.values()] or [v.data ...]."
            )
        raise TypeError(f"{what}: argument {arg}: expected an NdArray or a list of NdArrays, got {type(x).__name__}.")
    return items


def _host(x: Any, writebacks: list[_Writeback]) -> np.ndarray:
    """The NumPy array a collective may write into; a contiguous temporary (written back later) if need be."""
    array = x.data if isinstance(x, NdArray) else x
    if array.flags.c_contiguous and array.flags.writeable:
        return array
    temporary = np.ascontiguousarray(array).copy()

    def write_back() -> None:
        target = x.data if isinstance(x, NdArray) else x
        target[...] = temporary

    writebacks.append(write_back)
    return temporary


def _describe(shapes: list[tuple[tuple[int, ...], str]], limit: int = 6) -> str:
    text = ", ".join(f"{tuple(s)} {d}" for s, d in shapes[:limit])
    if len(shapes) > limit:
        text += f", ... ({len(shapes)} arrays)"
    return f"[{text}]"


# -- communicators --------------------------------------------------------------------------------------------
class Communicator:
    """The interface of nnabla's ``Communicator``: properties, groups and collectives on NdArrays."""

    _class_name = "Communicator"

    def __init__(self, ctx: Context | None = None) -> None:
        self.ctx = ctx if ctx is not None else Context()
        self._backend: Any = None
        self._initialized = False
        self._contexts: list[Context] = []
        self._params: list[dict[str, Any]] = []
        self.check_consistency = os.environ.get("NNL_DIST_CHECK", "1") != "0"

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The communicator's name (class name, with the collective backend: ``...Gloo``/``...Nccl``)."""
        backend = getattr(self._backend, "name", "single")
        return self._class_name + {"gloo": "Gloo", "nccl": "Nccl"}.get(backend, "")

    @property
    def size(self) -> int:
        """Number of processes (world size)."""
        raise NotImplementedError

    @property
    def rank(self) -> int:
        """Rank of this process in the world."""
        raise NotImplementedError

    @property
    def local_rank(self) -> int:
        """Rank of this process on its node: use it as the device id."""
        raise NotImplementedError

    @property
    def backend(self) -> str:
        """The collective backend in use: ``'single'`` (one process), ``'gloo'`` or ``'nccl'``."""
        return getattr(self._backend, "name", "single")

    # -- parameters (nnabla's DataParallel style) -----------------------------------------------------------
    def add_context_and_parameters(self, ctx_param_dict: Any) -> None:
        """Register ``(ctx, {name: Variable})`` whose gradients :meth:`allreduce` reduces."""
        if type(ctx_param_dict) is not tuple or len(ctx_param_dict) != 2:
            raise TypeError(
                f"{self._class_name}.add_context_and_parameters: ctx_param_dict must be a tuple of two elements "
                f"(ctx, params_dict), got {type(ctx_param_dict).__name__}."
            )
        ctx, params = ctx_param_dict
        if not hasattr(params, "items"):
            raise TypeError(
                f"{self._class_name}.add_context_and_parameters: the second element must be a dict of "
                f"{{name: Variable}} (e.g. nn.get_parameters()), got {type(params).__name__}."
            )
        self._contexts.append(ctx)
        self._params.append(dict(params))

    def clear_context_parameters(self) -> None:
        """Forget every context and parameter dict added."""
        self._contexts.clear()
        self._params.clear()

    # -- lifecycle --------------------------------------------------------------------------------------------
    def init(self) -> None:
        raise NotImplementedError

    def _require_init(self, what: str) -> None:
        if not self._initialized:
            raise CommunicatorError(
                f"{self._class_name}.{what}: the communicator is not initialised; call comm.init() first."
            )

    def barrier(self) -> None:
        """Block until every process reaches this call."""
        self._require_init("barrier")
        self._backend.barrier()

    def abort(self) -> None:
        """Terminate the whole job now (MPI_Abort): this process exits with status 1, the launcher
        (torchrun or :func:`launch`) then stops the others."""
        message = f"{self.name}.abort() called on rank {self.rank}; terminating the job."
        write_error_report(self.rank, message)
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)

    # -- groups ----------------------------------------------------------------------------------------------
    def new_group(self, name_ranks: Any, ranks: Any = None) -> str:
        """Create group ``name`` of ``ranks`` (``comm.new_group(("node0", [0, 1]))``); returns its name.

        Every process must call it (torch.distributed creates groups collectively), members or not.
        """
        self._require_init("new_group")
        if ranks is None:
            if not isinstance(name_ranks, (tuple, list)) or len(name_ranks) != 2:
                raise TypeError(
                    f"{self._class_name}.new_group: name_ranks must be a tuple (name, ranks), got {name_ranks!r}."
                )
            name, ranks = name_ranks
        else:
            name = name_ranks
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self._class_name}.new_group: the group name must be a non-empty str, got {name!r}.")
        members = [int(r) for r in np.asarray(ranks, dtype=np.int64).reshape(-1)]
        bad = [r for r in members if not 0 <= r < self.size]
        if not members or bad or len(set(members)) != len(members):
            raise ValueError(
                f"{self._class_name}.new_group: ranks of group {name!r} must be distinct ranks in [0, {self.size}), "
                f"got {members}."
            )
        known = self._backend.groups.get(name)
        if known is not None:
            if sorted(known) == sorted(members):
                return name
            raise ValueError(f"{self._class_name}.new_group: group {name!r} already exists with ranks {known}.")
        self._backend.new_group(name, members)
        return name

    def list_groups(self) -> dict[str, list[int]]:
        """``{group name: ranks}``, ``"world"`` included."""
        self._require_init("list_groups")
        return {k: list(v) for k, v in self._backend.groups.items()}

    def find_group(self, group: str) -> list[int]:
        """The ranks of ``group``; ``[]`` when there is no such group."""
        self._require_init("find_group")
        return list(self._backend.groups.get(group, []))

    def _group_size(self, group: str) -> int:
        return len(self._backend.group_ranks(group))

    # -- checks ----------------------------------------------------------------------------------------------
    def _check_consistent(self, what: str, arrays: list[np.ndarray], group: str, extra: tuple[int, ...] = ()) -> None:
        """Compare the arrays (count, sizes, dtypes) and ``extra`` ints across the group; raise on a mismatch."""
        if not self.check_consistency or self._backend.size == 1:
            return
        values = signature(arrays) + [int(e) for e in extra]
        gathered = self._backend.gather_signatures(values, group)
        if all(g == gathered[0] for g in gathered):
            return
        shapes = self._backend.gather_objects([(a.shape, str(a.dtype)) for a in arrays], group)
        ranks = self._backend.group_ranks(group)
        lines = [f"rank {r}: {len(s)} arrays {_describe(s)}" for r, s in zip(ranks, shapes)]
        if extra and any(g[3:] != gathered[0][3:] for g in gathered):
            lines.append("root ranks: " + ", ".join(f"rank {r}: {g[3:]}" for r, g in zip(ranks, gathered)))
        raise CommunicatorError(
            f"{self._class_name}.{what}: the processes of group {group!r} passed different arrays; every process "
            f"must pass the same number of arrays with the same shapes and dtypes, in the same order.\n  "
            + "\n  ".join(lines)
        )

    # -- collectives -----------------------------------------------------------------------------------------
    def allreduce(self, division: bool = False, inplace: bool = False) -> None:
        """Deprecated (see :meth:`all_reduce`): all-reduce the gradients of the parameters added."""
        self._require_init("allreduce")
        grads = [v.grad for params in self._params for v in params.values()]
        if grads:
            self.all_reduce(grads, division=division, inplace=inplace)

    def all_reduce(self, data: Any, division: bool = False, inplace: bool = False, group: str = WORLD) -> None:
        """Sum ``data`` (an NdArray or a list) over the processes of ``group``; every process gets the sum
        (divided by the group size when ``division``)."""
        self._require_init("all_reduce")
        items = _as_list(data, f"{self._class_name}.all_reduce")
        writebacks: list[_Writeback] = []
        arrays = [_host(x, writebacks) for x in items]
        self._check_consistent("all_reduce", arrays, group)
        self._backend.all_reduce(arrays, bool(division), group, packed=not inplace)
        self._finish(writebacks)

    def reduce(self, data: Any, dst: int, division: bool = False, inplace: bool = False, group: str = WORLD) -> None:
        """Sum ``data`` over ``group`` into the arrays of rank ``dst``; the other processes keep theirs."""
        self._require_init("reduce")
        items = _as_list(data, f"{self._class_name}.reduce")
        writebacks: list[_Writeback] = []
        arrays = [_host(x, writebacks) for x in items]
        self._check_root(int(dst), group, "reduce", "dst")
        self._check_consistent("reduce", arrays, group, (int(dst),))
        self._backend.reduce(arrays, int(dst), bool(division), group, packed=not inplace)
        self._finish(writebacks)

    def bcast(self, data: Any, src: int, inplace: bool = False, group: str = WORLD) -> None:
        """Copy the arrays of rank ``src`` into the arrays of every process of ``group``."""
        self._require_init("bcast")
        items = _as_list(data, f"{self._class_name}.bcast")
        writebacks: list[_Writeback] = []
        arrays = [_host(x, writebacks) for x in items]
        self._check_root(int(src), group, "bcast", "src")
        self._check_consistent("bcast", arrays, group, (int(src),))
        self._backend.bcast(arrays, int(src), group, packed=not inplace)
        self._finish(writebacks)

    def all_gather(self, ndarray: Any, ndarray_list: Any, group: str = WORLD) -> None:
        """``ndarray_list[i]`` of every process receives ``ndarray`` of the i-th process of ``group``."""
        self._require_init("all_gather")
        what = f"{self._class_name}.all_gather"
        (item,) = _as_list(ndarray, what, "ndarray")
        outs = _as_list(ndarray_list, what, "ndarray_list")
        n = self._group_size(group)
        writebacks: list[_Writeback] = []
        array = np.ascontiguousarray(item.data if isinstance(item, NdArray) else item)
        outputs = [_host(x, writebacks) for x in outs]
        self._check_list(what, "ndarray_list", outputs, array, n, group)
        self._check_consistent("all_gather", [array, *outputs], group)
        self._backend.all_gather(array, outputs, group)
        self._finish(writebacks)

    def reduce_scatter(self, ndarray_list: Any, ndarray: Any, division: bool = False, group: str = WORLD) -> None:
        """Sum ``ndarray_list`` over ``group``; the i-th process of the group gets the sum of the i-th arrays."""
        self._require_init("reduce_scatter")
        what = f"{self._class_name}.reduce_scatter"
        ins = _as_list(ndarray_list, what, "ndarray_list")
        (item,) = _as_list(ndarray, what, "ndarray")
        n = self._group_size(group)
        writebacks: list[_Writeback] = []
        output = _host(item, writebacks)
        inputs = [np.ascontiguousarray(x.data if isinstance(x, NdArray) else x) for x in ins]
        self._check_list(what, "ndarray_list", inputs, output, n, group)
        self._check_consistent("reduce_scatter", [*inputs, output], group)
        self._backend.reduce_scatter(inputs, output, bool(division), group)
        self._finish(writebacks)

    def all_reduce_callback(
        self,
        data: Any,
        pack_size: int,
        division: bool = False,
        group: str = WORLD,
        scale_grad: float = 1,
        keep_dtype: bool = False,
    ) -> AllReduceCallback:
        """A callback for ``loss.backward(communicator_callbacks=...)`` that all-reduces ``data`` (gradients)
        during backward, ``pack_size`` values per message; ``scale_grad`` multiplies them before the sum."""
        self._require_init("all_reduce_callback")
        items = _as_list(data, f"{self._class_name}.all_reduce_callback")
        if any(not isinstance(x, NdArray) for x in items):
            raise TypeError(f"{self._class_name}.all_reduce_callback: data must be NdArrays (e.g. v.grad).")
        self._group_size(group)
        return AllReduceCallback(self, items, pack_size, division, group, scale_grad, keep_dtype)

    # -- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def _finish(writebacks: list[_Writeback]) -> None:
        for write_back in writebacks:
            write_back()

    def _check_root(self, root: int, group: str, what: str, arg: str) -> None:
        ranks = self._backend.group_ranks(group)
        if root not in ranks:
            raise CommunicatorError(
                f"{self._class_name}.{what}: {arg}={root} is not a rank of group {group!r} {ranks}."
            )

    def _check_list(self, what: str, arg: str, arrays: list[np.ndarray], like: np.ndarray, n: int, group: str) -> None:
        if len(arrays) != n:
            raise ValueError(
                f"{what}: {arg} must hold one array per process of group {group!r} ({n}), got {len(arrays)}."
            )
        for i, a in enumerate(arrays):
            if a.shape != like.shape or a.dtype != like.dtype:
                raise ValueError(
                    f"{what}: {arg}[{i}] has shape {a.shape} {a.dtype}, expected {like.shape} {like.dtype} "
                    f"(the shape of the single array)."
                )

    def __repr__(self) -> str:
        state = f"rank={self.rank}, size={self.size}" if self._initialized else "not initialised"
        return f"<{self.name} {state}>"


class MultiProcessDataParallelCommunicator(Communicator):
    """One process per device (nnabla's ``MultiProcessDataParallelCommunicator(ctx)``).

    The world is read from the environment (torchrun, :func:`launch` or mpirun); ``init()`` joins it through
    torch.distributed (gloo for a CPU context, NCCL for a CUDA one). Without such an environment it is a
    world of one process and needs no torch.

    >>> import nnl, nnl.communicators as C
    >>> comm = C.MultiProcessDataParallelCommunicator(nnl.Context())
    >>> comm.init()
    >>> comm.size, comm.rank, comm.local_rank
    (1, 0, 0)
    >>> a = nnl.NdArray.from_numpy_array([1.0, 2.0])
    >>> comm.all_reduce(a, division=True); a.data.tolist()
    [1.0, 2.0]
    """

    _class_name = "MultiProcessDataParallelCommunicator"

    def __init__(self, ctx: Context | None = None) -> None:
        super().__init__(ctx)
        self._env: ProcessEnv = read_env()
        self._backend_name = choose_backend(self.ctx)

    @property
    def size(self) -> int:
        return int(self._backend.size) if self._initialized else self._env.size

    @property
    def rank(self) -> int:
        return int(self._backend.rank) if self._initialized else self._env.rank

    @property
    def local_rank(self) -> int:
        return self._env.local_rank

    def init(self) -> None:
        """Join the job (``torch.distributed.init_process_group`` from the environment). Call it once."""
        if self._initialized:
            raise CommunicatorError(f"{self._class_name}.init: Communicator was already initialized.")
        torch_ready = "torch" in sys.modules and _torch_distributed_initialized()
        if self._env.size > 1 or torch_ready:
            self._backend = TorchBackend(self._env, self._backend_name, timeout_from_env())
            if self._backend.owns_default_group:
                atexit.register(self._backend.shutdown)
        else:
            self._backend = LocalBackend()
        self._initialized = True
        install_error_report(self.rank)


def _torch_distributed_initialized() -> bool:
    try:
        import torch.distributed as dist

        return bool(dist.is_available() and dist.is_initialized())
    except ImportError:
        return False


class DataParallelCommunicator(Communicator):
    """One process driving several devices (nnabla's legacy ``DataParallelCommunicator(ctx)``).

    Add one ``(ctx, params)`` per device with :meth:`add_context_and_parameters`, then :meth:`allreduce` sums
    (or averages with ``division=True``) the gradients of the parameters at the same position across the
    devices and writes the result to every device's parameters. Collectives over NdArrays need several
    processes: use :class:`MultiProcessDataParallelCommunicator`.
    """

    _class_name = "DataParallelCommunicator"

    @property
    def size(self) -> int:
        return max(1, len(self._contexts))

    @property
    def rank(self) -> int:
        return 0

    @property
    def local_rank(self) -> int:
        return 0

    def add_context_and_parameters(self, ctx_param_dict: Any) -> None:
        super().add_context_and_parameters(ctx_param_dict)
        ctx = self._contexts[-1]
        key = (tuple(getattr(ctx, "backend", ())), getattr(ctx, "array_class", ""), getattr(ctx, "device_id", ""))
        for other in self._contexts[:-1]:
            if (
                tuple(getattr(other, "backend", ())),
                getattr(other, "array_class", ""),
                getattr(other, "device_id", ""),
            ) == key:
                self._contexts.pop()
                self._params.pop()
                raise ValueError(f"{self._class_name}.add_context_and_parameters: The same context was added ({ctx}).")

    def init(self) -> None:
        if self._initialized:
            raise CommunicatorError(f"{self._class_name}.init: Communicator was already initialized.")
        self._backend = LocalBackend()
        self._initialized = True

    def allreduce(self, division: bool = False, inplace: bool = False) -> None:
        """Sum the gradients of the parameters added, position by position across devices (``/ size`` with
        ``division``), and write the result into every device's gradients."""
        self._require_init("allreduce")
        if not self._params:
            return
        counts = {len(p) for p in self._params}
        if len(counts) != 1:
            raise ValueError(
                f"{self._class_name}.allreduce: every device must hold the same parameters, got "
                f"{[len(p) for p in self._params]} parameters."
            )
        columns = zip(*[list(p.values()) for p in self._params])
        for column in columns:
            grads = [v.grad for v in column]
            total = np.array(grads[0].data, copy=True)
            for g in grads[1:]:
                if g.shape != grads[0].shape:
                    raise ValueError(
                        f"{self._class_name}.allreduce: gradient shapes differ across devices: "
                        f"{[x.shape for x in grads]}."
                    )
                total += g.data
            if division:
                total /= total.dtype.type(len(grads))
            for g in grads:
                g.data[...] = total

    def _unsupported(self, what: str) -> CommunicatorError:
        return CommunicatorError(
            f"{self._class_name}.{what}: collectives over NdArrays need several processes; use "
            f"MultiProcessDataParallelCommunicator (launched with torchrun or nnl.communicators.launch), or "
            f"add_context_and_parameters + allreduce() for the devices of this process."
        )

    def all_reduce(self, data: Any, division: bool = False, inplace: bool = False, group: str = WORLD) -> None:
        raise self._unsupported("all_reduce")

    def reduce(self, data: Any, dst: int, division: bool = False, inplace: bool = False, group: str = WORLD) -> None:
        raise self._unsupported("reduce")

    def bcast(self, data: Any, src: int, inplace: bool = False, group: str = WORLD) -> None:
        raise self._unsupported("bcast")

    def all_gather(self, ndarray: Any, ndarray_list: Any, group: str = WORLD) -> None:
        raise self._unsupported("all_gather")

    def reduce_scatter(self, ndarray_list: Any, ndarray: Any, division: bool = False, group: str = WORLD) -> None:
        raise self._unsupported("reduce_scatter")

    def all_reduce_callback(
        self,
        data: Any,
        pack_size: int,
        division: bool = False,
        group: str = WORLD,
        scale_grad: float = 1,
        keep_dtype: bool = False,
    ) -> AllReduceCallback:
        raise self._unsupported("all_reduce_callback")


# nnabla's aliases: the old misspellings and the short names
MultiProcessDataParalellCommunicator = MultiProcessDataParallelCommunicator
MultiProcessCommunicator = MultiProcessDataParallelCommunicator
Comm = MultiProcessDataParallelCommunicator
Dist = MultiProcessDataParallelCommunicator
DataParalellCommunicator = DataParallelCommunicator
# what all_reduce_callback returns (nnabla's nnabla.CommunicatorBackwardCallback)
CommunicatorBackwardCallback = AllReduceCallback


def current_communicator() -> Communicator | None:
    """The communicator made by :func:`nnl.utils.communicator_util.create_communicator` (None when single)."""
    from nnl.utils import communicator_util

    return communicator_util.current_communicator()


def single_or_rankzero() -> bool:
    """True in a single process or on rank 0: the process that writes monitors and saves files."""
    from nnl.utils import communicator_util

    return communicator_util.single_or_rankzero()


if __name__ == "__main__":  # python -m nnl.communicators --nproc N script.py [args...]
    from nnl._distributed.launch import main

    sys.exit(main())
