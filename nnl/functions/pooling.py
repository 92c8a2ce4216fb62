"""Pooling: max, average, sum, global average, unpooling, and the backward of max pooling as a function.

Windows follow nnabla exactly (see ``_pool_kernels``): ``stride`` defaults to ``kernel``, ``pad`` to zeros, the
pooled axes are the last ``len(kernel)`` ones (the ones before the last axis when ``channel_last``), any number
of them (1-d, 2-d, 3-d, ...). ``ignore_border=False`` adds the partial windows at the end; max pooling takes the
first maximum of each window over the positions inside the input (padding never wins); average pooling divides
by the window size clipped to the padded input (``including_pad=True``) or by the number of input positions in it.

Every gradient is differentiable again (``grad_graph``): max pooling's gradient is ``MaxPoolingBackward``, whose
gradient with respect to ``dy`` gathers at the arg-max positions; the linear poolings' gradients are helper
functions (``AveragePoolingDataGrad`` ...) whose own gradient is the pooling again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Function, Shape
from nnl.functions import _pool_kernels as K
from nnl.functions.registry import api


def _int_tuple(value: Any) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    return tuple(int(v) for v in value)


class _Pooling(Function):
    """Shared arguments and validation of MaxPooling, AveragePooling, SumPooling and MaxPoolingBackward."""

    kernel: Shape
    stride: Shape = None
    ignore_border: Bool = True
    pad: Shape = None
    channel_last: Bool = False

    grad_depends_input = False
    _x_index = 0  # which input is the pooled x

    def _configure(self, x_shape: tuple[int, ...]) -> K.PoolGeometry:
        """Validate the arguments against ``x_shape``, fill the defaults and compute the windows."""
        try:
            kernel = _int_tuple(self.kernel)
        except TypeError:
            raise self.fail("kernel", "a tuple of ints", self.kernel) from None
        if not kernel or any(k < 1 for k in kernel):
            raise self.fail("kernel", "a non-empty tuple of positive ints", kernel)
        stride = kernel if self.stride is None else _int_tuple(self.stride)
        pad = (0,) * len(kernel) if self.pad is None else _int_tuple(self.pad)
        if len(stride) != len(kernel) or any(s < 1 for s in stride):
            raise self.fail("stride", f"{len(kernel)} positive ints (one per kernel axis, kernel={kernel})", stride)
        if len(pad) != len(kernel) or any(p < 0 for p in pad):
            raise self.fail("pad", f"{len(kernel)} non-negative ints (one per kernel axis, kernel={kernel})", pad)
        ndim = len(x_shape)
        needed = len(kernel) + (1 if self.channel_last else 0)
        if ndim < needed:
            what = "the kernel axes plus a channel axis (channel_last=True)" if self.channel_last else "the kernel axes"
            raise self.fail("kernel", f"at most as many axes as x has ({what}): x.shape={tuple(x_shape)}", kernel)
        self.kernel, self.stride, self.pad = kernel, stride, pad
        return K.geometry(tuple(x_shape), kernel, stride, pad, bool(self.ignore_border), bool(self.channel_last))

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        self._geom = self._configure(tuple(inputs[self._x_index].shape))
        return [self._geom.out_shape]

    def _geometry_for(self, shape: tuple[int, ...]) -> K.PoolGeometry:
        g = self.__dict__.get("_geom")
        if g is None or g.in_shape != tuple(shape):
            g = self._geom = self._configure(tuple(shape))
        return g

    def _pool_args(self) -> tuple[Any, ...]:
        return (self.kernel, self.stride, self.ignore_border, self.pad, self.channel_last)


# -- max pooling ---------------------------------------------------------------------------------------------
class MaxPooling(_Pooling):
    """Max pooling: the first maximum of each window (over the positions inside the input)."""

    grad_depends_input = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [K.max_pool(x[0], self._geometry_for(x[0].shape))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = self._geometry_for(x[0].shape)
        _, idx = K.max_pool_argmax(x[0], g)
        return [K.max_pool_route(dy[0], idx, g, x[0].dtype)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.max_pooling_backward(dy[0], x[0], *self._pool_args())]


@api(MaxPooling)
def max_pooling(x: Any, kernel: Any, stride: Any = None, ignore_border: bool = True, pad: Any = None, channel_last: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MaxPooling(kernel, stride, ignore_border, pad, channel_last)(x, n_outputs=n_outputs, outputs=outputs)


class MaxPoolingBackward(_Pooling):
    """The gradient of max pooling as a function: ``dy`` routed to the arg-max of each window of ``x``.

    Output ``dx`` has the shape of ``x``; its gradient with respect to ``dy`` gathers at the same arg-max
    positions, and it is piecewise constant in ``x`` (no gradient flows to ``x``).
    """

    input_names = ("dy", "x")
    output_names = ("dx",)
    grad_depends_input = (1,)
    _x_index = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        dy_shape, x_shape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        self._geom = self._configure(x_shape)
        if dy_shape != self._geom.out_shape:
            raise self.fail("dy", f"the shape of max_pooling's output for x.shape={x_shape}: {self._geom.out_shape}", f"dy.shape={dy_shape}")
        return [x_shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        g = self._geometry_for(x[1].shape)
        _, idx = K.max_pool_argmax(x[1], g)
        return [K.max_pool_route(x[0], idx, g)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        grads: list[Any] = [None, None]
        if need[0]:
            g = self._geometry_for(x[1].shape)
            _, idx = K.max_pool_argmax(x[1], g)
            grads[0] = K.max_pool_gather(dy[0], idx, g)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        return [MaxPoolingBackwardDataGrad(*self._pool_args())(dy[0], x[1]), None]


@api(MaxPoolingBackward)
def max_pooling_backward(dy: Any, x: Any, kernel: Any, stride: Any = None, ignore_border: bool = True, pad: Any = None, channel_last: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MaxPoolingBackward(kernel, stride, ignore_border, pad, channel_last)(dy, x, n_outputs=n_outputs, outputs=outputs)


class MaxPoolingBackwardDataGrad(_Pooling):
    """(helper, not in the registry) ``gdx`` read at the arg-max of each window of ``x``: the gradient of
    ``MaxPoolingBackward`` with respect to ``dy``. Its own gradient is ``MaxPoolingBackward`` again."""

    input_names = ("gdx", "x")
    output_names = ("gdy",)
    grad_depends_input = (1,)
    _x_index = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        gdx_shape, x_shape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if gdx_shape != x_shape:
            raise self.fail("gdx", f"the shape of x: {x_shape}", f"gdx.shape={gdx_shape}")
        self._geom = self._configure(x_shape)
        return [self._geom.out_shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        g = self._geometry_for(x[1].shape)
        _, idx = K.max_pool_argmax(x[1], g)
        return [K.max_pool_gather(x[0], idx, g)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        grads: list[Any] = [None, None]
        if need[0]:
            g = self._geometry_for(x[1].shape)
            _, idx = K.max_pool_argmax(x[1], g)
            grads[0] = K.max_pool_route(dy[0], idx, g, x[0].dtype)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if not need[0]:
            return [None, None]
        return [F.max_pooling_backward(dy[0], x[1], *self._pool_args()), None]


# -- sum and average pooling ---------------------------------------------------------------------------------------
class SumPooling(_Pooling):
    """Sum pooling: the sum of each window (over the positions inside the input)."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [K.sum_pool(x[0], self._geometry_for(x[0].shape))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [K.sum_pool_backward(dy[0], self._geom)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [_data_grad(SumPoolingDataGrad(*self._pool_args()), x[0].shape)(dy[0])]


