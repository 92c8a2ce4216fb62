"""Unsupported, Special Use: graph utilities such as Sink and Unlink."""

from __future__ import annotations

from typing import Any

from nnl.core.function import Bool, Function
from nnl.functions.registry import api


class Sink(Function):
    """Joins several outputs into one dummy variable so that one ``forward``/``backward`` runs them all.

    Backward sets the gradient of every input to one (``one_input_grad=True``) or leaves them untouched.
    """

    input_names = ("*x",)
    one_input_grad: Bool = True
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if not inputs:
            raise self.fail("x", "at least one input variable", "none")
        return [()]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.zeros((), dtype="float32")]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not self.one_input_grad:
            return [None] * len(x)
        return [xp.ones(v.shape, dtype="float32") if n else None for v, n in zip(x, need)]


@api(Sink)
def sink(*x: Any, **kw: Any) -> Any:
    one_input_grad = kw.pop("one_input_grad", True)
    return Sink(one_input_grad)(*x, **kw)
