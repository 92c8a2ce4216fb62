"""Cases for nnl/functions/activation.py.

References are element-by-element Python ``math`` (via ``_elementwise``) or explicit loops, in float64.
"""

from __future__ import annotations

import math

import numpy as np

from nnl.testing.function_tester import Case


def _away(shape: tuple[int, ...], kinks: tuple[float, ...] = (0.0,), scale: float = 1.0, margin: float = 0.05):
    """Standard normal inputs (times ``scale``) kept ``margin`` away from each kink, so that central
    differences are exact."""

    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        x = rng.randn(*shape) * scale
        for k in kinks:
            near = np.abs(x - k) < margin
            x[near] = k + np.where(x[near] >= k, 2 * margin, -2 * margin)
        return [x.astype(np.float32)]

    return make


def _elementwise(f):
    """A reference applying the scalar function ``f`` to every element, in float64."""

    def reference(x, **kwargs):
        x = np.asarray(x, np.float64)
        return np.array([f(float(v), **kwargs) for v in x.reshape(-1)], np.float64).reshape(x.shape)

    return reference


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def _softmax_ref(x, axis=None):
    x = np.asarray(x, np.float64)
    axis = x.ndim - 1 if axis is None else axis % x.ndim
    moved = np.moveaxis(x, axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(*moved.shape[:-1]):
        row = moved[index]
        e = [math.exp(v - max(row)) for v in row]
        out[index] = [v / sum(e) for v in e]
    return np.moveaxis(out, -1, axis)


def _log_softmax_ref(x, axis=None):
    return np.log(_softmax_ref(x, axis))


def _concat_ref(f):
    def reference(x, axis=1, **kwargs):
        x = np.asarray(x, np.float64)
        pos = _elementwise(f)(x, **kwargs)
        neg = _elementwise(f)(-x, **kwargs)
        return np.concatenate([pos, neg], axis=axis)

    return reference


def _elu(v: float, alpha: float = 1.0) -> float:
    return v if v >= 0 else alpha * (math.exp(v) - 1)


def _prelu_ref(x, w, base_axis=1):
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    axis = base_axis % x.ndim
    w = np.asarray(w, np.float64).reshape(-1)
    for index in np.ndindex(*x.shape):
        slope = w[0] if w.size == 1 else w[index[axis]]
        v = x[index]
        y[index] = v if v >= 0 else slope * v
    return y


def _gelu(v: float) -> float:
    return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))