@api(SumPooling)
def sum_pooling(x: Any, kernel: Any, stride: Any = None, ignore_border: bool = True, pad: Any = None, channel_last: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return SumPooling(kernel, stride, ignore_border, pad, channel_last)(x, n_outputs=n_outputs, outputs=outputs)


class AveragePooling(_Pooling):
    """Average pooling; the divisor counts the padding when ``including_pad`` (nnabla's default)."""

    including_pad: Bool = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [K.average_pool(x[0], self._geometry_for(x[0].shape), bool(self.including_pad))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [K.average_pool_backward(dy[0], self._geom, bool(self.including_pad))]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [_data_grad(AveragePoolingDataGrad(*self._pool_args(), self.including_pad), x[0].shape)(dy[0])]


@api(AveragePooling)
def average_pooling(x: Any, kernel: Any, stride: Any = None, ignore_border: bool = True, pad: Any = None, channel_last: bool = False, including_pad: bool = True, n_outputs: int = -1, outputs: Any = None) -> Any:
    return AveragePooling(kernel, stride, ignore_border, pad, channel_last, including_pad)(x, n_outputs=n_outputs, outputs=outputs)


def _data_grad(function: Function, x_shape: tuple[int, ...]) -> Function:
    function.x_shape = tuple(x_shape)
    return function


class _PoolingDataGrad(_Pooling):
    """(helper) The gradient of a linear pooling with respect to its input, as a function of ``dy``.

    ``x_shape`` (the pooled input's shape) is set on the instance before it is called.
    """

    input_names = ("dy",)
    output_names = ("dx",)
    x_shape = ()

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        self._geom = self._configure(self.x_shape)
        if tuple(inputs[0].shape) != self._geom.out_shape:
            raise self.fail("dy", f"the pooled shape {self._geom.out_shape} of x.shape={self.x_shape}", f"dy.shape={tuple(inputs[0].shape)}")
        return [self.x_shape]


class SumPoolingDataGrad(_PoolingDataGrad):
    """(helper) ``dx`` of sum pooling from ``dy``; its gradient is sum pooling."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [K.sum_pool_backward(x[0], self._geometry_for(self.x_shape))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [K.sum_pool(dy[0], self._geom)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.sum_pooling(dy[0], *self._pool_args())]


class AveragePoolingDataGrad(_PoolingDataGrad):
    """(helper) ``dx`` of average pooling from ``dy``; its gradient is average pooling."""

    including_pad: Bool = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [K.average_pool_backward(x[0], self._geometry_for(self.x_shape), bool(self.including_pad))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [K.average_pool(dy[0], self._geom, bool(self.including_pad))]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.average_pooling(dy[0], *self._pool_args(), self.including_pad)]


# -- global average pooling ------------------------------------------------------------------------------------------
class GlobalAveragePooling(Function):
    """The mean over every axis after the first two: ``(N, C, ...) -> (N, C, 1, 1)``."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if len(shape) < 2:
            raise self.fail("x", "an array of at least 2 dimensions (batch, channel, ...)", f"x.shape={shape}")
        self._x_shape = shape
        return [(shape[0], shape[1], 1, 1)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = x[0]
        flat = a.reshape(a.shape[0], a.shape[1], -1)
        return [flat.mean(axis=2, dtype=a.dtype).reshape(a.shape[0], a.shape[1], 1, 1)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [_global_average_backward(dy[0], self._x_shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        helper = GlobalAveragePoolingDataGrad()
        helper.x_shape = tuple(x[0].shape)
        return [helper(dy[0])]


def _global_average_backward(dy: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(x_shape[2:], dtype=np.int64))
    out = np.empty((x_shape[0], x_shape[1], count), dy.dtype)
    out[...] = dy.reshape(x_shape[0], x_shape[1], 1) / dy.dtype.type(max(count, 1))
    return out.reshape(x_shape)


@api(GlobalAveragePooling)
def global_average_pooling(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return GlobalAveragePooling()(x, n_outputs=n_outputs, outputs=outputs)


class GlobalAveragePoolingDataGrad(Function):
    """(helper) ``dx`` of global average pooling from ``dy``; its gradient is global average pooling."""

    input_names = ("dy",)
    output_names = ("dx",)
    grad_depends_input = False
    x_shape = ()

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        expected = (self.x_shape[0], self.x_shape[1], 1, 1)
        if tuple(inputs[0].shape) != expected:
            raise self.fail("dy", f"shape {expected}", f"dy.shape={tuple(inputs[0].shape)}")
        return [self.x_shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [_global_average_backward(x[0], self.x_shape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        a = dy[0]
        flat = a.reshape(a.shape[0], a.shape[1], -1)
        return [flat.mean(axis=2, dtype=a.dtype).reshape(a.shape[0], a.shape[1], 1, 1)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.global_average_pooling(dy[0])]


# -- unpooling -----------------------------------------------------------------------------------------------------
class Unpooling(Function):
    """Nearest-neighbour upsampling: each element repeated ``kernel[i]`` times along spatial axis ``i``."""

    kernel: Shape
    channel_last: Bool = False
    grad_depends_input = False

    def _configure(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        try:
            kernel = _int_tuple(self.kernel)
        except TypeError:
            raise self.fail("kernel", "a tuple of ints", self.kernel) from None
        if not kernel or any(k < 1 for k in kernel):
            raise self.fail("kernel", "a non-empty tuple of positive ints", kernel)
        needed = len(kernel) + (1 if self.channel_last else 0)
        if len(x_shape) < needed:
            what = "the kernel axes plus a channel axis (channel_last=True)" if self.channel_last else "the kernel axes"
            raise self.fail("kernel", f"at most as many axes as x has ({what}): x.shape={tuple(x_shape)}", kernel)
        self.kernel = kernel
        self._axes = K.spatial_axes(len(x_shape), len(kernel), bool(self.channel_last))
        return tuple(n * kernel[self._axes.index(a)] if a in self._axes else n for a, n in enumerate(x_shape))

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [self._configure(tuple(inputs[0].shape))]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        self._configure(x[0].shape)
        return [K.unpool(x[0], self._axes, self.kernel)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [K.unpool_backward(dy[0], self._axes, self.kernel)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        helper = UnpoolingDataGrad(self.kernel, self.channel_last)
        helper.x_shape = tuple(x[0].shape)
        return [helper(dy[0])]


@api(Unpooling)
def unpooling(x: Any, kernel: Any, channel_last: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Unpooling(kernel, channel_last)(x, n_outputs=n_outputs, outputs=outputs)


class UnpoolingDataGrad(Unpooling):
    """(helper) ``dx`` of unpooling from ``dy`` (block sums); its gradient is unpooling."""

    input_names = ("dy",)
    output_names = ("dx",)
    x_shape = ()

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        expected = self._configure(self.x_shape)
        if tuple(inputs[0].shape) != expected:
            raise self.fail("dy", f"shape {expected}", f"dy.shape={tuple(inputs[0].shape)}")
        return [self.x_shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [K.unpool_backward(x[0], self._axes, self.kernel)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [K.unpool(dy[0], self._axes, self.kernel)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.unpooling(dy[0], self.kernel, self.channel_last)]
