"""``comm.all_reduce_callback(...)``: all-reduce gradients while backward is still running.

The engine (``nnl.core.graph.backward``) calls ``on_function_backward(function)`` after each function's backward
and ``on_finish_backward()`` at the end. At the first call of a pass the callback counts, for every gradient it
was given, how many functions of the graph will write into it (a shared parameter has several). Each function
call lowers the counts of its inputs; a gradient whose count reaches zero is complete and joins the current
pack; a pack holding ``pack_size`` values or more is copied into one flat buffer and its all-reduce starts
asynchronously (torch.distributed ``async_op``; gloo runs it on its own threads while NumPy computes the rest of
backward). ``on_finish_backward`` sends the gradients no function wrote, waits for every pack, divides and writes
the results back into the gradient arrays.

Safety net: should a function write into a gradient after its pack was sent (a graph the count did not see),
that pack is all-reduced again, synchronously, from the final gradients; every process runs the same graph, so
all of them redo the same packs in the same order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl._distributed.backend import divide_


class AllReduceCallback:
    """The object ``loss.backward(communicator_callbacks=...)`` receives (nnabla's CommunicatorBackwardCallback)."""

    def __init__(
        self,
        comm: Any,
        ndarrays: list[Any],
        pack_size: int,
        division: bool = False,
        group: str = "world",
        scale_grad: float = 1.0,
        keep_dtype: bool = False,
    ) -> None:
        if int(pack_size) < 1:
            raise ValueError(f"all_reduce_callback: pack_size must be a positive number of values, got {pack_size}.")
        self._comm = comm
        self._ndarrays = list(ndarrays)
        self._index = {id(nd): i for i, nd in enumerate(self._ndarrays)}
        self.pack_size = int(pack_size)
        self.division = bool(division)
        self.group = group
        self.scale_grad = float(scale_grad)
        self.keep_dtype = bool(keep_dtype)  # arrays always keep their dtype here; accepted for nnabla's signature
        # what the last backward did: packs sent while backward ran, packs sent at its end, packs redone
        self.last_stats = {"early": 0, "at_finish": 0, "redone": 0}
        self._reset()

    def _reset(self) -> None:
        self._started = False
        self._remaining: list[int] | None = None
        self._pack_of: list[int] = [-1] * len(self._ndarrays)  # index of the pack that holds each gradient
        self._open: list[int] = []  # gradients waiting for their pack to fill
        self._open_size = 0
        self._packs: list[tuple[list[int], np.ndarray, Any]] = []  # (gradients, flat buffer, pending handle)
        self._dirty: set[int] = set()

    # -- engine interface -----------------------------------------------------------------------------------
    def on_function_backward(self, function: Any) -> None:
        if not self._started:
            self._start(function)
        seen: set[int] = set()
        for v in function.inputs:
            i = self._index.get(id(v._grad))
            if i is None or i in seen or not v.need_grad:
                continue
            seen.add(i)
            if self._pack_of[i] >= 0:
                self._dirty.add(self._pack_of[i])
                continue
            if self._remaining is None:
                continue
            self._remaining[i] -= 1
            if self._remaining[i] <= 0:
                self._add(i)

    on_finish_function_backward = on_function_backward  # nnabla's C++ name

    def on_finish_backward(self) -> None:
        try:
            if not self._started:
                self._start(None)
            early = len(self._packs)
            for i in range(len(self._ndarrays)):
                if self._pack_of[i] < 0:
                    self._add(i)
            self._send()
            self.last_stats = {
                "early": early,
                "at_finish": len(self._packs) - early,
                "redone": len(self._dirty),
            }
            comm = self._comm
            n = comm._group_size(self.group)
            for p, (indices, flat, pending) in enumerate(self._packs):
                if pending is not None:
                    pending.wait()
                if p in self._dirty:
                    flat = self._gather(indices)
                    comm._backend.all_reduce([flat], False, self.group, True)
                if self.division:
                    divide_(flat, n)
                offset = 0
                for i in indices:
                    target = self._ndarrays[i].data
                    size = target.size
                    target[...] = flat[offset : offset + size].reshape(target.shape)
                    offset += size
        finally:
            self._reset()

    # -- packing --------------------------------------------------------------------------------------------
    def _start(self, function: Any) -> None:
        self._started = True
        comm = self._comm
        comm._require_init("all_reduce_callback")
        comm._check_consistent("all_reduce_callback", [nd.data for nd in self._ndarrays], self.group)
        self._remaining = _count_writers(function, self._index) if function is not None else None

    def _add(self, i: int) -> None:
        nd = self._ndarrays[i]
        if self._open and self._ndarrays[self._open[0]].dtype != nd.dtype:
            self._send()  # a flat buffer holds one dtype
        self._pack_of[i] = len(self._packs)
        self._open.append(i)
        self._open_size += nd.size
        if self._open_size >= self.pack_size:
            self._send()

    def _gather(self, indices: list[int]) -> np.ndarray:
        arrays = [self._ndarrays[i].data.reshape(-1) for i in indices]
        flat = np.concatenate(arrays) if len(arrays) > 1 else arrays[0].copy()
        if self.scale_grad != 1.0:
            flat *= flat.dtype.type(self.scale_grad)
        return flat

    def _send(self) -> None:
        if not self._open:
            return
        indices = self._open
        flat = self._gather(indices)
        pending = self._comm._backend.all_reduce_async(flat, self.group)
        self._packs.append((indices, flat, pending))
        self._open = []
        self._open_size = 0


def _count_writers(function: Any, index: dict[int, int]) -> list[int] | None:
    """For each tracked gradient, how many functions of the graph above ``function`` will write into it.

    ``function`` is the first one backward runs (the creator of the root), so its ancestors are the graph.
    Returns None when the graph cannot be read (then every gradient is sent at the end of backward).
    """
    counts = [0] * len(index)
    try:
        stack = [function]
        visited = {id(function)}
        while stack:
            f = stack.pop()
            if f._need_backward:
                written = {index.get(id(v._grad), -1) for v in f.inputs if v.need_grad}
                written.discard(-1)
                for i in written:
                    counts[i] += 1
            for v in f.inputs:
                parent = v._parent
                if parent is not None and id(parent) not in visited:
                    visited.add(id(parent))
                    stack.append(parent)
    except AttributeError:
        return None
    return counts
