"""The CUDA-graph path of ``nnl.graph_capture``: warm up, capture the step, replay it.

Captured memory keeps its addresses, so after each replay every buffer of the step (variables' data and gradients,
parameters, solver states) is re-attached to its captured tensor; inputs written on the host and parameters read on
the host are copied into their captured tensors first. The solver update is recaptured with its per-step scalars
(learning rate, Adam's bias correction) in device tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnl.core.graph import topological_order
from nnl.solver import _T_MAX

_CAPTURABLE = ("Sgd", "Momentum", "Adam", "AdamW")
HOST_RANDOM = {"Dropout", "Rand", "Randn", "Randint", "RandomFlip", "RandomCrop"}  # kernels drawing with NumPy


class CudaGraphStep:
    """Capture ``step`` (an ``nnl.graph_capture.TrainingStep``) now; ``replay()`` runs it again."""

    def __init__(self, step: Any) -> None:
        solver = step.solver
        name = type(solver).__name__
        if name not in _CAPTURABLE or solver._device_update is None:
            raise ValueError(f"{name} has no capturable update (capturable: {', '.join(_CAPTURABLE)} on a CUDA context)")
        host_random = sorted({f.name for f in topological_order([step.loss]) if f.name in HOST_RANDOM})
        if host_random:  # a replay would repeat the captured draws
            raise ValueError(f"{', '.join(host_random)} draw random numbers on the host, which a graph cannot replay")
        self.step, self.solver = step, solver
        self.device = torch.device(solver._device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(step.warmup):  # binds kernels, moves everything to the device, creates solver states
                step.eager()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.keys = solver._computed()
        steps = {solver._states[k].t for k in self.keys}
        if len(steps) != 1:
            raise ValueError("the solver's parameters are at different step counts")
        self.t = torch.full((), float(steps.pop()), device=self.device)
        self.lr = torch.zeros((), device=self.device)
        self.inputs = [(v._data, self._static(v._data)) for v in step.inputs]
        self._refresh()
        for nd, _ in self._buffers():  # casts cached by the warm-up would not be captured: the replays need them
            nd._copy = None
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            step.run(self._update)
        self.buffers = self._buffers()
        self.graph.replay()  # the capture only recorded: this runs the first captured step
        self._after()

    def _update(self) -> None:
        """The solver's update with its per-step scalars read from device tensors at replay time."""
        from nnl.backends.torch.solvers import _buffers, adam_step, momentum_step, sgd_step

        solver, name = self.solver, type(self.solver).__name__
        self.t.add_(1)
        if name == "Sgd":
            w, g = _buffers(solver, self.keys)
            sgd_step(w, g, self.lr)
        elif name == "Momentum":
            w, g, m = _buffers(solver, self.keys, "m")
            momentum_step(w, g, m, float(solver._momentum), self.lr)
        else:  # Adam, AdamW: the bias correction from the device step count
            b1, b2 = float(solver._beta1), float(solver._beta2)
            alpha_t = self.lr * torch.sqrt(1 - torch.pow(b2, self.t)) / (1 - torch.pow(b1, self.t))
            decay = (self.lr / float(solver._init_alpha)) * float(solver._wd_rate) if name == "AdamW" else None
            w, g, m, v = _buffers(solver, self.keys, "mean", "var")
            adam_step(w, g, m, v, b1, b2, float(solver._eps), alpha_t, decay)

    # -- buffers -------------------------------------------------------------------------------------------------------
    def _static(self, nd: Any) -> torch.Tensor:
        array = nd._array
        if not isinstance(array, torch.Tensor) or array.device != self.device:
            array = torch.as_tensor(np.asarray(nd.data), device=self.device)
        nd._array, nd._zeroing = array, False
        return array

    def _buffers(self) -> list[tuple[Any, Any]]:
        """Every NdArray the step touches, with the buffer it holds at the end of the capture."""
        seen: dict[int, Any] = {}
        for function in topological_order([self.step.loss]):
            for v in function.inputs:
                seen[id(v._data)], seen[id(v._grad)] = v._data, v._grad
            for nd in (*function._out_data, *function._out_grad):
                seen[id(nd)] = nd
        for key in self.solver._params:
            seen[id(self.solver._params[key]._data)] = self.solver._params[key]._data
            for state in self.solver._states[key].pstate.values():
                seen[id(state._data)] = state._data
        return [(nd, nd._array) for nd in seen.values()]

    def _refresh(self) -> None:
        self.lr.fill_(float(self.solver.learning_rate()))

    def replay(self) -> None:
        self._refresh()
        for nd, static in self.inputs:
            if nd._array is not static:  # written on the host since the last step
                static.copy_(torch.as_tensor(np.asarray(nd.data)), non_blocking=False)
                nd._array = static
        for nd, captured in self.buffers:
            if isinstance(captured, torch.Tensor) and nd._array is not captured and nd._array is not None:
                captured.copy_(torch.as_tensor(np.asarray(nd.data)))  # read (or written) on the host: keep its value
        self.graph.replay()
        self._after()

    def _after(self) -> None:
        for nd, captured in self.buffers:  # a replay updates tensors without bumping their versions: drop the casts
            nd._array, nd._zeroing, nd._copy = captured, False, None
        for key in self.keys:
            state = self.solver._states[key]
            state.t = min(state.t + 1, _T_MAX)
