"""Collectives on NumPy arrays: one process (no torch at all) or torch.distributed (gloo on the CPU, NCCL on GPUs).

Every collective takes and returns NumPy arrays that are C-contiguous and writeable; the caller
(:mod:`nnl.communicators`) takes care of NdArrays and writes results back. On gloo the arrays are handed to
torch with ``torch.from_numpy`` (zero copy), so the collective writes straight into them; NCCL needs device
tensors, so the arrays are copied to the GPU of this process and back.

Group names map to rank lists as in nnabla (``"world"`` is every rank). Ranks given to ``reduce``/``bcast``
(``dst``/``src``) are world ranks, as in torch.distributed; the lists of ``all_gather``/``reduce_scatter`` are
ordered by rank within the group.
"""

from __future__ import annotations

import datetime
import os
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnl._distributed.env import ProcessEnv, export_for_torch

WORLD = "world"

TORCH_MISSING = (
    "nnl.communicators: multi-process training runs on torch.distributed, but PyTorch is not installed. "
    "Install it with `pip install nnl[torch]` (or `pip install torch`)."
)


class CommunicatorError(RuntimeError):
    """A collective cannot run as asked (wrong group, rank, sizes that differ across ranks, ...)."""


def import_torch() -> Any:
    try:
        import torch
        import torch.distributed
    except ImportError as error:
        raise ImportError(TORCH_MISSING) from error
    if not torch.distributed.is_available():
        raise ImportError("nnl.communicators: this PyTorch build has no torch.distributed support.")
    return torch


def divide_(array: np.ndarray, n: int) -> None:
    """``array /= n`` in place (floor division for integer arrays, which cannot hold a true quotient)."""
    if n == 1:
        return
    if array.dtype.kind in "fc":
        array /= array.dtype.type(n)
    else:
        np.floor_divide(array, n, out=array)


