"""Cases for nnl/functions/loss.py: references are naive per-element / per-sample loops in float64."""

from __future__ import annotations

import math

import numpy as np

from nnl.testing.function_tester import Case


def _logits_and_bits(shape: tuple[int, ...]):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        return [(rng.randn(*shape) * 2).astype(np.float32), rng.randint(0, 2, size=shape).astype(np.float32)]

    return make


def _sigmoid_ce_ref(x, t):
    out = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        s = 1.0 / (1.0 + math.exp(-float(x[i])))
        out[i] = -(t[i] * math.log(s) + (1 - t[i]) * math.log(1 - s))
    return out


def _probabilities_and_targets(shape: tuple[int, ...]):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        return [rng.uniform(0.1, 0.9, size=shape).astype(np.float32), rng.uniform(0, 1, size=shape).astype(np.float32)]

    return make


def _binary_ce_ref(x, t):
    out = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        out[i] = -(t[i] * math.log(x[i]) + (1 - t[i]) * math.log(1 - x[i]))
    return out


def _scores_and_labels(shape: tuple[int, ...], axis: int, low: int = -1, positive: bool = False):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        label_shape = list(shape)
        label_shape[axis] = 1
        x = rng.uniform(0.05, 0.95, size=shape) if positive else rng.randn(*shape) * 2
        t = rng.randint(low, shape[axis], size=label_shape)
        t.reshape(-1)[0] = max(low, 0) if low >= 0 else -1  # one ignored label at least when low == -1
        return [x.astype(np.float32), t.astype(np.int64)]

    return make


def _per_sample(x, t, axis, loss):
    """Apply ``loss(scores_along_axis, label)`` to each sample; the output has the target's shape."""
    axis = axis % x.ndim
    out = np.zeros(t.shape)
    for index in np.ndindex(*t.shape):
        selector = list(index)
        selector[axis] = slice(None)
        label = int(t[index])
        out[index] = 0.0 if label < 0 else loss(np.asarray(x[tuple(selector)], np.float64), label)
    return out


def _softmax_ce_ref(x, t, axis=None):
    axis = x.ndim - 1 if axis is None else axis

    def loss(scores, label):
        total = sum(math.exp(s) for s in scores)
        return -math.log(math.exp(scores[label]) / total)

    return _per_sample(x, t, axis, loss)


def _categorical_ce_ref(x, t, axis=None):
    axis = x.ndim - 1 if axis is None else axis
    return _per_sample(x, t, axis, lambda p, label: -math.log(p[label]))


def _elementwise_pair(f):
    def ref(x0, x1, **args):
        a, b = np.broadcast_arrays(x0.astype(np.float64), x1.astype(np.float64))
        out = np.zeros(a.shape)
        for i in np.ndindex(*a.shape):
            out[i] = f(a[i] - b[i], **args)
        return out

    return ref


def _pair_away(shape0, shape1, kinks: tuple[float, ...], margin: float = 0.05):
    """Two inputs whose difference stays ``margin`` away from the kinks of the loss."""

    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        x0 = rng.randn(*shape0) * 2
        x1 = rng.randn(*shape1) * 2
        d = x0 - x1  # shapes broadcast: push x0 where the difference is near a kink (x1 has no broadcast here)
        for k in kinks:
            near = np.abs(d - k) < margin
            x0 = np.where(near, x0 + 3 * margin, x0)
            d = x0 - x1
        return [x0.astype(np.float32), x1.astype(np.float32)]

    return make


def _huber(d, delta=1.0):
    return d * d if abs(d) < delta else delta * (2 * abs(d) - delta)


def _eps_insensitive(d, epsilon):
    return abs(d) - epsilon if abs(d) > epsilon else 0.0


def _distributions(shape: tuple[int, ...], base_axis: int):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        axes = tuple(range(base_axis % len(shape), len(shape)))
        p = 1 + rng.rand(*shape)
        q = 1 + rng.rand(*shape)
        return [(p / p.sum(axis=axes, keepdims=True)).astype(np.float32), (q / q.sum(axis=axes, keepdims=True)).astype(np.float32)]

    return make


