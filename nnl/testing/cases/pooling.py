"""Cases for nnl/functions/pooling.py.

The references loop over output positions and slice each window explicitly (clipped to the input), in float64.
Max pooling inputs are distinct values at least 0.05 apart, so central differences never change an arg-max.
"""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


def _out_size(w: int, k: int, s: int, p: int, ignore_border: bool) -> int:
    numerator = w + p - (k - p if ignore_border else 1)
    return max(int(numerator / s) + 1, 0)  # int() truncates toward zero, like C


def _to_channel_first(x: np.ndarray, channel_last: bool) -> np.ndarray:
    return np.moveaxis(x, -1, 0) if channel_last else x


def _from_channel_first(y: np.ndarray, channel_last: bool) -> np.ndarray:
    return np.moveaxis(y, 0, -1) if channel_last else y


def ref_pool(x, kernel, stride=None, ignore_border=True, pad=None, channel_last=False, including_pad=True, mode="max"):
    x = _to_channel_first(np.asarray(x, np.float64), channel_last)
    nk = len(kernel)
    stride = tuple(stride) if stride is not None else tuple(kernel)
    pad = tuple(pad) if pad is not None else (0,) * nk
    lead, spatial = x.shape[: x.ndim - nk], x.shape[x.ndim - nk :]
    out = tuple(_out_size(w, k, s, p, ignore_border) for w, k, s, p in zip(spatial, kernel, stride, pad))
    y = np.zeros(lead + out)
    for o in np.ndindex(*out):
        window, count_with_pad = [], 1
        first = []
        for a in range(nk):
            start = o[a] * stride[a] - pad[a]
            end = min(start + kernel[a], spatial[a] + pad[a])
            count_with_pad *= end - start
            lo, hi = max(start, 0), min(end, spatial[a])
            window.append(slice(lo, hi))
            first.append(min(lo, spatial[a] - 1))
        values = x[(Ellipsis, *window)].reshape(lead + (-1,))
        if mode == "max":
            # a window wholly in the padding reads the clipped window start (nnabla)
            y[(Ellipsis, *o)] = values.max(axis=-1) if values.shape[-1] else x[(Ellipsis, *first)]
        elif mode == "sum":
            y[(Ellipsis, *o)] = values.sum(axis=-1)
        else:
            count = count_with_pad if including_pad else values.shape[-1]
            y[(Ellipsis, *o)] = values.sum(axis=-1) / count
    return _from_channel_first(y, channel_last)


def ref_max_pooling_backward(dy, x, kernel, stride=None, ignore_border=True, pad=None, channel_last=False):
    """Route each dy to the first maximum of its window (naive loops)."""
    x = _to_channel_first(np.asarray(x, np.float64), channel_last)
    dy = _to_channel_first(np.asarray(dy, np.float64), channel_last)
    nk = len(kernel)
    stride = tuple(stride) if stride is not None else tuple(kernel)
    pad = tuple(pad) if pad is not None else (0,) * nk
    lead, spatial = x.shape[: x.ndim - nk], x.shape[x.ndim - nk :]
    dx = np.zeros_like(x)
    for m in np.ndindex(*lead):
        for o in np.ndindex(*dy.shape[len(lead) :]):
            best, best_value = None, None
            ranges = []
            for a in range(nk):
                start = o[a] * stride[a] - pad[a]
                end = min(start + kernel[a], spatial[a] + pad[a])
                ranges.append(range(max(start, 0), min(end, spatial[a])))
            for position in np.ndindex(*[len(r) for r in ranges]):
                index = tuple(r[i] for r, i in zip(ranges, position))
                if best is None or x[m + index] > best_value:
                    best, best_value = index, x[m + index]
            dx[m + best] += dy[m + o]
    return _from_channel_first(dx, channel_last)


def ref_global_average_pooling(x):
    x = np.asarray(x, np.float64)
    return x.reshape(x.shape[0], x.shape[1], -1).mean(axis=2).reshape(x.shape[0], x.shape[1], 1, 1)


def ref_unpooling(x, kernel, channel_last=False):
    y = _to_channel_first(np.asarray(x, np.float64), channel_last)
    for i, k in enumerate(kernel):
        y = np.repeat(y, k, axis=y.ndim - len(kernel) + i)
    return _from_channel_first(y, channel_last)


def _distinct(shape):
    """Distinct values 0.05 apart in random order: no ties, no arg-max change under central differences."""

    def make(rng):
        n = int(np.prod(shape))
        return [((rng.permutation(n) - n / 2) * 0.05).astype(np.float32).reshape(shape)]

    return make


def _max_case(shape, name, **args):
    return Case("MaxPooling", _distinct(shape), lambda x, **k: ref_pool(x, mode="max", **k), args=args, name=name)


def _avg_case(shape, name, **args):
    return Case("AveragePooling", [shape], lambda x, **k: ref_pool(x, mode="average", **k), args=args, name=name)


def _sum_case(shape, name, **args):
    return Case("SumPooling", [shape], lambda x, **k: ref_pool(x, mode="sum", **k), args=args, name=name)


def _max_backward_inputs(dy_shape, x_shape):
    def make(rng):
        x = _distinct(x_shape)(rng)[0]
        return [rng.randn(*dy_shape).astype(np.float32), x]

    return make


