"""Shared machinery of nnabla's backward-function helper classes (``AffineDataGrad``, ``PadDataGrad``...).

nnabla builds them as Python functions constructed like the forward function (``Cls(ctx, *args)``) whose
shape attributes (``xshape``, ``wshape``, ``xshapes``) are set before they are called. Here they are nnl
functions whose kernels are the forward function's own ``forward_impl`` / ``backward_impl``: the gradient
of a linear map is its adjoint, so

- ``_DataGrad`` (inputs ``dy``; outputs ``dx`` of each input of a linear forward ``f``): the forward is
  ``f``'s backward, the backward is ``f``'s forward;
- ``_LinearDataGrad`` / ``_LinearFilterGrad`` (inputs ``(dy, w)`` / ``(dy, x)``; output ``dx`` / ``dw`` of a
  bilinear ``f(x, w)``: affine, convolution, deconvolution): each input's gradient is ``f`` forward or the
  other one of the pair.

Their ``grad_graph`` writes the same gradients with functions, so they can be differentiated again.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from nnl import functions as _functions  # noqa: F401  (fills the registry the helpers look classes up in)
from nnl.core.function import Function


class _Reusable:
    """nnabla lets one helper object be called several times (each call a new graph node); nnl's graph gives
    each node its own function object, so a second call runs on a copy."""

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        target = self
        if self.inputs:  # type: ignore[attr-defined]
            target = copy.copy(self)
            target.inputs, target._outputs, target._out_data, target._out_grad = [], [], [], []  # type: ignore[attr-defined]
            target.__dict__.pop("_rng", None)
        return Function.__call__(target, *inputs, **kwargs)  # type: ignore[arg-type]


class _XShape:
    """``xshape`` as nnabla names it, stored where nnl's pooling helpers read it (``x_shape``)."""

    @property
    def xshape(self) -> tuple[int, ...]:
        return self.x_shape  # type: ignore[attr-defined]

    @xshape.setter
    def xshape(self, shape: Any) -> None:
        self.x_shape = tuple(int(s) for s in shape)


