"""Cases for nnl/functions/math.py (Identity's case lives in core_examples.py).

References use Python's ``math`` module element by element, or naive loops, never the kernels' NumPy calls.
"""

from __future__ import annotations

import math

import numpy as np

from nnl.testing.function_tester import Case


def _uniform(shape: tuple[int, ...], low: float, high: float, avoid: float | None = None, margin: float = 0.05):
    """Inputs drawn in [low, high), kept ``margin`` away from the kinks at ``avoid + k`` (k integer) if given."""

    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        x = rng.uniform(low, high, size=shape)
        if avoid is not None:
            frac = x - np.floor(x - avoid) - avoid  # distance above the kink below
            x = np.where(frac < margin, x + 2 * margin, x)
            x = np.where(frac > 1 - margin, x - 2 * margin, x)
        return [x.astype(np.float32)]

    return make


def _elementwise(f):
    vec = np.vectorize(lambda v: f(float(v)), otypes=[np.float64])
    return lambda x: vec(x)


def _c_round(v: float) -> float:
    return float(math.floor(abs(v) + 0.5)) * (1.0 if v >= 0 else -1.0)


def _pair(shape0: tuple[int, ...], shape1: tuple[int, ...]):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        return [rng.randn(*shape0).astype(np.float32), rng.randn(*shape1).astype(np.float32)]

    return make


def _atan2_ref(x0, x1):
    b = np.broadcast_arrays(x0.astype(np.float64), x1.astype(np.float64))
    out = np.zeros(b[0].shape)
    for i in np.ndindex(*out.shape):
        out[i] = math.atan2(b[0][i], b[1][i])
    return out


def _bmm_ref(a, b, transpose_a=False, transpose_b=False):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    batch = tuple(max(p, q) for p, q in zip(a.shape[:-2], b.shape[:-2]))
    out = np.zeros(batch + (a.shape[-2], b.shape[-1]))
    for index in np.ndindex(*batch):
        ia = tuple(0 if a.shape[d] == 1 else i for d, i in enumerate(index))
        ib = tuple(0 if b.shape[d] == 1 else i for d, i in enumerate(index))
        ma, mb = a[ia], b[ib]
        for r in range(ma.shape[0]):
            for c in range(mb.shape[1]):
                out[index + (r, c)] = sum(ma[r, k] * mb[k, c] for k in range(ma.shape[1]))
    return out


def _arange_ref(start, stop, step=1):
    values = []
    v = np.float32(start)
    while (v < stop) if step > 0 else (v > stop):
        values.append(v)
        v = np.float32(v + np.float32(step))
    return np.array(values, np.float32)


def _linspace_ref(start, stop, num):
    if num == 1:
        return np.array([start], np.float32)
    return np.array([start + (stop - start) * i / (num - 1) for i in range(num)], np.float32)


_UNARY = [
    ("Exp", _uniform((3, 4), -2, 2), math.exp),
    ("Log", _uniform((3, 4), 0.2, 3), math.log),
    ("Sin", _uniform((3, 4), -3, 3), math.sin),
    ("Cos", _uniform((3, 4), -3, 3), math.cos),
    ("Tan", _uniform((3, 4), -1.2, 1.2), math.tan),
    ("Sinh", _uniform((3, 4), -2, 2), math.sinh),
    ("Cosh", _uniform((3, 4), -2, 2), math.cosh),
    ("ASin", _uniform((3, 4), -0.9, 0.9), math.asin),
    ("ACos", _uniform((3, 4), -0.9, 0.9), math.acos),
    ("ATan", _uniform((3, 4), -3, 3), math.atan),
    ("ASinh", _uniform((3, 4), -3, 3), math.asinh),
    ("ACosh", _uniform((3, 4), 1.2, 3), math.acosh),
    ("ATanh", _uniform((3, 4), -0.9, 0.9), math.atanh),
    ("Erf", _uniform((3, 4), -2, 2), math.erf),
]

CASES = [
    *[Case(name, inputs, _elementwise(f)) for name, inputs, f in _UNARY],
    Case("Abs", _uniform((2, 3, 4), -2, 2, avoid=0.0), _elementwise(abs)),
    Case("Round", _uniform((3, 5), -4, 4, avoid=0.5), _elementwise(_c_round), backward=False),
    Case(
        "Round",
        [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997], np.float32)],
        _elementwise(_c_round),
        backward=False,
        name="half_away_from_zero",
    ),
    Case("Ceil", _uniform((3, 5), -4, 4, avoid=0.0), _elementwise(math.ceil), backward=False),
    Case("Floor", _uniform((3, 5), -4, 4, avoid=0.0), _elementwise(math.floor), backward=False),
    Case("ATan2", _pair((2, 3), (2, 3)), _atan2_ref),
    Case("ATan2", _pair((2, 1, 3), (4, 1)), _atan2_ref, name="broadcast"),
    Case("Constant", [], lambda val, shape: np.full(shape, val, np.float32), args={"val": 1.5, "shape": (2, 3)}, backward=False),
    Case("Constant", [], lambda **k: np.zeros(()), backward=False, name="default"),
    Case("Arange", [], _arange_ref, args={"start": 0, "stop": 10, "step": 0.3}, backward=False),
    Case("Arange", [], _arange_ref, args={"start": 9.9, "stop": -9.9, "step": -1.1}, backward=False, name="negative_step"),
    Case("Arange", [], _arange_ref, args={"start": 0, "stop": 10, "step": -1}, backward=False, name="empty",
         errors=[([], {"start": 0, "stop": 1, "step": 0}, "step")]),
    Case("Linspace", [], _linspace_ref, args={"start": -5.0, "stop": 5.0, "num": 7}, backward=False),
    Case("Linspace", [], _linspace_ref, args={"start": 2.0, "stop": 3.0, "num": 1}, backward=False, name="one"),
    Case("BatchMatmul", _pair((2, 3, 4), (2, 4, 5)), _bmm_ref),
    Case("BatchMatmul", _pair((2, 4, 3), (2, 5, 4)), _bmm_ref, args={"transpose_a": True, "transpose_b": True}, name="tt"),
    Case("BatchMatmul", _pair((2, 4, 3), (2, 4, 5)), _bmm_ref, args={"transpose_a": True}, name="ta"),
    Case("BatchMatmul", _pair((2, 3, 4), (2, 5, 4)), _bmm_ref, args={"transpose_b": True}, name="tb"),
    Case("BatchMatmul", _pair((1, 3, 2, 4), (2, 1, 4, 3)), _bmm_ref, name="broadcast"),
    Case(
        "BatchMatmul",
        _pair((3, 4), (4, 2)),
        _bmm_ref,
        name="2d",
        errors=[
            ([(2, 3, 4), (2, 5, 6)], {}, "reduction size"),
            ([(2, 3, 4), (4, 5)], {}, "dimensions"),
            ([(2, 3, 4), (3, 4, 5)], {}, "batch dimension"),
            ([(4,), (4,)], {}, "at least 2 dimensions"),
        ],
    ),
]
