"""Cases for nnl/functions/recurrent.py.

The reference runs the cell gate by gate on ``concat(x_t, h)`` with each gate's own (H, I+H) matrix, one time step
and one direction at a time, in float64 (the layout of nnabla's unrolled ``nnabla.utils.rnn`` graphs).
"""

from __future__ import annotations

import numpy as np

import nnl
from nnl.testing.function_tester import Case


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _rnn_cell(x, state, w, b, nonlinearity="tanh"):
    (h,) = state
    a = np.concatenate([x, h], axis=1) @ w.T + (0 if b is None else b)
    return (np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0),)


def _lstm_cell(x, state, w, b, **_):
    h, c = state
    xh = np.concatenate([x, h], axis=1)
    pre = [xh @ w[k].T + (0 if b is None else b[k]) for k in range(4)]
    c_new = _sig(pre[1]) * c + _sig(pre[0]) * np.tanh(pre[2])
    return _sig(pre[3]) * np.tanh(c_new), c_new


def _gru_cell(x, state, w, b, **_):
    (h,) = state
    hidden = h.shape[1]
    xh = np.concatenate([x, h], axis=1)
    bias = [0, 0, 0, 0] if b is None else b
    r = _sig(xh @ w[0].T + bias[0])
    z = _sig(xh @ w[1].T + bias[1])
    w_nx, w_nh = w[2][:, :-hidden], w[2][:, -hidden:]
    n = np.tanh(x @ w_nx.T + bias[2] + r * (h @ w_nh.T + bias[3]))
    return ((1 - z) * n + z * h,)


def _reference(cell, x, states, w0, w, b, num_layers, bidirectional, masks=(), **cell_args):
    x = np.asarray(x, np.float64)
    states = [np.asarray(s, np.float64) for s in states]
    directions = 2 if bidirectional else 1
    seq = [x[t] for t in range(x.shape[0])]
    finals = [np.zeros_like(s) for s in states]
    for layer in range(num_layers):
        weight = np.asarray(w0 if layer == 0 else w[layer - 1], np.float64)
        outputs = []
        for d in range(directions):
            state = tuple(s[layer, d] for s in states)
            bias = None if b is None else np.asarray(b[layer, d], np.float64)
            order = range(len(seq)) if d == 0 else reversed(range(len(seq)))
            ys = [None] * len(seq)
            for t in order:
                state = cell(seq[t], state, weight[d], bias, **cell_args)
                ys[t] = state[0]
            for f, s in zip(finals, state):
                f[layer, d] = s
            outputs.append(ys)
        seq = [np.concatenate([o[t] for o in outputs], axis=1) for t in range(len(seq))]
        if layer < len(masks):
            seq = [s * m for s, m in zip(seq, masks[layer])]
    return [np.stack(seq), *finals]


def ref_rnn(x, h, w0, w=None, b=None, num_layers=1, nonlinearity="tanh", dropout=None, bidirectional=False, training=True):
    return _reference(_rnn_cell, x, [h], w0, w, b, num_layers, bidirectional, nonlinearity=nonlinearity)


def ref_lstm(x, h, c, w0, w=None, b=None, num_layers=1, dropout=None, bidirectional=False, training=True):
    return _reference(_lstm_cell, x, [h, c], w0, w, b, num_layers, bidirectional)


def ref_gru(x, h, w0, w=None, b=None, num_layers=1, dropout=None, bidirectional=False, training=True):
    return _reference(_gru_cell, x, [h], w0, w, b, num_layers, bidirectional)


def _inputs(kind, seq_len, batch, in_size, hidden, num_layers=1, bidirectional=False, bias=True, scale=0.7):
    """x, h, [c], weight_l0, weight (None when 1 layer), bias (or None)."""
    d = 2 if bidirectional else 1
    gates = {"rnn": (), "lstm": (4,), "gru": (3,)}[kind]
    bias_gates = {"rnn": (), "lstm": (4,), "gru": (4,)}[kind]

    def make(rng):
        out = [rng.randn(seq_len, batch, in_size), rng.randn(num_layers, d, batch, hidden)]
        if kind == "lstm":
            out.append(rng.randn(num_layers, d, batch, hidden))
        out.append(rng.randn(d, *gates, hidden, in_size + hidden) * scale)
        out.append(rng.randn(num_layers - 1, d, *gates, hidden, d * hidden + hidden) * scale if num_layers > 1 else None)
        out.append(rng.randn(num_layers, d, *bias_gates, hidden) * scale if bias else None)
        return [None if a is None else a.astype(np.float32) for a in out]

    return make