CASES = [
    Case("ReLU", _away((2, 3, 4)), _elementwise(lambda v: max(v, 0.0))),
    Case("ReLU", [np.array(-0.7, np.float32)], lambda x, **k: np.where(x > 0, x, 0), name="0d"),
    Case("Sigmoid", [(3, 5)], _elementwise(_sigmoid)),
    Case(
        "Sigmoid", [np.array([-100.0, -20.0, 0.0, 20.0, 100.0], np.float32)], _elementwise(_sigmoid), name="saturated"
    ),
    Case("Swish", [(3, 5)], _elementwise(lambda v: v * _sigmoid(v))),
    Case("Tanh", [(3, 5)], _elementwise(math.tanh)),
    Case("LeakyReLU", _away((3, 4)), _elementwise(lambda v, alpha=0.1: v if v > 0 else alpha * v)),
    Case(
        "LeakyReLU",
        _away((3, 4)),
        _elementwise(lambda v, alpha: v if v > 0 else alpha * v),
        args={"alpha": -0.3},
        name="negative_alpha",
    ),
    Case("Softmax", [(2, 3, 4)], _softmax_ref),
    Case("Softmax", [(2, 3, 4)], _softmax_ref, args={"axis": 1}, name="axis1"),
    Case(
        "Softmax",
        [(2, 3, 4)],
        _softmax_ref,
        args={"axis": -3},
        name="axis_neg",
        errors=[([(2, 3)], {"axis": 2}, "axis")],
    ),
    Case(
        "Softmax",
        [np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0]], np.float32)],
        _softmax_ref,
        name="large",
        backward=False,
    ),
    Case("LogSoftmax", [(2, 3, 4)], _log_softmax_ref),
    Case("LogSoftmax", [(3, 4, 2)], _log_softmax_ref, args={"axis": 0}, name="axis0"),
    Case("ELU", _away((3, 4)), _elementwise(_elu)),
    Case("ELU", _away((3, 4)), _elementwise(_elu), args={"alpha": 0.5}, name="alpha"),
    Case(
        "SELU",
        _away((3, 4)),
        _elementwise(
            lambda v, scale=1.05070098735548, alpha=1.673263242354377: (
                scale * v if v > 0 else scale * alpha * (math.exp(v) - 1)
            )
        ),
    ),
    Case(
        "SELU",
        _away((3, 4)),
        _elementwise(lambda v, scale, alpha: scale * v if v > 0 else scale * alpha * (math.exp(v) - 1)),
        args={"scale": 2.0, "alpha": 0.5},
        name="args",
    ),
    Case("CReLU", _away((2, 3, 4)), _concat_ref(lambda v: max(v, 0.0))),
    Case(
        "CReLU",
        _away((2, 3, 4)),
        _concat_ref(lambda v: max(v, 0.0)),
        args={"axis": -1},
        name="axis_last",
        errors=[([(2, 3)], {"axis": 2}, "axis")],
    ),
    Case("CELU", _away((2, 3, 2)), _concat_ref(_elu)),
    Case("CELU", _away((2, 3, 2)), _concat_ref(_elu), args={"alpha": 0.7, "axis": 0}, name="axis0"),
    Case("PReLU", lambda rng: [_away((2, 3, 4))(rng)[0], rng.randn(3).astype(np.float32)], _prelu_ref),
    Case(
        "PReLU",
        lambda rng: [_away((2, 3, 2, 2))(rng)[0], np.array(0.25, np.float32)],
        _prelu_ref,
        args={"base_axis": 3},
        name="shared",
    ),
    Case(
        "PReLU",
        lambda rng: [_away((2, 5, 3))(rng)[0], rng.randn(5).astype(np.float32)],
        _prelu_ref,
        args={"base_axis": -2},
        name="negative_axis",
        errors=[([(2, 3, 4), (4,)], {}, "x1"), ([(2, 3), (3,)], {"base_axis": 2}, "base_axis")],
    ),
    Case("GELU", [(3, 5)], _elementwise(_gelu)),
    Case("Mish", [(3, 5)], _elementwise(lambda v: v * math.tanh(_softplus(v)))),
    Case(
        "Mish",
        [np.array([-60.0, -10.0, 30.0, 100.0], np.float32)],
        _elementwise(lambda v: v * math.tanh(_softplus(v))),
        name="large",
    ),
    Case("ReLU6", _away((3, 5), kinks=(0.0, 6.0), scale=4.0), _elementwise(lambda v: min(max(v, 0.0), 6.0))),
    Case(
        "HardSigmoid",
        _away((3, 5), kinks=(-2.5, 2.5), scale=2.5),
        _elementwise(lambda v: 1.0 if v > 2.5 else 0.0 if v < -2.5 else 0.2 * v + 0.5),
    ),
    Case(
        "HardTanh",
        _away((3, 5), kinks=(-1.0, 1.0), scale=1.5),
        _elementwise(lambda v: 1.0 if v > 1 else -1.0 if v < -1 else v),
    ),
    Case("LogSigmoid", [(3, 5)], _elementwise(lambda v: -_softplus(-v))),
    Case(
        "LogSigmoid",
        [np.array([-200.0, -30.0, 30.0, 200.0], np.float32)],
        _elementwise(lambda v: -_softplus(-v)),
        name="large",
    ),
    Case("SoftPlus", [(3, 5)], _elementwise(lambda v, beta=1.0: _softplus(beta * v) / beta)),
    Case(
        "SoftPlus", [(3, 5)], _elementwise(lambda v, beta: _softplus(beta * v) / beta), args={"beta": 2.5}, name="beta"
    ),
    Case("SoftSign", _away((3, 5)), _elementwise(lambda v: v / (1 + abs(v)))),
    Case("TanhShrink", [(3, 5)], _elementwise(lambda v: v - math.tanh(v))),
    Case("Sinc", _away((3, 5), scale=3.0), _elementwise(lambda v: 1.0 if v == 0 else math.sin(v) / v)),
    Case(
        "Sinc",
        [np.array([0.0, 1.0, -2.0], np.float32)],
        _elementwise(lambda v: 1.0 if v == 0 else math.sin(v) / v),
        name="zero",
        backward=False,
    ),
    # large inputs take the SIMD-friendly paths of sigmoid/softplus (forward only: gradients are checked above)
    Case("Sigmoid", [(30, 20)], _elementwise(_sigmoid), backward=False, name="large_input"),
    Case("Swish", [(30, 20)], _elementwise(lambda v: v * _sigmoid(v)), backward=False, name="large_input"),
    Case(
        "SoftPlus",
        [(10, 10)],
        _elementwise(lambda v, beta: _softplus(beta * v) / beta),
        args={"beta": 0.5},
        backward=False,
        name="large_input",
    ),
    Case("LogSigmoid", [(10, 10)], _elementwise(lambda v: -_softplus(-v)), backward=False, name="large_input"),
    Case("Mish", [(10, 10)], _elementwise(lambda v: v * math.tanh(_softplus(v))), backward=False, name="large_input"),
]
