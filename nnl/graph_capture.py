"""Replaying a static training step as one CUDA graph (opt-in; beyond nnabla).

Small networks on a GPU are bound by per-function launch and Python overhead, not by arithmetic: capturing the whole
step (forward, backward and the solver update) once and replaying it removes both. Opt in with

>>> import nnl as nn, nnl.functions as F, nnl.parametric_functions as PF, nnl.solvers as S
>>> x, t = nn.Variable((4, 3)), nn.Variable((4, 1))
>>> loss = F.mean(F.squared_error(PF.affine(x, 1, name="fc"), t))
>>> solver = S.Sgd(0.1)
>>> solver.set_parameters(nn.get_parameters())
>>> step = capture_training_step(loss, solver, inputs=[x, t])
>>> x.d, t.d = 1.0, 2.0
>>> step()          # on a CUDA context: captured at the first call, replayed after
>>> step.captured, step.reason
(False, 'the context runs on cpu:float, not on a CUDA device')

The step does ``loss.forward(clear_no_need_grad=True)``, ``solver.zero_grad()``, ``loss.backward(clear_buffer=True)``,
optional ``solver.weight_decay(rate)``, ``solver.update()``. Between calls, write only the ``inputs`` (``x.d = ...``)
and the learning rate (``solver.set_learning_rate``); reading anything (``loss.d``, parameters) is fine. Where the
graph cannot be captured (not a CUDA context, a solver without a capturable update, an operation that needs the host
inside the step), the step runs eagerly and ``step.reason`` says why: the results are the same, only slower.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from nnl.core.context import get_current_context


class TrainingStep:
    """A training step, replayed as a CUDA graph where possible (see the module docstring)."""

    def __init__(self, loss: Any, solver: Any, inputs: Sequence[Any], weight_decay: float | None = None, warmup: int = 3) -> None:
        if tuple(loss.shape) not in ((), (1,)) and loss.size != 1:
            raise ValueError(f"capture_training_step: loss must be a scalar variable, got loss.shape={tuple(loss.shape)}.")
        self.loss, self.solver, self.inputs = loss, solver, list(inputs)
        self.weight_decay = weight_decay
        self.warmup = max(int(warmup), 1)
        self.captured = False
        self.reason: str | None = None
        self._graph: Any = None
        context = get_current_context()
        backend = context.backend[0]
        if backend.split(":")[0] not in ("cuda", "cudnn"):
            self.reason = f"the context runs on {backend}, not on a CUDA device"

    def eager(self) -> None:
        """The step without a graph."""
        self.run(self.solver.update)

    def run(self, update: Any) -> None:
        """Forward, zero_grad, backward, weight decay, then ``update()`` (the solver's, or a capturable one)."""
        self.loss.forward(clear_no_need_grad=True)
        self.solver.zero_grad()
        self.loss.backward(clear_buffer=True)
        if self.weight_decay is not None:
            self.solver.weight_decay(self.weight_decay)
        update()

    def __call__(self) -> None:
        if self.reason is not None:
            self.eager()
            return
        if self._graph is None:
            from nnl.backends.torch.capture import CudaGraphStep

            try:
                self._graph = CudaGraphStep(self)
            except Exception as error:  # capture is an optimisation: any failure means eager steps
                self.reason = f"the step could not be captured ({type(error).__name__}: {error})"
                warnings.warn(f"capture_training_step: {self.reason}; running eagerly.", RuntimeWarning, stacklevel=2)
                self.eager()
                return
            self.captured = True
            return  # the capture ran the step once
        self._graph.replay()


def capture_training_step(loss: Any, solver: Any, inputs: Sequence[Any] = (), weight_decay: float | None = None, warmup: int = 3) -> TrainingStep:
    """A callable doing one training step of ``loss`` with ``solver``, captured as a CUDA graph at its first call on
    a CUDA context (``inputs``: the variables fed between steps)."""
    return TrainingStep(loss, solver, inputs, weight_decay, warmup)