def pack(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """One flat buffer holding ``arrays`` one after the other (all of one dtype)."""
    if len(arrays) == 1:
        return arrays[0].reshape(-1).copy()
    return np.concatenate([a.reshape(-1) for a in arrays])


def unpack(flat: np.ndarray, arrays: Sequence[np.ndarray]) -> None:
    """Write the flat buffer back into ``arrays`` (inverse of :func:`pack`)."""
    offset = 0
    for a in arrays:
        n = a.size
        a[...] = flat[offset : offset + n].reshape(a.shape)
        offset += n


def by_dtype(arrays: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
    """``arrays`` split into runs of one dtype (a packed buffer holds one dtype), order kept within each."""
    groups: dict[np.dtype, list[np.ndarray]] = {}
    for a in arrays:
        groups.setdefault(a.dtype, []).append(a)
    return list(groups.values())


def _runs(arrays: Sequence[np.ndarray], packed: bool) -> list[list[np.ndarray]]:
    """The unit of each collective call: one packed buffer per dtype, or one call per array."""
    return by_dtype(arrays) if packed else [[a] for a in arrays]


def signature(arrays: Sequence[np.ndarray]) -> list[int]:
    """A small integer summary of a list of arrays: count, elements, and a hash of the shapes and dtypes."""
    text = ";".join(f"{a.shape}{a.dtype.str}" for a in arrays).encode()
    return [len(arrays), int(sum(a.size for a in arrays)), zlib.crc32(text)]


class LocalBackend:
    """A world of one process: every collective is the identity (or a copy), no torch involved."""

    name = "single"

    def __init__(self) -> None:
        self.rank = 0
        self.size = 1
        self.groups: dict[str, list[int]] = {WORLD: [0]}

    def group_ranks(self, group: str) -> list[int]:
        ranks = self.groups.get(group)
        if ranks is None:
            raise CommunicatorError(f"group {group!r} does not exist; known groups: {sorted(self.groups)}.")
        return ranks

    def new_group(self, name: str, ranks: list[int]) -> None:
        self.groups[name] = ranks

    def all_reduce(self, arrays: list[np.ndarray], division: bool, group: str, packed: bool) -> None:
        self.group_ranks(group)

    def all_reduce_async(self, flat: np.ndarray, group: str) -> Any:
        return None

    def reduce(self, arrays: list[np.ndarray], dst: int, division: bool, group: str, packed: bool) -> None:
        self.group_ranks(group)

    def bcast(self, arrays: list[np.ndarray], src: int, group: str, packed: bool) -> None:
        self.group_ranks(group)

    def all_gather(self, array: np.ndarray, outputs: list[np.ndarray], group: str) -> None:
        self.group_ranks(group)
        outputs[0][...] = array

    def reduce_scatter(self, inputs: list[np.ndarray], output: np.ndarray, division: bool, group: str) -> None:
        self.group_ranks(group)
        output[...] = inputs[0]

    def gather_signatures(self, values: list[int], group: str) -> list[list[int]]:
        return [list(values)]

    def gather_objects(self, obj: Any, group: str) -> list[Any]:
        return [obj]

    def barrier(self, group: str = WORLD) -> None:
        self.group_ranks(group)

    def shutdown(self) -> None:
        pass


class TorchBackend:
    """torch.distributed process groups; the default group is created here unless the user made one already."""

    def __init__(self, penv: ProcessEnv, backend: str, timeout_s: float | None = None) -> None:
        torch = import_torch()
        dist = torch.distributed
        self.torch = torch
        self.dist = dist
        self.owns_default_group = False
        if dist.is_initialized():
            backend = str(dist.get_backend()).lower()
            if dist.get_world_size() != penv.size and penv.launcher is not None:
                raise CommunicatorError(
                    f"torch.distributed is already initialised with world size {dist.get_world_size()}, but the "
                    f"environment ({penv.launcher}) says {penv.size}."
                )
        else:
            if backend == "nccl" and not (torch.cuda.is_available() and dist.is_nccl_available()):
                raise CommunicatorError(
                    "the context asks for CUDA (NCCL) collectives, but torch.cuda is not available in this process; "
                    "use a CPU context (gloo) or install a CUDA build of PyTorch."
                )
            if backend == "gloo" and not dist.is_gloo_available():
                raise CommunicatorError("this PyTorch build has no gloo backend for CPU collectives.")
            export_for_torch(penv)
            kwargs: dict[str, Any] = {}
            if timeout_s is not None:
                kwargs["timeout"] = datetime.timedelta(seconds=timeout_s)
            if backend == "nccl":
                torch.cuda.set_device(penv.local_rank)
                kwargs["device_id"] = torch.device("cuda", penv.local_rank)
            dist.init_process_group(backend, init_method="env://", rank=penv.rank, world_size=penv.size, **kwargs)
            self.owns_default_group = True
        self.name = backend
        self.rank = dist.get_rank()
        self.size = dist.get_world_size()
        self.device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else None
        self.groups: dict[str, list[int]] = {WORLD: list(range(self.size))}
        self._handles: dict[str, Any] = {WORLD: None}  # None is torch's default (world) group

    # -- groups -------------------------------------------------------------------------------------------
    def group_ranks(self, group: str) -> list[int]:
        ranks = self.groups.get(group)
        if ranks is None:
            raise CommunicatorError(f"group {group!r} does not exist; known groups: {sorted(self.groups)}.")
        return ranks

    def _group(self, group: str, what: str) -> tuple[Any, list[int]]:
        ranks = self.group_ranks(group)
        if self.rank not in ranks:
            raise CommunicatorError(
                f"{what}: this process (rank {self.rank}) is not a member of group {group!r} (ranks {ranks}); "
                f"call collectives of a group only on its members."
            )
        return self._handles[group], ranks

    def new_group(self, name: str, ranks: list[int]) -> None:
        # torch requires every process of the world to take part in creating a group, members or not.
        self._handles[name] = self.dist.new_group(ranks=sorted(ranks))
        self.groups[name] = ranks

    # -- array <-> tensor -----------------------------------------------------------------------------------
    def _tensor(self, array: np.ndarray) -> Any:
        tensor = self.torch.from_numpy(array)
        return tensor if self.device is None else tensor.to(self.device)

    def _back(self, tensor: Any, array: np.ndarray) -> None:
        if self.device is not None:
            array[...] = tensor.cpu().numpy()

    # -- collectives ----------------------------------------------------------------------------------------
    def all_reduce(self, arrays: list[np.ndarray], division: bool, group: str, packed: bool) -> None:
        handle, ranks = self._group(group, "all_reduce")
        for run in _runs(arrays, packed):
            buffer = run[0] if len(run) == 1 else pack(run)
            tensor = self._tensor(buffer)
            self.dist.all_reduce(tensor, group=handle)
            self._back(tensor, buffer)
            if division:
                divide_(buffer, len(ranks))
            if len(run) > 1:
                unpack(buffer, run)

    def all_reduce_async(self, flat: np.ndarray, group: str) -> Any:
        """Start an all-reduce (sum) of ``flat``; returns a handle whose ``wait()`` leaves the sum in ``flat``."""
        handle, _ = self._group(group, "all_reduce_callback")
        tensor = self._tensor(flat)
        work = self.dist.all_reduce(tensor, group=handle, async_op=True)
        return _Pending(work, tensor, flat, self)

    def reduce(self, arrays: list[np.ndarray], dst: int, division: bool, group: str, packed: bool) -> None:
        handle, ranks = self._group(group, "reduce")
        self._check_root(dst, ranks, group, "reduce", "dst")
        for run in _runs(arrays, packed):
            # always a copy: the processes other than dst keep their data (gloo may use the buffer as scratch)
            buffer = pack(run)
            tensor = self._tensor(buffer)
            self.dist.reduce(tensor, dst=dst, group=handle)
            if self.rank == dst:
                self._back(tensor, buffer)
                if division:
                    divide_(buffer, len(ranks))
                unpack(buffer, run)

    def bcast(self, arrays: list[np.ndarray], src: int, group: str, packed: bool) -> None:
        handle, ranks = self._group(group, "bcast")
        self._check_root(src, ranks, group, "bcast", "src")
        for run in _runs(arrays, packed):
            buffer = run[0] if len(run) == 1 else pack(run)
            tensor = self._tensor(buffer)
            self.dist.broadcast(tensor, src=src, group=handle)
            if self.rank != src:
                self._back(tensor, buffer)
                if len(run) > 1:
                    unpack(buffer, run)

    def all_gather(self, array: np.ndarray, outputs: list[np.ndarray], group: str) -> None:
        handle, _ = self._group(group, "all_gather")
        out_tensors = [self._tensor(o) for o in outputs]
        self.dist.all_gather(out_tensors, self._tensor(array), group=handle)
        for tensor, out in zip(out_tensors, outputs):
            self._back(tensor, out)

    def reduce_scatter(self, inputs: list[np.ndarray], output: np.ndarray, division: bool, group: str) -> None:
        handle, ranks = self._group(group, "reduce_scatter")
        in_tensors = [self._tensor(a.copy()) for a in inputs]
        out_tensor = self._tensor(output)
        self.dist.reduce_scatter(out_tensor, in_tensors, group=handle)
        self._back(out_tensor, output)
        if division:
            divide_(output, len(ranks))

    def gather_signatures(self, values: list[int], group: str) -> list[list[int]]:
        """Every member's ``values`` (a short list of ints), in group rank order."""
        handle, ranks = self._group(group, "consistency check")
        local = self.torch.tensor(values, dtype=self.torch.int64)
        if self.device is not None:
            local = local.to(self.device)
        gathered = [self.torch.empty_like(local) for _ in ranks]
        self.dist.all_gather(gathered, local, group=handle)
        return [t.cpu().tolist() for t in gathered]

    def gather_objects(self, obj: Any, group: str) -> list[Any]:
        handle, ranks = self._group(group, "consistency check")
        out: list[Any] = [None] * len(ranks)
        self.dist.all_gather_object(out, obj, group=handle)
        return out

    def barrier(self, group: str = WORLD) -> None:
        handle, _ = self._group(group, "barrier")
        if self.device is not None:
            self.dist.barrier(group=handle, device_ids=[self.device.index])
        else:
            self.dist.barrier(group=handle)

    def shutdown(self) -> None:
        if self.owns_default_group and self.dist.is_initialized():
            self.dist.destroy_process_group()
            self.owns_default_group = False

    def _check_root(self, root: int, ranks: list[int], group: str, what: str, arg: str) -> None:
        if root not in ranks:
            raise CommunicatorError(f"{what}: {arg}={root} is not a rank of group {group!r} (ranks {ranks}).")


class _Pending:
    """An all-reduce in flight (torch ``Work``); ``wait()`` leaves the result in the NumPy buffer."""

    __slots__ = ("work", "tensor", "flat", "backend")

    def __init__(self, work: Any, tensor: Any, flat: np.ndarray, backend: TorchBackend) -> None:
        self.work = work
        self.tensor = tensor
        self.flat = flat
        self.backend = backend

    def wait(self) -> None:
        self.work.wait()
        self.backend._back(self.tensor, self.flat)


def choose_backend(ctx: Any) -> str:
    """``'nccl'`` for a CUDA context (``cuda``/``cudnn`` backends), else ``'gloo'``; ``NNL_DIST_BACKEND`` overrides."""
    forced = os.environ.get("NNL_DIST_BACKEND", "").strip().lower()
    if forced:
        if forced not in ("gloo", "nccl"):
            raise ValueError(f"NNL_DIST_BACKEND must be 'gloo' or 'nccl', got {forced!r}.")
        return forced
    backends = list(getattr(ctx, "backend", None) or [])
    first = str(backends[0]).split(":")[0].lower() if backends else "cpu"
    return "nccl" if first in ("cuda", "cudnn") else "gloo"


def timeout_from_env() -> float | None:
    value = os.environ.get("NNL_DIST_TIMEOUT")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"NNL_DIST_TIMEOUT must be a number of seconds, got {value!r}.") from None