def _call(api, n_before_weights, **args):
    """Call with the optional weight/bias passed by keyword (the tester passes inputs positionally)."""

    def call(F, *v):
        fixed = list(v[:n_before_weights])
        return getattr(F, api)(*fixed, weight=v[n_before_weights], bias=v[n_before_weights + 1], **args)

    return call


def _case(kind, name, shape, reference, num_layers=1, bidirectional=False, bias=True, training=True, **extra):
    api = {"rnn": "rnn", "lstm": "lstm", "gru": "gru"}[kind]
    n_fixed = 4 if kind == "lstm" else 3
    args = {"num_layers": num_layers, "bidirectional": bidirectional, "training": training, **extra}
    return Case(
        {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[kind],
        _inputs(kind, *shape, num_layers=num_layers, bidirectional=bidirectional, bias=bias),
        lambda *a, **k: reference(*a, **{**args, **k}),
        call=_call(api, n_fixed, **args),
        backward=training,
        name=name,
        atol_f=1e-5,
        rtol_f=1e-4,
    )


def _dropout_lstm():
    """Training with dropout: the mask (drawn from nnl's seeded function generator) scales the first layer's
    outputs; the reference draws the same uniforms."""
    shape, p, seed = (3, 2, 2, 2), 0.4, 1234

    def call(F, *v):
        nnl.seed(seed)
        return F.lstm(*v[:4], weight=v[4], bias=v[5], num_layers=2, dropout=p)

    def reference(x, h, c, w0, w, b):
        rng = np.random.RandomState(seed)
        mask = (rng.random_sample((3, 2, 2)) >= p) / (1 - p)
        return _reference(_lstm_cell, x, [h, c], w0, w, b, 2, False, masks=[list(mask)])

    return Case("LSTM", _inputs("lstm", *shape, num_layers=2), reference, call=call, backward=False, name="dropout")


def _errors():
    x, h, c = (3, 2, 2), (1, 1, 2, 2), (1, 1, 2, 2)
    return [
        ([(3, 2), h, c, (1, 4, 2, 4)], {}, "x"),
        ([x, (2, 1, 2, 2), c, (1, 4, 2, 4)], {}, "h"),
        ([x, h, (1, 1, 2, 3), (1, 4, 2, 4)], {}, "c"),
        ([x, h, c, (1, 4, 2, 5)], {}, "weight_l0"),
        ([x, h, c, (1, 4, 2, 4), (1, 1, 4, 3)], {}, "bias"),
        ([x, (2, 1, 2, 2), (2, 1, 2, 2), (1, 4, 2, 4)], {"num_layers": 2}, "weight"),
    ]


CASES = [
    _case("rnn", "tanh", (3, 2, 2, 3), ref_rnn),
    _case("rnn", "relu-bi-nobias", (3, 2, 2, 2), ref_rnn, bidirectional=True, bias=False, nonlinearity="relu"),
    _case("rnn", "2layers-bi", (2, 2, 1, 2), ref_rnn, num_layers=2, bidirectional=True),
    _case("rnn", "inference", (3, 2, 2, 3), ref_rnn, training=False, num_layers=2, nonlinearity="relu"),
    _case("lstm", "", (3, 2, 2, 2), ref_lstm),
    _case("lstm", "bi-nobias", (3, 2, 1, 2), ref_lstm, bidirectional=True, bias=False),
    _case("lstm", "2layers", (2, 2, 2, 2), ref_lstm, num_layers=2),
    _case("lstm", "2layers-bi", (2, 1, 1, 1), ref_lstm, num_layers=2, bidirectional=True),
    _case("lstm", "inference", (4, 2, 2, 3), ref_lstm, training=False, num_layers=2, bidirectional=True),
    _dropout_lstm(),
    Case("LSTM", _inputs("lstm", 3, 2, 2, 2), ref_lstm, name="errors", errors=_errors()),
    _case("gru", "", (3, 2, 2, 2), ref_gru),
    _case("gru", "bi-nobias", (3, 2, 1, 2), ref_gru, bidirectional=True, bias=False),
    _case("gru", "2layers", (2, 2, 2, 2), ref_gru, num_layers=2),
    _case("gru", "2layers-bi", (2, 1, 1, 1), ref_gru, num_layers=2, bidirectional=True),
    _case("gru", "inference", (4, 2, 2, 3), ref_gru, training=False, num_layers=2, bidirectional=True),
]