def _kl_ref(p, q, base_axis=1):
    base_axis %= p.ndim
    batch = p.shape[:base_axis]
    out = np.zeros(batch + (1,))
    for index in np.ndindex(*batch):
        pi, qi = p[index].ravel().astype(np.float64), q[index].ravel().astype(np.float64)
        out[index + (0,)] = sum(a * (math.log(a + 1e-8) - math.log(b + 1e-8)) for a, b in zip(pi, qi))
    return out


CASES = [
    Case("SigmoidCrossEntropy", _logits_and_bits((3, 4)), _sigmoid_ce_ref, grad_inputs=[0],
         errors=[([(3, 4), (4, 3)], {}, "target.shape")]),
    Case(
        "SigmoidCrossEntropy",
        [np.array([-100.0, -30.0, 30.0, 100.0], np.float32), np.array([1.0, 0.0, 1.0, 0.0], np.float32)],
        lambda x, t: np.array([100.0, 0.0, 0.0, 100.0]) + np.log1p(np.exp(-np.abs(x.astype(np.float64)))),
        grad_inputs=[0],
        name="large_logits",
    ),
    Case("BinaryCrossEntropy", _probabilities_and_targets((3, 4)), _binary_ce_ref, atol_b=5e-3,
         errors=[([(3, 4), (3, 1)], {}, "target.shape")]),
    Case("SoftmaxCrossEntropy", _scores_and_labels((4, 5), 1), _softmax_ce_ref,
         errors=[([(4, 5), (4, 5)], {}, "target.shape"), ([(4, 5), (4, 1)], {"axis": 2}, "axis")]),
    Case("SoftmaxCrossEntropy", _scores_and_labels((2, 3, 4), 1), _softmax_ce_ref, args={"axis": 1}, name="axis1"),
    Case("SoftmaxCrossEntropy", _scores_and_labels((3, 2, 4), 0, low=0), _softmax_ce_ref, args={"axis": -3}, name="axis_neg"),
    Case(
        "SoftmaxCrossEntropy",
        [np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0]], np.float32), np.array([[0], [2]], np.int64)],
        lambda x, t: np.array([[0.0], [500.0]]),
        name="large_logits",
    ),
    Case("CategoricalCrossEntropy", _scores_and_labels((4, 5), 1, positive=True), _categorical_ce_ref, atol_b=5e-3),
    Case("CategoricalCrossEntropy", _scores_and_labels((3, 4, 2), 1, positive=True), _categorical_ce_ref, args={"axis": 1},
         atol_b=5e-3, name="axis1", errors=[([(3, 4), (3, 4)], {}, "target.shape")]),
    Case("SquaredError", [(3, 4), (3, 4)], _elementwise_pair(lambda d: d * d)),
    Case("SquaredError", [(2, 3, 4), (3, 1)], _elementwise_pair(lambda d: d * d), name="broadcast",
         errors=[([(2, 3), (4,)], {}, "broadcast")]),
    Case("AbsoluteError", _pair_away((3, 4), (3, 4), (0.0,)), _elementwise_pair(abs)),
    Case("HuberLoss", _pair_away((3, 4), (3, 4), (-1.0, 1.0)), _elementwise_pair(_huber)),
    Case("HuberLoss", _pair_away((4, 5), (4, 5), (-0.5, 0.5)), _elementwise_pair(_huber), args={"delta": 0.5}, name="delta"),
    Case("EpsilonInsensitiveLoss", _pair_away((3, 4), (3, 4), (-0.3, 0.3)), _elementwise_pair(_eps_insensitive), args={"epsilon": 0.3}),
    Case("KLMultinomial", _distributions((3, 6), 1), _kl_ref, dstep=1e-4,
         errors=[([(3, 6), (3, 5)], {}, "q.shape")]),
    Case("KLMultinomial", _distributions((2, 3, 4), 2), _kl_ref, args={"base_axis": 2}, dstep=1e-4, name="base_axis2"),
    Case("KLMultinomial", _distributions((2, 3, 4), -2), _kl_ref, args={"base_axis": -2}, dstep=1e-4, name="base_axis_neg"),
]
