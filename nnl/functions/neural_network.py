"""Neural Network Layer: affine and (later in this module) the convolution family and embedding."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnl.core.function import Bool, Float, Floats, Function, Int64, Shape, String
from nnl.functions import _conv_kernels as ck
from nnl.functions.registry import api


class Affine(Function):
    """Fully connected layer: ``y = x W + b`` with ``x`` flattened from ``base_axis`` on.

    ``weight`` has shape ``(in_features, *out_shape)``; ``bias`` (optional) has shape ``out_shape``.
    """

    input_names = ("x", "weight", "bias?")
    base_axis: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w = inputs[0], inputs[1]
        if not -len(x.shape) <= self.base_axis < max(len(x.shape), 1):
            raise self.fail("base_axis", f"an axis of x (x.shape={x.shape})", self.base_axis)
        self._axis = self.base_axis % len(x.shape) if x.shape else 0  # negative counts from the end
        if len(w.shape) < 2:
            raise self.fail("weight", "a weight of at least 2 dimensions (in_features, *out_shape)", f"weight.shape={w.shape}")
        in_features = int(np.prod(x.shape[self._axis :], dtype=np.int64))
        if in_features != w.shape[0]:
            raise self.fail(
                "weight",
                f"weight.shape[0] == {in_features}",
                f"weight.shape={w.shape}",
                f"x.shape={x.shape} with base_axis={self.base_axis} gives {in_features} input features, "
                f"but weight.shape={w.shape} expects {w.shape[0]}.",
            )
        out_shape = tuple(w.shape[1:])
        if len(inputs) > 2 and tuple(inputs[2].shape) != out_shape:
            raise self.fail("bias", f"bias.shape == {out_shape} (weight.shape[1:])", f"bias.shape={inputs[2].shape}")
        return [tuple(x.shape[: self._axis]) + out_shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data, w = x[0], x[1]
        batch = data.shape[: self._axis]
        y = data.reshape(int(np.prod(batch, dtype=np.int64)), w.shape[0]) @ w.reshape(w.shape[0], -1)
        if len(x) > 2:
            y += x[2].reshape(1, -1)
        return [y.reshape(batch + w.shape[1:])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        data, w = x[0], x[1]
        rows = int(np.prod(data.shape[: self._axis], dtype=np.int64))
        g = dy[0].reshape(rows, -1)
        w2 = w.reshape(w.shape[0], -1)
        grads: list[Any] = [None] * len(x)
        if need[0]:
            grads[0] = (g @ w2.T).reshape(data.shape)
        if need[1]:
            grads[1] = (data.reshape(rows, -1).T @ g).reshape(w.shape)
        if len(x) > 2 and need[2]:
            grads[2] = g.sum(axis=0).reshape(x[2].shape)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        data, w = x[0], x[1]
        rows = int(np.prod(data.shape[: self._axis], dtype=np.int64))
        g = F.reshape(dy[0], (rows, -1))
        w2 = F.reshape(w, (w.shape[0], -1))
        grads: list[Any] = [None] * len(x)
        if need[0]:
            grads[0] = F.reshape(F.batch_matmul(g, w2, transpose_b=True), data.shape)
        if need[1]:
            grads[1] = F.reshape(F.batch_matmul(F.reshape(data, (rows, -1)), g, transpose_a=True), w.shape)
        if len(x) > 2 and need[2]:
            grads[2] = F.reshape(F.sum(g, axis=0), x[2].shape)
        return grads


@api(Affine)
def affine(x: Any, weight: Any, bias: Any = None, base_axis: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Affine(base_axis)(*inputs, n_outputs=n_outputs, outputs=outputs)


# -- the convolution family ------------------------------------------------------------------------------------
# Kernels work on a canonical layout (batch flattened to one axis, channels first, weight (OC, C/group, *K)); the
# classes below only validate, convert layouts and pick the kernel (see nnl/functions/_conv_kernels.py).


class _Layout:
    """Where batch, channel and spatial axes are, computed once in ``setup_impl``."""

    def __init__(self, shape: tuple, base_axis: int, channel_last: bool) -> None:
        self.batch_shape = tuple(shape[:base_axis])
        self.batch = int(np.prod(self.batch_shape, dtype=np.int64))
        self.channel_last = channel_last
        rest = tuple(shape[base_axis:])
        self.channels = rest[-1] if channel_last else rest[0]
        self.spatial = rest[:-1] if channel_last else rest[1:]

    def to_cf(self, a: Any) -> Any:
        """``(*batch, C, *S)`` or ``(*batch, *S, C)`` to the canonical ``(B, C, *S)`` (a view where possible)."""
        a = a.reshape((self.batch,) + a.shape[len(self.batch_shape) :])
        return np.moveaxis(a, -1, 1) if self.channel_last else a

    def from_cf(self, a: Any) -> Any:
        """The canonical ``(B, C, *S)`` back to this layout (a new contiguous array)."""
        if self.channel_last:
            a = np.moveaxis(a, 1, -1)
        return np.ascontiguousarray(a.reshape(self.batch_shape + a.shape[1:]))

    def shape_of(self, channels: int, spatial: tuple) -> tuple:
        if self.channel_last:
            return self.batch_shape + tuple(spatial) + (channels,)
        return self.batch_shape + (channels,) + tuple(spatial)

    def reduce_axes(self, ndim: int) -> list[int]:
        """Every axis but the channel axis (for bias gradients)."""
        channel_axis = ndim - 1 if self.channel_last else len(self.batch_shape)
        return [i for i in range(ndim) if i != channel_axis]


def _weight_to_cf(w: Any, channel_last: bool) -> Any:
    return np.moveaxis(w, -1, 1) if channel_last else w


def _weight_from_cf(w: Any, channel_last: bool) -> Any:
    return np.ascontiguousarray(np.moveaxis(w, 1, -1)) if channel_last else w


def _bias_shape(ndim_cf: int) -> tuple:
    return (1, -1) + (1,) * (ndim_cf - 2)


class _SpatialFunction(Function):
    """Shared validation of ``base_axis``, ``pad``, ``stride`` and ``dilation`` (N-d, expression defaults)."""

    base_axis: Int64 = 1
    pad: Shape = None
    stride: Shape = None
    dilation: Shape = None

    def _spatial_args(self, x_shape: tuple, channel_last: bool, max_dims: int | None = None) -> _Layout:
        ndim = len(x_shape)
        base_axis = self.base_axis + ndim if self.base_axis < 0 else self.base_axis
        if not 0 <= base_axis < ndim - 1:
            raise self.fail(
                "base_axis",
                f"an axis in [-{ndim}, {ndim - 1}) leaving room for channel and spatial axes",
                self.base_axis,
                f"x.shape={tuple(x_shape)}.",
            )
        self._base_axis = base_axis
        n = ndim - base_axis - 1
        if max_dims is not None and n > max_dims:
            raise self.fail(
                "x",
                f"at most {max_dims} spatial dimensions",
                f"x.shape={tuple(x_shape)} with base_axis={self.base_axis}",
            )
        for name, default in (("pad", 0), ("stride", 1), ("dilation", 1)):
            value = getattr(self, name)
            value = (default,) * n if value is None else tuple(int(v) for v in value)
            if len(value) != n:
                raise self.fail(
                    name,
                    f"{n} values (one per spatial dimension of x.shape={tuple(x_shape)}, base_axis={self.base_axis})",
                    value,
                )
            if name != "pad" and any(v < 1 for v in value) or name == "pad" and any(v < 0 for v in value):
                raise self.fail(name, "non-negative values" if name == "pad" else "positive values", value)
            setattr(self, name, value)
        return _Layout(tuple(x_shape), base_axis, channel_last)

    def _kernel(self, w_shape: tuple, n: int, channel_last: bool) -> tuple:
        if len(w_shape) != n + 2:
            raise self.fail(
                "weight", f"a {n + 2}-D weight for {n} spatial dimensions", f"weight.shape={tuple(w_shape)}"
            )
        return tuple(w_shape[1:-1]) if channel_last else tuple(w_shape[2:])

    def _check_bias(self, inputs: list[Any], index: int, channels: int) -> None:
        if len(inputs) > index and tuple(inputs[index].shape) != (channels,):
            raise self.fail("bias", f"bias.shape == ({channels},)", f"bias.shape={tuple(inputs[index].shape)}")

    def _geometry(self) -> tuple:
        return self.pad, self.stride, self.dilation


class Convolution(_SpatialFunction):
    """N-D convolution ``y[n, o, *p] = sum_{c, k} w[o, c, *k] x[n, g(o) c, *(p * stride + k * dilation - pad)] + b[o]``.

    ``x``: ``(*batch, C, *S)`` (``(*batch, *S, C)`` with ``channel_last``), ``weight``: ``(OC, C / group, *K)``
    (``(OC, *K, C / group)``), ``bias``: ``(OC,)``.
    """

    input_names = ("x", "weight", "bias?")
    group: Int64 = 1
    channel_last: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w = inputs[0], inputs[1]
        lay = self._spatial_args(x.shape, self.channel_last)
        kernel = self._kernel(w.shape, len(lay.spatial), self.channel_last)
        w_channels = w.shape[-1] if self.channel_last else w.shape[1]
        if self.group < 1 or lay.channels % self.group or w.shape[0] % self.group:
            raise self.fail(
                "group",
                f"a divisor of the input channels ({lay.channels}) and output channels ({w.shape[0]})",
                self.group,
            )
        if lay.channels // self.group != w_channels:
            raise self.fail(
                "weight",
                f"{lay.channels // self.group} channels per group (x has {lay.channels}, group={self.group})",
                f"weight.shape={tuple(w.shape)}",
            )
        out = tuple(ck.out_size(*a) for a in zip(lay.spatial, kernel, self.pad, self.stride, self.dilation))
        if any(o <= 0 for o in out):
            raise self.fail(
                "x",
                "a spatial size at least the dilated kernel size (after padding)",
                f"x spatial shape {lay.spatial}, kernel {kernel}, pad {self.pad}, dilation {self.dilation}",
            )
        self._check_bias(inputs, 2, w.shape[0])
        self._lay, self._out = lay, out
        return [lay.shape_of(w.shape[0], out)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        lay = self._lay
        y = ck.conv_forward(lay.to_cf(x[0]), _weight_to_cf(x[1], self.channel_last), self.group, *self._geometry())
        if len(x) > 2:
            y += x[2].reshape(_bias_shape(y.ndim)).astype(y.dtype, copy=False)
        return [lay.from_cf(y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        lay = self._lay
        g = lay.to_cf(dy[0])
        grads: list[Any] = [None] * len(x)
        if need[0]:
            w = _weight_to_cf(x[1], self.channel_last)
            grads[0] = lay.from_cf(ck.conv_backward_data(g, w, self.group, lay.spatial, *self._geometry()))
        if need[1]:
            w_shape = _weight_to_cf(x[1], self.channel_last).shape
            dw = ck.conv_backward_filter(g, lay.to_cf(x[0]), w_shape, self.group, *self._geometry())
            grads[1] = _weight_from_cf(dw, self.channel_last)
        if len(x) > 2 and need[2]:
            grads[2] = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        lay = self._lay
        kernel = self._kernel(x[1].shape, len(lay.spatial), self.channel_last)
        grads: list[Any] = [None] * len(x)
        if need[0]:
            op = ck.adjoint_output_padding(lay.spatial, self._out, kernel, *self._geometry())
            grads[0] = F.deconvolution(
                dy[0],
                x[1],
                None,
                self.base_axis,
                self.pad,
                self.stride,
                self.dilation,
                self.group,
                self.channel_last,
                op,
            )
        if need[1]:
            grads[1] = ConvolutionFilterGrad(
                self.base_axis, self.pad, self.stride, self.dilation, self.group, self.channel_last, tuple(x[1].shape)
            )(dy[0], x[0])
        if len(x) > 2 and need[2]:
            grads[2] = F.sum(dy[0], axis=lay.reduce_axes(len(dy[0].shape)))
        return grads


@api(Convolution)
def convolution(
    x: Any,
    weight: Any,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Convolution(base_axis, pad, stride, dilation, group, channel_last)(
        *inputs, n_outputs=n_outputs, outputs=outputs
    )


class ConvolutionFilterGrad(_SpatialFunction):
    """The weight gradient of a convolution as a function: the correlation of ``x`` (big) with ``dy`` (small).

    Inputs ``(dy, x)`` in convolution orientation (for a deconvolution: ``(x, dy)``); output shape ``wshape``.
    Bilinear, so its own gradients are a convolution (in ``dy``) and a deconvolution (in ``x``).
    """

    input_names = ("dy", "x")
    group: Int64 = 1
    channel_last: Bool = False
    wshape: Shape = ()

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        small, big = inputs
        self._lay_big = self._spatial_args(big.shape, self.channel_last)
        self._lay_small = _Layout(tuple(small.shape), self._base_axis, self.channel_last)
        self.wshape = tuple(int(s) for s in self.wshape)
        self._kernel_shape = self._kernel(self.wshape, len(self._lay_big.spatial), self.channel_last)
        return [self.wshape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        w_shape = _weight_to_cf(np.empty(self.wshape, np.bool_), self.channel_last).shape
        dw = ck.conv_backward_filter(
            self._lay_small.to_cf(x[0]), self._lay_big.to_cf(x[1]), w_shape, self.group, *self._geometry()
        )
        return [_weight_from_cf(dw, self.channel_last)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = _weight_to_cf(dy[0], self.channel_last)
        grads: list[Any] = [None, None]
        if need[0]:
            small = ck.conv_forward(self._lay_big.to_cf(x[1]), g, self.group, *self._geometry())
            grads[0] = self._lay_small.from_cf(small)
        if need[1]:
            big = ck.conv_backward_data(
                self._lay_small.to_cf(x[0]), g, self.group, self._lay_big.spatial, *self._geometry()
            )
            grads[1] = self._lay_big.from_cf(big)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = F.convolution(
                x[1], dy[0], None, self.base_axis, self.pad, self.stride, self.dilation, self.group, self.channel_last
            )
        if need[1]:
            op = ck.adjoint_output_padding(
                self._lay_big.spatial, self._lay_small.spatial, self._kernel_shape, *self._geometry()
            )
            grads[1] = F.deconvolution(
                x[0],
                dy[0],
                None,
                self.base_axis,
                self.pad,
                self.stride,
                self.dilation,
                self.group,
                self.channel_last,
                op,
            )
        return grads


class Deconvolution(_SpatialFunction):
    """N-D deconvolution (transposed convolution): the adjoint of ``Convolution`` in its data, plus a bias.

    ``x``: ``(*batch, C, *S)``, ``weight``: ``(C, OC / group, *K)``, output spatial size
    ``stride (S - 1) + dilation (K - 1) + 1 - 2 pad + output_padding``, ``bias``: ``(OC,)``.
    """

    input_names = ("x", "weight", "bias?")
    group: Int64 = 1
    channel_last: Bool = False
    output_padding: Shape = None

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w = inputs[0], inputs[1]
        lay = self._spatial_args(x.shape, self.channel_last)
        n = len(lay.spatial)
        kernel = self._kernel(w.shape, n, self.channel_last)
        op = (0,) * n if self.output_padding is None else tuple(int(v) for v in self.output_padding)
        if len(op) != n:
            raise self.fail("output_padding", f"{n} values (one per spatial dimension)", op)
        if any(not 0 <= p < s for p, s in zip(op, self.stride)):
            raise self.fail("output_padding", f"values in [0, stride) with stride={self.stride}", op)
        self.output_padding = op
        if self.group < 1 or w.shape[0] % self.group:
            raise self.fail("group", f"a divisor of weight.shape[0]={w.shape[0]}", self.group)
        if lay.channels != w.shape[0]:
            raise self.fail(
                "weight", f"weight.shape[0] == {lay.channels} (the channels of x)", f"weight.shape={tuple(w.shape)}"
            )
        w_channels = w.shape[-1] if self.channel_last else w.shape[1]
        out_channels = w_channels * self.group
        big = tuple(ck.deconv_out_size(*a) for a in zip(lay.spatial, kernel, self.pad, self.stride, self.dilation, op))
        if any(b <= 0 for b in big):
            raise self.fail(
                "pad", "a padding smaller than the output size it removes", self.pad, f"output spatial shape {big}"
            )
        self._check_bias(inputs, 2, out_channels)
        self._lay, self._big = lay, big
        self._out_lay = _Layout(lay.shape_of(out_channels, big), self._base_axis, self.channel_last)
        return [lay.shape_of(out_channels, big)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        w = _weight_to_cf(x[1], self.channel_last)
        y = ck.conv_backward_data(self._lay.to_cf(x[0]), w, self.group, self._big, *self._geometry())
        if len(x) > 2:
            y += x[2].reshape(_bias_shape(y.ndim)).astype(y.dtype, copy=False)
        return [self._out_lay.from_cf(y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = self._out_lay.to_cf(dy[0])
        grads: list[Any] = [None] * len(x)
        if need[0]:
            w = _weight_to_cf(x[1], self.channel_last)
            grads[0] = self._lay.from_cf(ck.conv_forward(g, w, self.group, *self._geometry()))
        if need[1]:
            w_shape = _weight_to_cf(x[1], self.channel_last).shape
            dw = ck.conv_backward_filter(self._lay.to_cf(x[0]), g, w_shape, self.group, *self._geometry())
            grads[1] = _weight_from_cf(dw, self.channel_last)
        if len(x) > 2 and need[2]:
            grads[2] = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        grads: list[Any] = [None] * len(x)
        if need[0]:
            grads[0] = F.convolution(
                dy[0], x[1], None, self.base_axis, self.pad, self.stride, self.dilation, self.group, self.channel_last
            )
        if need[1]:
            grads[1] = ConvolutionFilterGrad(
                self.base_axis, self.pad, self.stride, self.dilation, self.group, self.channel_last, tuple(x[1].shape)
            )(x[0], dy[0])
        if len(x) > 2 and need[2]:
            grads[2] = F.sum(dy[0], axis=self._out_lay.reduce_axes(len(dy[0].shape)))
        return grads


@api(Deconvolution)
def deconvolution(
    x: Any,
    weight: Any,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    output_padding: Any = None,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight) if bias is None else (x, weight, bias)
    function = Deconvolution(base_axis, pad, stride, dilation, group, channel_last, output_padding)
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


class DepthwiseConvolution(_SpatialFunction):
    """Depthwise convolution: each input channel ``c`` is convolved with ``multiplier`` kernels of its own.

    ``weight``: ``(C * multiplier, *K)``; output channel ``c * multiplier + j`` (a grouped convolution with
    ``group = C``).
    """

    input_names = ("x", "weight", "bias?")
    multiplier: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w = inputs[0], inputs[1]
        lay = self._spatial_args(x.shape, False)
        n = len(lay.spatial)
        if len(w.shape) != n + 1:
            raise self.fail("weight", f"a {n + 1}-D weight (C * multiplier, *kernel)", f"weight.shape={tuple(w.shape)}")
        if self.multiplier < 1:
            raise self.fail("multiplier", "a positive integer", self.multiplier)
        out_channels = lay.channels * self.multiplier
        if w.shape[0] != out_channels:
            raise self.fail(
                "weight",
                f"weight.shape[0] == {out_channels} (channels {lay.channels} * multiplier {self.multiplier})",
                f"weight.shape={tuple(w.shape)}",
            )
        kernel = tuple(w.shape[1:])
        out = tuple(ck.out_size(*a) for a in zip(lay.spatial, kernel, self.pad, self.stride, self.dilation))
        if any(o <= 0 for o in out):
            raise self.fail(
                "x", "a spatial size at least the dilated kernel size (after padding)", f"x.shape={tuple(x.shape)}"
            )
        self._check_bias(inputs, 2, out_channels)
        self._lay, self._out, self._kernel_shape = lay, out, kernel
        self._w_cf = (out_channels, 1) + kernel
        return [lay.shape_of(out_channels, out)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        lay = self._lay
        y = ck.conv_forward(lay.to_cf(x[0]), x[1].reshape(self._w_cf), lay.channels, *self._geometry())
        if len(x) > 2:
            y += x[2].reshape(_bias_shape(y.ndim)).astype(y.dtype, copy=False)
        return [lay.from_cf(y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        lay = self._lay
        g = lay.to_cf(dy[0])
        grads: list[Any] = [None] * len(x)
        if need[0]:
            dx = ck.conv_backward_data(g, x[1].reshape(self._w_cf), lay.channels, lay.spatial, *self._geometry())
            grads[0] = lay.from_cf(dx)
        if need[1]:
            dw = ck.conv_backward_filter(g, lay.to_cf(x[0]), self._w_cf, lay.channels, *self._geometry())
            grads[1] = dw.reshape(x[1].shape)
        if len(x) > 2 and need[2]:
            grads[2] = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        lay = self._lay
        grads: list[Any] = [None] * len(x)
        if need[0]:
            op = ck.adjoint_output_padding(lay.spatial, self._out, self._kernel_shape, *self._geometry())
            w = F.reshape(x[1], self._w_cf)
            grads[0] = F.deconvolution(
                dy[0], w, None, self.base_axis, self.pad, self.stride, self.dilation, lay.channels, False, op
            )
        if need[1]:
            dw = ConvolutionFilterGrad(
                self.base_axis, self.pad, self.stride, self.dilation, lay.channels, False, self._w_cf
            )(dy[0], x[0])
            grads[1] = F.reshape(dw, x[1].shape)
        if len(x) > 2 and need[2]:
            grads[2] = F.sum(dy[0], axis=lay.reduce_axes(len(dy[0].shape)))
        return grads


@api(DepthwiseConvolution)
def depthwise_convolution(
    x: Any,
    weight: Any,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    multiplier: int = 1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight) if bias is None else (x, weight, bias)
    function = DepthwiseConvolution(base_axis, pad, stride, dilation, multiplier)
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


class DepthwiseDeconvolution(_SpatialFunction):
    """Depthwise deconvolution: the adjoint of a depthwise convolution; ``divisor`` input channels share an output.

    ``weight``: ``(C, *K)``; output channels ``C / divisor`` (a grouped deconvolution with ``group = C / divisor``).
    """

    input_names = ("x", "weight", "bias?")
    divisor: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w = inputs[0], inputs[1]
        lay = self._spatial_args(x.shape, False)
        n = len(lay.spatial)
        if len(w.shape) != n + 1:
            raise self.fail("weight", f"a {n + 1}-D weight (C, *kernel)", f"weight.shape={tuple(w.shape)}")
        if self.divisor < 1 or lay.channels % self.divisor:
            raise self.fail("divisor", f"a divisor of the input channels ({lay.channels})", self.divisor)
        if w.shape[0] != lay.channels:
            raise self.fail(
                "weight", f"weight.shape[0] == {lay.channels} (the channels of x)", f"weight.shape={tuple(w.shape)}"
            )
        kernel = tuple(w.shape[1:])
        big = tuple(ck.deconv_out_size(*a) for a in zip(lay.spatial, kernel, self.pad, self.stride, self.dilation))
        if any(b <= 0 for b in big):
            raise self.fail(
                "pad", "a padding smaller than the output size it removes", self.pad, f"output spatial shape {big}"
            )
        out_channels = lay.channels // self.divisor
        self._check_bias(inputs, 2, out_channels)
        self._lay, self._big, self._group = lay, big, out_channels
        self._w_cf = (lay.channels, 1) + kernel
        self._out_lay = _Layout(lay.shape_of(out_channels, big), self._base_axis, False)
        return [lay.shape_of(out_channels, big)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = ck.conv_backward_data(
            self._lay.to_cf(x[0]), x[1].reshape(self._w_cf), self._group, self._big, *self._geometry()
        )
        if len(x) > 2:
            y += x[2].reshape(_bias_shape(y.ndim)).astype(y.dtype, copy=False)
        return [self._out_lay.from_cf(y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = self._out_lay.to_cf(dy[0])
        grads: list[Any] = [None] * len(x)
        if need[0]:
            grads[0] = self._lay.from_cf(ck.conv_forward(g, x[1].reshape(self._w_cf), self._group, *self._geometry()))
        if need[1]:
            dw = ck.conv_backward_filter(self._lay.to_cf(x[0]), g, self._w_cf, self._group, *self._geometry())
            grads[1] = dw.reshape(x[1].shape)
        if len(x) > 2 and need[2]:
            grads[2] = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        grads: list[Any] = [None] * len(x)
        if need[0]:
            w = F.reshape(x[1], self._w_cf)
            grads[0] = F.convolution(
                dy[0], w, None, self.base_axis, self.pad, self.stride, self.dilation, self._group, False
            )
        if need[1]:
            dw = ConvolutionFilterGrad(
                self.base_axis, self.pad, self.stride, self.dilation, self._group, False, self._w_cf
            )(x[0], dy[0])
            grads[1] = F.reshape(dw, x[1].shape)
        if len(x) > 2 and need[2]:
            grads[2] = F.sum(dy[0], axis=self._out_lay.reduce_axes(len(dy[0].shape)))
        return grads


@api(DepthwiseDeconvolution)
def depthwise_deconvolution(
    x: Any,
    weight: Any,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    divisor: int = 1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight) if bias is None else (x, weight, bias)
    function = DepthwiseDeconvolution(base_axis, pad, stride, dilation, divisor)
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


# -- FusedConvolution ----------------------------------------------------------------------------------------------


def _pad_index(size: int, before: int, after: int, mode: str) -> Any:
    """Source index of each padded position along one axis (``reflect`` mirrors without the edge, ``repeat`` repeats it)."""
    return np.pad(np.arange(size), (before, after), mode="reflect" if mode == "reflect" else "edge")


_ACTIVATIONS = {"identity": 0, "": 0, "relu": 0, "sigmoid": 0, "tanh": 0, "leaky_relu": 1, "elu": 1, "relu6": 0}


class FusedConvolution(_SpatialFunction):
    """Pad, convolution, batch normalization, addition of ``z`` and an activation, as one function.

    Optional inputs are told apart as nnabla does: 3 inputs are ``bias`` (1-D) or ``z``; 4 are ``bias, z``; 6 are
    ``beta, gamma, mean, variance``; 7 add ``z``. ``pad`` has one value per spatial axis (used as the convolution's
    padding when ``pad_mode='constant'`` and ``constant_value=0``) or a (before, after) pair per spatial axis.
    With ``batch_stat`` the running ``mean``/``variance`` inputs are updated in place, as BatchNormalization does;
    they never receive a gradient.
    """

    input_names = ("x", "weight", "bias?", "beta?", "gamma?", "mean?", "variance?", "z?")
    group: Int64 = 1
    channel_last: Bool = False
    decay_rate: Float = 0.9
    eps: Float = 1e-05
    batch_stat: Bool = True
    nonlinearity: String = "relu"
    nonlinearity_args: Floats = ()
    pad_mode: String = "constant"
    constant_value: Float = 0

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w = inputs[0], inputs[1]
        n_in = len(inputs)
        roles: dict[str, int] = {}
        if n_in == 3:
            roles["bias" if len(inputs[2].shape) == 1 else "z"] = 2
        elif n_in == 4:
            roles.update(bias=2, z=3)
        elif n_in in (6, 7):
            if len(inputs[2].shape) == 1:
                raise self.fail("inputs", "either a bias or batch-normalization inputs (not both)", f"{n_in} inputs")
            roles.update(beta=2, gamma=3, mean=4, variance=5)
            if n_in == 7:
                roles["z"] = 6
        elif n_in != 2:
            raise self.fail("inputs", "2, 3, 4, 6 or 7 inputs (x, weight, bias?, beta/gamma/mean/variance?, z?)", n_in)
        self._roles = roles
        ndim = len(x.shape)
        base_axis = self.base_axis + ndim if self.base_axis < 0 else self.base_axis
        n = ndim - base_axis - 1
        pad = (0,) * n if self.pad is None else tuple(int(p) for p in self.pad)
        if len(pad) not in (n, 2 * n):
            raise self.fail("pad", f"{n} or {2 * n} values for {n} spatial dimensions", pad)
        if self.pad_mode not in ("constant", "reflect", "repeat"):
            raise self.fail("pad_mode", "'constant', 'reflect' or 'repeat'", repr(self.pad_mode))
        if self.nonlinearity not in _ACTIVATIONS:
            raise self.fail("nonlinearity", f"one of {sorted(k for k in _ACTIVATIONS if k)}", repr(self.nonlinearity))
        self.nonlinearity_args = tuple(float(a) for a in self.nonlinearity_args)
        if len(self.nonlinearity_args) < _ACTIVATIONS[self.nonlinearity]:
            raise self.fail("nonlinearity_args", f"[alpha] for {self.nonlinearity}", list(self.nonlinearity_args))
        self.pad = pad
        self._explicit_pad = not (len(pad) == n and self.pad_mode == "constant" and self.constant_value == 0)
        self.pad = (0,) * n if self._explicit_pad else pad
        lay = self._spatial_args(x.shape, self.channel_last)
        self.pad = pad
        self._pad_pairs = tuple(zip(pad[::2], pad[1::2])) if len(pad) == 2 * n else tuple((p, p) for p in pad)
        self._conv_pad = (0,) * n if self._explicit_pad else pad
        padded = (
            tuple(s + a + b for s, (a, b) in zip(lay.spatial, self._pad_pairs)) if self._explicit_pad else lay.spatial
        )
        kernel = self._kernel(w.shape, n, self.channel_last)
        w_channels = w.shape[-1] if self.channel_last else w.shape[1]
        if (
            self.group < 1
            or lay.channels % self.group
            or w.shape[0] % self.group
            or lay.channels // self.group != w_channels
        ):
            raise self.fail(
                "weight",
                f"{lay.channels // max(self.group, 1)} channels per group (x has {lay.channels}, group={self.group})",
                f"weight.shape={tuple(w.shape)}",
            )
        out = tuple(ck.out_size(*a) for a in zip(padded, kernel, self._conv_pad, self.stride, self.dilation))
        if any(o <= 0 for o in out):
            raise self.fail(
                "x", "a spatial size at least the dilated kernel size (after padding)", f"x.shape={tuple(x.shape)}"
            )
        oc = w.shape[0]
        self._check_bias(inputs, roles.get("bias", n_in), oc)
        y_shape = lay.shape_of(oc, out)
        self._lay, self._padded = lay, padded
        self._out_lay = _Layout(y_shape, base_axis, self.channel_last)
        channel_axis = ndim - 1 if self.channel_last else base_axis
        stat_shape = tuple(oc if i == channel_axis else 1 for i in range(ndim))
        for name in ("beta", "gamma", "mean", "variance"):
            if name in roles and int(np.prod(inputs[roles[name]].shape)) != oc:
                raise self.fail(
                    name, f"{oc} values, shape {stat_shape}", f"{name}.shape={tuple(inputs[roles[name]].shape)}"
                )
        if "z" in roles and tuple(inputs[roles["z"]].shape) != y_shape:
            raise self.fail(
                "z", f"z.shape == {y_shape} (the output shape)", f"z.shape={tuple(inputs[roles['z']].shape)}"
            )
        return [y_shape]

    # the pieces, on the canonical layout ---------------------------------------------------------------------
    def _pad_forward(self, x: Any) -> Any:
        if not self._explicit_pad:
            return x
        if self.pad_mode == "constant":
            widths = ((0, 0), (0, 0)) + self._pad_pairs
            return np.pad(x, widths, mode="constant", constant_values=np.asarray(self.constant_value, x.dtype))
        for axis, (size, (before, after)) in enumerate(zip(x.shape[2:], self._pad_pairs), start=2):
            x = np.take(x, _pad_index(size, before, after, self.pad_mode), axis=axis)
        return x

    def _pad_backward(self, g: Any) -> Any:
        if not self._explicit_pad:
            return g
        if self.pad_mode == "constant":
            return np.ascontiguousarray(
                g[
                    (slice(None), slice(None))
                    + tuple(slice(a, g.shape[i + 2] - b) for i, (a, b) in enumerate(self._pad_pairs))
                ]
            )
        for axis, (size, (before, after)) in enumerate(zip(self._lay.spatial, self._pad_pairs), start=2):
            index = _pad_index(size, before, after, self.pad_mode)
            scatter = np.zeros((len(index), size), g.dtype)
            scatter[np.arange(len(index)), index] = 1
            g = np.moveaxis(np.tensordot(g, scatter, axes=([axis], [0])), -1, axis)
        return g

    def _run(self, x: list[Any], update_running: bool) -> tuple:
        """Forward pass; returns the output and what backward needs."""
        r = self._roles
        xin = self._pad_forward(self._lay.to_cf(x[0]))
        w = _weight_to_cf(x[1], self.channel_last)
        h = ck.conv_forward(xin, w, self.group, self._conv_pad, self.stride, self.dilation)
        if "bias" in r:
            h += x[r["bias"]].reshape(_bias_shape(h.ndim)).astype(h.dtype, copy=False)
        saved: dict[str, Any] = {"xin": xin}
        if "beta" in r:
            bn = self._batch_norm_function(h.shape)
            shape = (1, -1) + (1,) * len(self._lay.spatial)
            stats = [x[r[k]].reshape(shape) for k in ("beta", "gamma", "mean", "variance")]
            if self.batch_stat and not update_running:  # the running statistics must stay as they are
                stats[2], stats[3] = stats[2].copy(), stats[3].copy()
            bn_inputs = [h] + stats
            h = bn.forward_impl(np, bn_inputs)[0]
            saved["bn"] = (bn, bn_inputs, h)
        if "z" in r:
            h = h + self._out_lay.to_cf(x[r["z"]]).astype(h.dtype, copy=False)
        saved["pre"] = h
        act = self._activation_function()
        y = h if act is None else act.forward_impl(np, [h])[0]
        return y, saved

    def _batch_norm_function(self, shape: tuple) -> Any:
        """The catalogue's BatchNormalization set up for ``shape`` (channels on axis 1): the fused result equals the
        unfused graph's."""
        from nnl.core.variable import Variable
        from nnl.functions import registry

        bn = registry.function_class("BatchNormalization")(
            axes=(1,), decay_rate=self.decay_rate, eps=self.eps, batch_stat=self.batch_stat
        )
        stat = tuple(s if i == 1 else 1 for i, s in enumerate(shape))
        bn.setup_impl([Variable(tuple(shape))] + [Variable(stat) for _ in range(4)])
        return bn

    def _activation_function(self) -> Any:
        """The catalogue's own activation (so that results equal the unfused graph), or None for identity."""
        from nnl.functions import registry

        args = self.nonlinearity_args
        spec = {
            "relu": ("ReLU", (False,)),
            "sigmoid": ("Sigmoid", ()),
            "tanh": ("Tanh", ()),
            "relu6": ("ReLU6", ()),
            "leaky_relu": ("LeakyReLU", (args[0] if args else 0.1, False)),
            "elu": ("ELU", (args[0] if args else 1.0,)),
        }.get(self.nonlinearity)
        return None if spec is None else registry.function_class(spec[0])(*spec[1])

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y, _ = self._run(x, update_running=not self.__dict__.get("_recomputing", False))
        return [self._out_lay.from_cf(y)]

    def recompute(self, inputs: list[Any], outputs: list[Any]) -> None:
        """Recomputation replays the output without updating the running statistics again."""
        self._recomputing = True
        try:
            self.forward(inputs, outputs)
        finally:
            self._recomputing = False

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        r = self._roles
        out, saved = self._run(x, update_running=False)
        grads: list[Any] = [None] * len(x)
        act = self._activation_function()
        gy = self._out_lay.to_cf(dy[0])
        g = gy if act is None else act.backward_impl(np, [saved["pre"]], [out], [gy], [True])[0]
        if "z" in r and need[r["z"]]:
            grads[r["z"]] = self._out_lay.from_cf(g)
        if "bn" in saved:
            bn, bn_inputs, bn_out = saved["bn"]
            bn_need = [True, need[r["beta"]], need[r["gamma"]], False, False]
            bn_grads = bn.backward_impl(np, bn_inputs, [bn_out], [g], bn_need)
            for k, name in ((1, "beta"), (2, "gamma")):
                if need[r[name]]:
                    grads[r[name]] = np.asarray(bn_grads[k]).reshape(x[r[name]].shape)
            for name in ("mean", "variance"):  # running statistics receive a zero gradient (as in nnabla)
                if need[r[name]]:
                    grads[r[name]] = np.zeros(x[r[name]].shape, g.dtype)
            g = bn_grads[0]
        if "bias" in r and need[r["bias"]]:
            grads[r["bias"]] = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
        if need[1]:
            w_shape = _weight_to_cf(x[1], self.channel_last).shape
            dw = ck.conv_backward_filter(
                g, saved["xin"], w_shape, self.group, self._conv_pad, self.stride, self.dilation
            )
            grads[1] = _weight_from_cf(dw, self.channel_last)
        if need[0]:
            w = _weight_to_cf(x[1], self.channel_last)
            dxin = ck.conv_backward_data(g, w, self.group, self._padded, self._conv_pad, self.stride, self.dilation)
            grads[0] = self._lay.from_cf(self._pad_backward(dxin))
        return grads