_POOL_ERRORS = [
    ([(2, 3)], {"kernel": (2, 2, 2)}, "kernel"),
    ([(2, 3, 4, 4)], {"kernel": (2, 2), "stride": (1,)}, "stride"),
    ([(2, 3, 4, 4)], {"kernel": (2, 2), "pad": (1, 1, 1)}, "pad"),
    ([(2, 3, 4, 4)], {"kernel": (0, 2)}, "kernel"),
]

CASES = [
    # max pooling
    _max_case((1, 2, 4, 5), "2d", kernel=(2, 2)),
    _max_case((1, 2, 4, 6), "2d-pad-partial", kernel=(2, 3), stride=(1, 2), pad=(1, 1), ignore_border=False),
    _max_case((4, 6), "2d-no-channel", kernel=(2, 2), stride=(2, 1), pad=(1, 0)),
    _max_case((2, 3, 7), "1d", kernel=(3,), stride=(2,), pad=(1,)),
    _max_case((1, 3, 4, 4), "3d-partial", kernel=(2, 2, 2), stride=(1, 2, 2), ignore_border=False),
    _max_case((1, 4, 5, 2), "channel-last", kernel=(2, 2), stride=(1, 2), pad=(0, 1), channel_last=True),
    _max_case((1, 1, 3, 3), "empty-windows", kernel=(2, 2), stride=(1, 1), pad=(2, 2)),
    Case(
        "MaxPooling",
        _distinct((1, 2, 4, 5)),
        lambda x, **k: ref_pool(x, mode="max", **k),
        args={"kernel": (2, 2)},
        name="errors",
        errors=_POOL_ERRORS,
    ),
    Case(
        "MaxPoolingBackward",
        _max_backward_inputs((1, 2, 3, 3), (1, 2, 4, 5)),
        ref_max_pooling_backward,
        args={"kernel": (2, 3), "stride": (2, 2), "pad": (1, 1), "ignore_border": True},
        grad_inputs=[0],
        errors=[([(1, 2, 2, 2), (1, 2, 4, 5)], {"kernel": (2, 3), "stride": (2, 2), "pad": (1, 1)}, "dy")],
    ),
    Case(
        "MaxPoolingBackward",
        _max_backward_inputs((2, 3, 3), (2, 6, 5)),
        ref_max_pooling_backward,
        args={"kernel": (3, 2), "stride": (2, 2), "ignore_border": False},
        grad_inputs=[0],
        name="partial",
    ),
    # average pooling
    _avg_case((1, 2, 4, 5), "2d", kernel=(2, 2)),
    _avg_case((1, 2, 4, 6), "2d-pad-partial", kernel=(2, 3), stride=(1, 2), pad=(1, 1), ignore_border=False),
    _avg_case((1, 2, 4, 6), "exclude-pad", kernel=(3, 3), stride=(2, 2), pad=(1, 1), ignore_border=False, including_pad=False),
    _avg_case((2, 3, 7), "1d", kernel=(3,), stride=(2,), pad=(1,)),
    _avg_case((1, 3, 4, 4), "3d", kernel=(2, 2, 2), stride=(1, 2, 1), pad=(1, 0, 1)),
    _avg_case((1, 4, 5, 2), "channel-last", kernel=(2, 2), stride=(1, 2), pad=(0, 1), channel_last=True, ignore_border=False),
    Case(
        "AveragePooling",
        [(1, 2, 4, 4)],
        lambda x, **k: ref_pool(x, mode="average", **k),
        args={"kernel": (2, 2)},
        name="errors",
        errors=_POOL_ERRORS,
    ),
    # sum pooling
    _sum_case((1, 2, 4, 6), "2d", kernel=(2, 2), stride=(2, 1), pad=(1, 0)),
    _sum_case((2, 2, 3, 3), "3d-partial", kernel=(2, 2, 2), stride=(1, 2, 2), ignore_border=False),
    _sum_case((1, 2, 4, 6), "tiles", kernel=(2, 3)),
    _sum_case((1, 4, 5, 2), "channel-last", kernel=(2, 2), channel_last=True, ignore_border=False),
    # global average pooling
    Case("GlobalAveragePooling", [(2, 3, 2, 3)], ref_global_average_pooling),
    Case("GlobalAveragePooling", [(2, 3, 5)], ref_global_average_pooling, name="3d"),
    Case(
        "GlobalAveragePooling",
        [(3, 4)],
        ref_global_average_pooling,
        name="2d",
        errors=[([(5,)], {}, "x")],
    ),
    # unpooling
    Case("Unpooling", [(1, 2, 3)], ref_unpooling, args={"kernel": (2, 3)}),
    Case("Unpooling", [(2, 2, 3)], ref_unpooling, args={"kernel": (2, 1, 2)}, name="3d"),
    Case("Unpooling", [(1, 2, 3, 2)], ref_unpooling, args={"kernel": (2, 2), "channel_last": True}, name="channel-last"),
    Case(
        "Unpooling",
        [(2, 5)],
        ref_unpooling,
        args={"kernel": (3,)},
        name="1d",
        errors=[([(2, 3)], {"kernel": (2, 2, 2)}, "kernel"), ([(2, 3)], {"kernel": (2, 2), "channel_last": True}, "kernel")],
    ),
]