def _placeholder(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A read-only zero array of ``shape`` without memory (inputs a linear map's adjoint does not read)."""
    return np.broadcast_to(np.zeros((), dtype), tuple(shape))


class _ForwardBacked(_Reusable, Function):
    """A helper whose arguments are those of ``forward_class`` and whose kernels are that class's."""

    forward_class: ClassVar[Any] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fwd = cls.__dict__.get("forward_class")
        if fwd is not None:
            cls.args_spec = dict(fwd.args_spec)
            cls._argument_names = fwd._argument_names
            cls._argument_defaults = dict(fwd._argument_defaults)
            cls._required_arguments = fwd._required_arguments

    def _new_forward(self) -> Function:
        """A fresh forward function with this helper's arguments (and context)."""
        f = self.forward_class(**{name: getattr(self, name) for name in self.args_spec})
        f.context = self.context
        return f

    def _setup_forward(self, shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        """Set the forward function up for inputs of ``shapes``; its output shapes."""
        from nnl.core.variable import Variable

        f = self._new_forward()
        f._bind_kernels()
        out = f.setup_impl([Variable(s) for s in shapes])
        for name in self.args_spec:  # defaults computed by the forward's setup (pad, axis...) come back here
            setattr(self, name, getattr(f, name))
        self._fwd = f
        return [tuple(s) for s in out]


class _DataGrad(_ForwardBacked):
    """``dx`` (one per input of a linear forward) from ``dy``; set ``xshape`` (or ``xshapes``) first."""

    input_names = ("dy",)
    output_names = ("*dx",)
    grad_depends_input = False
    grad_depends_output = False

    @property
    def xshape(self) -> tuple[int, ...]:
        return self.xshapes[0]

    @xshape.setter
    def xshape(self, shape: Any) -> None:
        self.xshapes = [tuple(int(s) for s in shape)]

    @property
    def xshapes(self) -> list[tuple[int, ...]]:
        shapes = self.__dict__.get("_xshapes")
        if shapes is None:
            raise RuntimeError(f"{self.name}: set the input shape (xshape) of the forward function before calling it.")
        return shapes

    @xshapes.setter
    def xshapes(self, shapes: Any) -> None:
        self._xshapes = [tuple(int(s) for s in shape) for shape in shapes]

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        out = self._setup_forward(self.xshapes)
        if tuple(inputs[0].shape) != out[0]:
            raise self.fail("dy", f"the output shape of {self.forward_class.name} for inputs {self.xshapes}: {out[0]}", f"dy.shape={tuple(inputs[0].shape)}")
        self._y_shape = out[0]
        return list(self.xshapes)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        dy = x[0]
        xs = [_placeholder(s, dy.dtype) for s in self.xshapes]
        grads = self._fwd.backward_impl(xp, xs, [_placeholder(self._y_shape, dy.dtype)], [dy], [True] * len(xs))
        return [np.zeros(s, dy.dtype) if g is None else np.array(np.broadcast_to(g, s), dy.dtype) for g, s in zip(grads, self.xshapes)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None]
        return [self._fwd.forward_impl(xp, list(dy))[0]]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None]
        return [self._new_forward()(*dy)]


class _Bilinear(_ForwardBacked):
    """Shared setup of the data and filter gradients of a bilinear ``f(x, w)``."""

    grad_depends_input = True
    grad_depends_output = False
    filter_grad_class: ClassVar[Any] = None
    data_grad_class: ClassVar[Any] = None

    def _shape_attribute(self, name: str) -> tuple[int, ...]:
        shape = self.__dict__.get("_" + name)
        if shape is None:
            raise RuntimeError(f"{self.name}: set {name} before calling it.")
        return shape

    def _set_shape_attribute(self, name: str, shape: Any) -> None:
        self.__dict__["_" + name] = tuple(int(s) for s in shape)


class _LinearDataGrad(_Bilinear):
    """``dx`` of ``y = f(x, w)`` from ``(dy, w)``; set ``xshape`` first."""

    input_names = ("dy", "w")
    output_names = ("dx",)

    @property
    def xshape(self) -> tuple[int, ...]:
        return self._shape_attribute("xshape")

    @xshape.setter
    def xshape(self, shape: Any) -> None:
        self._set_shape_attribute("xshape", shape)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        w_shape = tuple(inputs[1].shape)
        out = self._setup_forward([self.xshape, w_shape])
        if tuple(inputs[0].shape) != out[0]:
            raise self.fail("dy", f"the output shape of {self.forward_class.name}: {out[0]}", f"dy.shape={tuple(inputs[0].shape)}")
        self._y_shape = out[0]
        return [self.xshape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        dy, w = x
        grads = self._fwd.backward_impl(xp, [_placeholder(self.xshape, dy.dtype), w], [_placeholder(self._y_shape, dy.dtype)], [dy], [True, False])
        return [np.array(grads[0], dy.dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d_y, w = x
        gdx = dy[0]
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = self._fwd.forward_impl(xp, [gdx, w])[0]
        if need[1]:
            grads[1] = self._fwd.backward_impl(xp, [gdx, w], [d_y], [d_y], [False, True])[1]
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d_y, w = x
        gdx = dy[0]
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = self._new_forward()(gdx, w)
        if need[1]:
            helper = self.filter_grad_class(**{name: getattr(self, name) for name in self.args_spec})
            helper.context = self.context
            helper.wshape = tuple(w.shape)
            grads[1] = helper(d_y, gdx)
        return grads


class _LinearFilterGrad(_Bilinear):
    """``dw`` of ``y = f(x, w)`` from ``(dy, x)``; set ``wshape`` first."""

    input_names = ("dy", "x")
    output_names = ("dw",)

    @property
    def wshape(self) -> tuple[int, ...]:
        return self._shape_attribute("wshape")

    @wshape.setter
    def wshape(self, shape: Any) -> None:
        self._set_shape_attribute("wshape", shape)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x_shape = tuple(inputs[1].shape)
        out = self._setup_forward([x_shape, self.wshape])
        if tuple(inputs[0].shape) != out[0]:
            raise self.fail("dy", f"the output shape of {self.forward_class.name}: {out[0]}", f"dy.shape={tuple(inputs[0].shape)}")
        self._y_shape = out[0]
        return [self.wshape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        dy, inp = x
        grads = self._fwd.backward_impl(xp, [inp, _placeholder(self.wshape, dy.dtype)], [_placeholder(self._y_shape, dy.dtype)], [dy], [False, True])
        return [np.array(grads[1], dy.dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d_y, inp = x
        gdw = dy[0]
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = self._fwd.forward_impl(xp, [inp, gdw])[0]
        if need[1]:
            grads[1] = self._fwd.backward_impl(xp, [inp, gdw], [d_y], [d_y], [True, False])[0]
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d_y, inp = x
        gdw = dy[0]
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = self._new_forward()(inp, gdw)
        if need[1]:
            helper = self.data_grad_class(**{name: getattr(self, name) for name in self.args_spec})
            helper.context = self.context
            helper.xshape = tuple(inp.shape)
            grads[1] = helper(d_y, gdw)
        return grads