@api(FusedConvolution)
def fused_convolution(
    x: Any,
    weight: Any,
    bias: Any = None,
    beta: Any = None,
    gamma: Any = None,
    mean: Any = None,
    variance: Any = None,
    z: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    decay_rate: float = 0.9,
    eps: float = 1e-05,
    batch_stat: bool = True,
    nonlinearity: str = "relu",
    nonlinearity_args: Any = [],  # noqa: B006 (nnabla's signature)
    pad_mode: str = "constant",
    constant_value: float = 0,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = [x, weight] + [v for v in (bias, beta, gamma, mean, variance, z) if v is not None]
    function = FusedConvolution(
        base_axis,
        pad,
        stride,
        dilation,
        group,
        channel_last,
        decay_rate,
        eps,
        batch_stat,
        nonlinearity,
        tuple(nonlinearity_args),
        pad_mode,
        constant_value,
    )
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


# -- DeformableConvolution -----------------------------------------------------------------------------------------


class DeformableConvolution(_SpatialFunction):
    """2-D deformable convolution (v1, and v2 with ``mask``): each kernel tap samples ``x`` bilinearly at its
    position shifted by a learnt ``offset``, optionally scaled by ``mask``.

    ``offset``: ``(*batch, 2 * deformable_group * Kh * Kw, H, W)`` as (dy, dx) pairs per tap, read at the strided
    input positions ``(oh * stride_h, ow * stride_w)``; ``mask``: ``(*batch, deformable_group * Kh * Kw, H, W)``.
    Samples outside ``(-1, H) x (-1, W)`` read zero, and so do the out-of-image corners of the others.
    """

    input_names = ("x", "weight", "offset", "mask?", "bias?")
    group: Int64 = 1
    deformable_group: Int64 = 1
    channel_last: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w, offset = inputs[0], inputs[1], inputs[2]
        lay = self._spatial_args(x.shape, self.channel_last, max_dims=2)
        if len(lay.spatial) != 2:
            raise self.fail(
                "x", "2 spatial dimensions (only 2-D deformable convolution exists)", f"x.shape={tuple(x.shape)}"
            )
        n_in = len(inputs)
        self._mask_index = 3 if n_in == 5 or (n_in == 4 and len(inputs[3].shape) != 1) else None
        self._bias_index = 4 if n_in == 5 else (3 if n_in == 4 and self._mask_index is None else None)
        kernel = self._kernel(w.shape, 2, self.channel_last)
        taps = kernel[0] * kernel[1]
        w_channels = w.shape[-1] if self.channel_last else w.shape[1]
        if (
            self.group < 1
            or lay.channels % self.group
            or w.shape[0] % self.group
            or lay.channels // self.group != w_channels
        ):
            raise self.fail(
                "weight",
                f"{lay.channels // max(self.group, 1)} channels per group (x has {lay.channels}, group={self.group})",
                f"weight.shape={tuple(w.shape)}",
            )
        dg = self.deformable_group
        if dg < 1 or lay.channels % dg:
            raise self.fail("deformable_group", f"a divisor of the input channels ({lay.channels})", dg)
        expected = lay.shape_of(2 * dg * taps, lay.spatial)
        if tuple(offset.shape) != expected:
            raise self.fail(
                "offset",
                f"offset.shape == {expected} (2 * deformable_group * kernel taps, x's spatial shape)",
                f"offset.shape={tuple(offset.shape)}",
            )
        if self._mask_index is not None:
            expected = lay.shape_of(dg * taps, lay.spatial)
            if tuple(inputs[3].shape) != expected:
                raise self.fail("mask", f"mask.shape == {expected}", f"mask.shape={tuple(inputs[3].shape)}")
        out = tuple(ck.out_size(*a) for a in zip(lay.spatial, kernel, self.pad, self.stride, self.dilation))
        if any(o <= 0 for o in out):
            raise self.fail(
                "x", "a spatial size at least the dilated kernel size (after padding)", f"x.shape={tuple(x.shape)}"
            )
        if any((o - 1) * s >= size for o, s, size in zip(out, self.stride, lay.spatial)):
            raise self.fail("pad", "a padding that keeps the offsets' read positions inside x", self.pad)
        if self._bias_index is not None:
            self._check_bias(inputs, self._bias_index, w.shape[0])
        self._lay, self._out, self._kernel_shape = lay, out, kernel
        return [lay.shape_of(w.shape[0], out)]

    def _sample(self, x: list[Any]) -> dict:
        """Bilinear sampling positions, corner indices and weights, shaped ``(B, dg, 1, taps * O)``."""
        lay, (kh, kw), (oh, ow) = self._lay, self._kernel_shape, self._out
        (ph, pw), (sh, sw), (dh, dw) = self.pad, self.stride, self.dilation
        height, width = lay.spatial
        dg, taps = self.deformable_group, kh * kw
        b = lay.batch
        dtype = x[0].dtype
        off = lay.to_cf(x[2])[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]
        off = off.reshape(b, dg, taps, 2, oh, ow)
        ti, tj = np.divmod(np.arange(taps), kw)
        base_h = (np.arange(oh) * sh)[None, :, None] + (ti * dh - ph)[:, None, None]
        base_w = (np.arange(ow) * sw)[None, None, :] + (tj * dw - pw)[:, None, None]
        pos_h = off[:, :, :, 0] + base_h.astype(dtype)
        pos_w = off[:, :, :, 1] + base_w.astype(dtype)
        inside = (pos_h > -1) & (pos_h < height) & (pos_w > -1) & (pos_w < width)
        h0, w0 = np.floor(pos_h), np.floor(pos_w)
        lh, lw = pos_h - h0, pos_w - w0
        h0, w0 = h0.astype(np.intp), w0.astype(np.intp)
        corners = []
        for dh_, dw_, weight in (
            (0, 0, (1 - lh) * (1 - lw)),
            (0, 1, (1 - lh) * lw),
            (1, 0, lh * (1 - lw)),
            (1, 1, lh * lw),
        ):
            hh, ww = h0 + dh_, w0 + dw_
            valid = inside & (hh >= 0) & (hh < height) & (ww >= 0) & (ww < width)
            index = np.where(valid, np.clip(hh, 0, height - 1) * width + np.clip(ww, 0, width - 1), 0)
            corners.append((index.reshape(b, dg, 1, -1), valid.reshape(b, dg, 1, -1), weight.reshape(b, dg, 1, -1)))
        mask = None
        if self._mask_index is not None:
            m = lay.to_cf(x[self._mask_index])[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]
            mask = m.reshape(b, dg, 1, -1).astype(dtype, copy=False)
        return {"corners": corners, "lh": lh.reshape(b, dg, 1, -1), "lw": lw.reshape(b, dg, 1, -1), "mask": mask}

    def _gather(self, xg: Any, s: dict) -> tuple:
        """Corner values ``(B, dg, C/dg, taps*O)`` (zero where invalid) for each of the 4 corners."""
        return [np.take_along_axis(xg, idx, axis=3) * valid for idx, valid, _ in s["corners"]]

    def _columns(self, x: list[Any], s: dict) -> tuple:
        lay, dg = self._lay, self.deformable_group
        xg = lay.to_cf(x[0]).reshape(lay.batch, dg, lay.channels // dg, -1)
        values = self._gather(xg, s)
        col = sum(v * wgt for v, (_, _, wgt) in zip(values, s["corners"]))
        unmasked = col
        if s["mask"] is not None:
            col = col * s["mask"]
        return col, unmasked, values

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        lay, (oh, ow) = self._lay, self._out
        s = self._sample(x)
        col, _, _ = self._columns(x, s)
        b, taps, g = lay.batch, self._kernel_shape[0] * self._kernel_shape[1], self.group
        col = col.reshape(b, g, (lay.channels // g) * taps, oh * ow)
        w = _weight_to_cf(x[1], self.channel_last)
        y = np.matmul(w.reshape(g, w.shape[0] // g, -1).astype(col.dtype, copy=False), col).reshape(b, -1, oh, ow)
        if self._bias_index is not None:
            y += x[self._bias_index].reshape(1, -1, 1, 1).astype(y.dtype, copy=False)
        return [lay.from_cf(y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        lay, (oh, ow), (kh, kw) = self._lay, self._out, self._kernel_shape
        b, taps, g, dg = lay.batch, kh * kw, self.group, self.deformable_group
        c = lay.channels
        out_lay = _Layout(lay.shape_of(x[1].shape[0], self._out), self._base_axis, self.channel_last)
        gy = out_lay.to_cf(dy[0]).reshape(b, g, -1, oh * ow)
        w = _weight_to_cf(x[1], self.channel_last)
        grads: list[Any] = [None] * len(x)
        mi, bi = self._mask_index, self._bias_index
        if bi is not None and need[bi]:
            grads[bi] = gy.reshape(b, -1, oh * ow).sum(axis=(0, 2))
        s = self._sample(x)
        col, unmasked, values = self._columns(x, s)
        if need[1]:
            colg = col.reshape(b, g, (c // g) * taps, oh * ow)
            dw = np.matmul(gy, colg.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
            grads[1] = _weight_from_cf(dw, self.channel_last)
        if not (need[0] or need[2] or (mi is not None and need[mi])):
            return grads
        wg = w.reshape(g, w.shape[0] // g, -1).astype(gy.dtype, copy=False)
        dcol = np.matmul(wg.transpose(0, 2, 1), gy).reshape(b, dg, c // dg, taps * oh * ow)
        strided = (
            slice(None),
            slice(None),
            slice(0, (oh - 1) * self.stride[0] + 1, self.stride[0]),
            slice(0, (ow - 1) * self.stride[1] + 1, self.stride[1]),
        )
        if mi is not None and need[mi]:
            dmask = (dcol * unmasked).sum(axis=2).reshape(b, dg * taps, oh, ow)
            full = np.zeros((b, dg * taps) + lay.spatial, dcol.dtype)
            full[strided] = dmask
            grads[mi] = lay.from_cf(full)
        if s["mask"] is not None:
            dcol = dcol * s["mask"]
        if need[2]:
            v1, v2, v3, v4 = values
            lh, lw = s["lh"], s["lw"]
            d_h = (v3 - v1) * (1 - lw) + (v4 - v2) * lw
            d_w = (v2 - v1) * (1 - lh) + (v4 - v3) * lh
            doff = np.stack([(dcol * d_h).sum(axis=2), (dcol * d_w).sum(axis=2)], axis=3)
            doff = doff.reshape(b, dg, taps, oh, ow, 2).transpose(0, 1, 2, 5, 3, 4).reshape(b, 2 * dg * taps, oh, ow)
            full = np.zeros((b, 2 * dg * taps) + lay.spatial, dcol.dtype)
            full[strided] = doff
            grads[2] = lay.from_cf(full)
        if need[0]:
            size = lay.spatial[0] * lay.spatial[1]
            cdg = c // dg
            plane = (np.arange(b * dg * cdg) * size).reshape(b, dg, cdg, 1)
            dx = np.zeros(b * c * size, np.float64)
            for idx, valid, wgt in s["corners"]:
                contribution = dcol * (wgt * valid)
                dx += np.bincount((plane + idx).ravel(), contribution.ravel(), minlength=dx.size)
            grads[0] = lay.from_cf(dx.reshape((b, c) + lay.spatial).astype(dcol.dtype))
        return grads


@api(DeformableConvolution)
def deformable_convolution(
    x: Any,
    weight: Any,
    offset: Any,
    mask: Any = None,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    deformable_group: int = 1,
    channel_last: bool = False,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = [x, weight, offset] + [v for v in (mask, bias) if v is not None]
    function = DeformableConvolution(base_axis, pad, stride, dilation, group, deformable_group, channel_last)
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


# -- AdaptiveSeparableConvolution ------------------------------------------------------------------------------------


class AdaptiveSeparableConvolution(Function):
    """Per-pixel separable filtering: ``y[b, c, h, w] = sum_{j, i} kv[b, j, h, w] kh[b, i, h, w] x[b, c, h + j, w + i]``.

    ``x``: ``(B, C, H, W)``, ``vertical_kernel``: ``(B, Kv, >= H - Kv + 1, ...)``, ``horizontal_kernel``:
    ``(B, Kh, ..., >= W - Kh + 1)``; output ``(B, C, H - Kv + 1, W - Kh + 1)``.
    """

    input_names = ("x", "vertical_kernel", "horizontal_kernel")

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, kv, kh = (tuple(v.shape) for v in inputs)
        if len(x) != 4 or len(kv) != 4 or len(kh) != 4:
            raise self.fail("x", "4-D x, vertical_kernel and horizontal_kernel", f"shapes {x}, {kv}, {kh}")
        if not x[0] == kv[0] == kh[0]:
            raise self.fail(
                "vertical_kernel",
                f"the batch size of x ({x[0]})",
                f"vertical_kernel.shape={kv}, horizontal_kernel.shape={kh}",
            )
        oh, ow = x[2] - kv[1] + 1, x[3] - kh[1] + 1
        if oh <= 0 or ow <= 0:
            raise self.fail(
                "vertical_kernel", f"kernel sizes at most x's height and width {x[2:]}", f"Kv={kv[1]}, Kh={kh[1]}"
            )
        if kv[2] < oh or kv[3] < ow or kh[2] < oh or kh[3] < ow:
            raise self.fail(
                "horizontal_kernel",
                f"kernels covering the output's ({oh}, {ow}) positions",
                f"vertical_kernel.shape={kv}, horizontal_kernel.shape={kh}",
            )
        self._out = (oh, ow)
        return [(x[0], x[1], oh, ow)]

    def _parts(self, x: list[Any]) -> tuple:
        oh, ow = self._out
        kv = x[1][:, :, :oh, :ow]
        kh = x[2][:, :, :oh, :ow]
        windows = sliding_window_view(x[0], (kv.shape[1], kh.shape[1]), axis=(2, 3))  # (B, C, oh, ow, Kv, Kh)
        return kv, kh, windows

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        kv, kh, windows = self._parts(x)
        rows = np.einsum("bchwji,bihw->bchwj", windows, kh, optimize=True)
        return [np.einsum("bchwj,bjhw->bchw", rows, kv, optimize=True)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        kv, kh, windows = self._parts(x)
        oh, ow = self._out
        g = dy[0]
        grads: list[Any] = [None, None, None]
        if need[1]:
            rows = np.einsum("bchwji,bihw->bchwj", windows, kh, optimize=True)
            grads[1] = np.zeros_like(x[1])
            grads[1][:, :, :oh, :ow] = np.einsum("bchw,bchwj->bjhw", g, rows, optimize=True)
        if need[2]:
            cols = np.einsum("bchw,bchwji->bjihw", g, windows, optimize=True)
            grads[2] = np.zeros_like(x[2])
            grads[2][:, :, :oh, :ow] = np.einsum("bjihw,bjhw->bihw", cols, kv, optimize=True)
        if need[0]:
            dx = np.zeros_like(x[0])
            for j in range(kv.shape[1]):
                gj = g * kv[:, j][:, None]
                for i in range(kh.shape[1]):
                    dx[:, :, j : j + oh, i : i + ow] += gj * kh[:, i][:, None]
            grads[0] = dx
        return grads


@api(AdaptiveSeparableConvolution)
def adaptive_separable_convolution(
    x: Any, vertical_kernel: Any, horizontal_kernel: Any, n_outputs: int = -1, outputs: Any = None
) -> Any:
    return AdaptiveSeparableConvolution()(x, vertical_kernel, horizontal_kernel, n_outputs=n_outputs, outputs=outputs)


# -- Embed -------------------------------------------------------------------------------------------------------------


def _embed_filter_grad(index: Any, g: Any, w_shape: tuple) -> Any:
    """``dw[k] = sum of g rows whose index is k`` without np.add.at: sort the indices and reduce each run."""
    flat = index.reshape(-1).astype(np.intp, copy=False)
    rows = g.reshape(flat.size, -1)
    dw = np.zeros((w_shape[0], rows.shape[1]), g.dtype)
    if flat.size:
        order = np.argsort(flat, kind="stable")
        sorted_index = flat[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_index[1:] != sorted_index[:-1])))
        dw[sorted_index[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return dw.reshape(w_shape)


class Embed(Function):
    """Look-up of the rows of ``w`` at the integer indices ``x0``: ``y[i...] = w[x0[i...]]``; gradient to ``w`` only."""

    input_names = ("x0", "w")
    grad_depends_input = (0,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x0, w = inputs
        if len(w.shape) < 1:
            raise self.fail("w", "an array of at least 1 dimension (n_inputs, ...)", f"w.shape={tuple(w.shape)}")
        return [tuple(x0.shape) + tuple(w.shape[1:])]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        index, w = x[0], x[1]
        if index.size and (index.min() < 0 or index.max() >= w.shape[0]):
            raise self.fail("x0", f"indices in [0, {w.shape[0]})", f"indices in [{index.min()}, {index.max()}]")
        return [np.take(w, index.astype(np.intp, copy=False), axis=0)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None, _embed_filter_grad(x[0], dy[0], x[1].shape) if need[1] else None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None, EmbedFilterGrad(tuple(x[1].shape))(dy[0], x[0]) if need[1] else None]


@api(Embed)
def embed(x0: Any, w: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Embed()(x0, w, n_outputs=n_outputs, outputs=outputs)


class EmbedFilterGrad(Function):
    """The weight gradient of ``Embed`` as a function of ``(dy, x0)`` (linear in ``dy``, whose gradient is an embed)."""

    input_names = ("dy", "x0")
    grad_depends_input = (1,)
    wshape: Shape = ()

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        self.wshape = tuple(int(s) for s in self.wshape)
        return [self.wshape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [_embed_filter_grad(x[1], x[0], self.wshape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [np.take(dy[0], x[1].astype(np.intp, copy=False), axis=0) if need[0] else None, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.embed(x[1], dy[0]) if need[0] else None, None]


# -- RoiAlign ------------------------------------------------------------------------------------------------------------


class RoiAlign(Function):
    """Region-of-interest align: each box ``(b, x1, y1, x2, y2)`` of ``boxes`` is average-pooled from ``input[b]``
    into ``output_size`` bins, each the mean of a grid of bilinear samples (``sampling_ratio`` per axis, or
    ``ceil(bin size)`` when it is <= 0). Box coordinates are scaled by ``spatial_scale`` (y, x) and shifted by -0.5.

    Bilinear sampling is separable, so each box is two interpolation matrices and the pooling two matrix products.
    """

    input_names = ("input", "boxes")
    grad_depends_input = (1,)
    output_size: Shape
    spatial_scale: Floats = (1.0, 1.0)
    sampling_ratio: Int64 = -1
    channel_last: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, boxes = (tuple(v.shape) for v in inputs)
        if len(x) != 4:
            raise self.fail("input", "a 4-D input (N, C, H, W) or (N, H, W, C)", f"input.shape={x}")
        if len(boxes) != 2 or boxes[1] != 5:
            raise self.fail("boxes", "boxes of shape (K, 5): (batch index, x1, y1, x2, y2)", f"boxes.shape={boxes}")
        self.output_size = tuple(int(s) for s in self.output_size)
        if len(self.output_size) != 2 or min(self.output_size) <= 0:
            raise self.fail("output_size", "a positive (height, width)", self.output_size)
        self.spatial_scale = tuple(float(s) for s in self.spatial_scale)
        if len(self.spatial_scale) != 2:
            raise self.fail("spatial_scale", "2 values", self.spatial_scale)
        channels = x[3] if self.channel_last else x[1]
        oh, ow = self.output_size
        return [(boxes[0], oh, ow, channels) if self.channel_last else (boxes[0], channels, oh, ow)]

    def _matrices(self, boxes: Any, samples: int, height: int, width: int) -> tuple:
        """Index of the source sample of each box and the interpolation matrices ``(K, oh, H)``, ``(K, ow, W)``."""
        b = boxes.astype(np.float32)
        index = b[:, 0].astype(np.intp)
        if index.size and (index.min() < 0 or index.max() >= samples):
            raise self.fail("boxes", f"batch indices in [0, {samples})", f"indices in [{index.min()}, {index.max()}]")
        scale_y, scale_x = np.float32(self.spatial_scale[0]), np.float32(self.spatial_scale[1])
        half = np.float32(0.5)
        ay = self._axis_matrix(b[:, 2] * scale_y - half, b[:, 4] * scale_y - half, self.output_size[0], height)
        ax = self._axis_matrix(b[:, 1] * scale_x - half, b[:, 3] * scale_x - half, self.output_size[1], width)
        return index, ay, ax

    def _axis_matrix(self, start: Any, stop: Any, bins: int, size: int) -> Any:
        step = (stop - start) / np.float32(bins)
        if self.sampling_ratio > 0:
            grid = np.full(step.shape, self.sampling_ratio, np.intp)
        else:
            grid = np.maximum(np.ceil(step), 1).astype(np.intp)
        gmax = int(grid.max()) if grid.size else 1
        k = np.arange(gmax, dtype=np.float32)
        sub = step / grid.astype(np.float32)
        pos = (
            start[:, None, None]
            + np.arange(bins, dtype=np.float32)[None, :, None] * step[:, None, None]
            + k[None, None, :] * sub[:, None, None]
            + np.float32(0.5) * sub[:, None, None]
        )
        used = (k[None, None, :] < grid[:, None, None]) & (pos >= -1) & (pos <= size)
        pos = np.clip(pos, 0, size - 1)
        low = pos.astype(np.intp)
        high = np.minimum(low + 1, size - 1)
        frac = pos - np.floor(pos)
        onehot = np.arange(size)
        mat = (low[..., None] == onehot) * (1 - frac)[..., None] + (high[..., None] == onehot) * frac[..., None]
        mat = (mat * used[..., None]).sum(axis=2) / grid.astype(np.float32)[:, None, None]
        return mat.astype(np.float32)

    def _cf(self, a: Any) -> Any:
        return np.moveaxis(a, -1, 1) if self.channel_last else a

    def _rows(self, index: Any, ay: Any, samples: int, dtype: Any) -> Any:
        """The y-interpolation of every box as one matrix ``(K * oh, N * H)`` (zero outside the box's image)."""
        k, oh, height = ay.shape
        rows = np.zeros((k, oh, samples, height), dtype)
        rows[np.arange(k), :, index, :] = ay
        return rows.reshape(k * oh, samples * height)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        img = self._cf(x[0])
        n, c, height, width = img.shape
        index, ay, ax = self._matrices(x[1], n, height, width)
        k, oh, ow = len(index), self.output_size[0], self.output_size[1]
        dtype = img.dtype
        # contract H with one matrix product over all boxes, then W box by box (batched)
        image_rows = img.transpose(0, 2, 1, 3).reshape(n * height, c * width)
        t = (self._rows(index, ay, n, dtype) @ image_rows).reshape(k, oh * c, width)
        y = np.matmul(t, ax.astype(dtype).transpose(0, 2, 1)).reshape(k, oh, c, ow)
        y = np.moveaxis(y, 1, 2) if not self.channel_last else y.transpose(0, 1, 3, 2)
        return [np.ascontiguousarray(y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        img_shape = self._cf(x[0]).shape
        n, c, height, width = img_shape
        index, ay, ax = self._matrices(x[1], n, height, width)
        k, oh = len(index), self.output_size[0]
        g = dy[0] if self.channel_last else np.moveaxis(dy[0], 1, -1)  # (K, oh, ow, C)
        dtype = g.dtype
        u = np.matmul(g.transpose(0, 1, 3, 2).reshape(k, oh * c, -1), ax.astype(dtype))  # (K, oh*C, W)
        dimg = self._rows(index, ay, n, dtype).T @ u.reshape(k * oh, c * width)  # (N*H, C*W)
        dimg = dimg.reshape(n, height, c, width)
        dimg = dimg.transpose(0, 1, 3, 2) if self.channel_last else dimg.transpose(0, 2, 1, 3)
        return [np.ascontiguousarray(dimg), None]


@api(RoiAlign)
def roi_align(
    input: Any,
    boxes: Any,
    output_size: Any,
    spatial_scale: Any = (1.0, 1.0),
    sampling_ratio: Any = None,
    channel_last: Any = None,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:  # noqa: A002 (nnabla's name)
    function = RoiAlign(
        tuple(output_size), tuple(spatial_scale), -1 if sampling_ratio is None else sampling_ratio, bool(channel_last)
    )
    return function(input, boxes, n_outputs=n_outputs, outputs=outputs)
