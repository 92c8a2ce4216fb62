"""Cases for nnl/functions/validation.py: references count with naive per-sample loops."""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


def _scores_and_labels(shape: tuple[int, ...], axis: int):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        label_shape = list(shape)
        label_shape[axis] = 1
        return [rng.rand(*shape).astype(np.float32), rng.randint(0, shape[axis], size=label_shape).astype(np.int64)]

    return make


def _samples(x, t, axis):
    """(scores along axis, label) for each sample, in the target's element order."""
    axis = axis % x.ndim
    for index in np.ndindex(*t.shape):
        selector = list(index)
        selector[axis] = slice(None)
        yield index, list(x[tuple(selector)]), int(t[index])


def _top_n_ref(x, t, axis=None, n=1):
    axis = x.ndim - 1 if axis is None else axis
    out = np.zeros(t.shape)
    for index, scores, label in _samples(x, t, axis):
        at_least = sum(1 for s in scores if s >= scores[label])
        out[index] = 1.0 if at_least > n else 0.0
    return out


def _confusion_ref(x, t, axis=None):
    axis = x.ndim - 1 if axis is None else axis
    n = x.shape[axis]
    out = np.zeros((n, n), np.int64)
    for _, scores, label in _samples(x, t, axis):
        best = 0
        for j, s in enumerate(scores):
            if s > scores[best]:
                best = j
        out[label, best] += 1
    return out


def _binary_error_ref(x, t):
    out = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        out[i] = float((x[i] >= 0.5) != (t[i] >= 0.5))
    return out


CASES = [
    Case("TopNError", _scores_and_labels((6, 5), 1), _top_n_ref, backward=False,
         errors=[([(6, 5), (6, 5)], {}, "target.shape"), ([(6, 5), (6, 1)], {"n": 0}, "n")]),
    Case("TopNError", _scores_and_labels((4, 5, 3), 1), _top_n_ref, args={"axis": 1, "n": 2}, backward=False, name="axis1_n2"),
    Case(
        "TopNError",
        [np.array([[0.5, 0.5, 0.1], [0.2, 0.9, 0.9]], np.float32), np.array([[1], [2]], np.int64)],
        _top_n_ref,
        backward=False,
        name="ties",
    ),
    Case("BinaryError", [np.random.RandomState(1).rand(3, 4).astype(np.float32), np.random.RandomState(2).rand(3, 4).astype(np.float32)],
         _binary_error_ref, backward=False, errors=[([(3, 4), (4, 3)], {}, "target.shape")]),
    Case("ConfusionMatrix", _scores_and_labels((10, 4), 1), _confusion_ref, backward=False,
         errors=[([(6, 5), (6, 2)], {}, "target.shape")]),
    Case("ConfusionMatrix", _scores_and_labels((3, 4, 5), 0), _confusion_ref, args={"axis": 0}, backward=False, name="axis0"),
]
