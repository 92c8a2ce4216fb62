"""Torch kernels: the RNN, LSTM and GRU layers on torch's fused recurrent kernels.

nnabla's layouts map onto torch's flat weights: ``weight_l0`` is ``(D, [G,] H, I + H)`` with the gates in torch's
order (LSTM i, f, g, o; GRU r, z, n), split into the input and the hidden weights; a bias holds ``n_bias`` vectors
per layer and direction (torch's ``b_ih``, and ``b_hh`` holding GRU's recurrent ``b_hn``, zero elsewhere).
"""

from __future__ import annotations

from typing import Any

import torch

from nnl.backends.torch.kernel import Unsupported, kernel


def _flat_weights(fn: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    seq_len, batch, in_size, hidden, layers, d = fn._dims
    _, _, w0, w, b = fn._split_inputs(xs)
    gates = fn.n_gates
    flat: list[torch.Tensor] = []
    for layer in range(layers):
        weight = w0 if layer == 0 else w[layer - 1]
        width = weight.shape[-1] - hidden
        for direction in range(d):
            rows = weight[direction].reshape(gates * hidden, width + hidden)
            flat += [rows[:, :width], rows[:, width:]]
            if b is not None:
                vectors = b[layer, direction].reshape(fn.n_bias, hidden)
                b_ih = vectors[:gates].reshape(-1)
                b_hh = torch.zeros_like(b_ih)
                if fn.n_bias > gates:  # GRU's b_hn: inside r * (W_hn h + b_hn)
                    b_hh = torch.cat([torch.zeros_like(vectors[0]), torch.zeros_like(vectors[0]), vectors[gates]])
                flat += [b_ih, b_hh]
    return flat


def _check(fn: Any) -> None:
    if fn.training and float(fn.dropout) > 0 and fn.num_layers > 1:
        raise Unsupported("dropout between layers")


def _states(fn: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    seq_len, batch, in_size, hidden, layers, d = fn._dims
    return [s.reshape(layers * d, batch, hidden) for s in fn._split_inputs(xs)[1]]


@kernel("LSTM")
def lstm(fn: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    _check(fn)
    seq_len, batch, in_size, hidden, layers, d = fn._dims
    h, c = _states(fn, xs)
    flat = _flat_weights(fn, xs)
    y, h_n, c_n = torch._VF.lstm(xs[0], (h, c), flat, fn._has_bias, layers, 0.0, bool(fn.training), bool(fn.bidirectional), False)
    return [y, h_n.reshape(layers, d, batch, hidden), c_n.reshape(layers, d, batch, hidden)]


@kernel("GRU")
def gru(fn: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    _check(fn)
    seq_len, batch, in_size, hidden, layers, d = fn._dims
    (h,) = _states(fn, xs)
    y, h_n = torch._VF.gru(xs[0], h, _flat_weights(fn, xs), fn._has_bias, layers, 0.0, bool(fn.training), bool(fn.bidirectional), False)
    return [y, h_n.reshape(layers, d, batch, hidden)]


@kernel("RNN")
def rnn(fn: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    _check(fn)
    seq_len, batch, in_size, hidden, layers, d = fn._dims
    (h,) = _states(fn, xs)
    run = torch._VF.rnn_tanh if fn.nonlinearity == "tanh" else torch._VF.rnn_relu
    y, h_n = run(xs[0], h, _flat_weights(fn, xs), fn._has_bias, layers, 0.0, bool(fn.training), bool(fn.bidirectional), False)
    return [y, h_n.reshape(layers, d, batch, hidden)]


def _training_only(fn: Any) -> None:
    """As the reference: these layers back-propagate only when created with training=True."""
    if not fn.training:
        raise RuntimeError(f"{fn.name}: backward is available in training mode only (the function was created with training=False).")


for _impl in (lstm, gru, rnn):
    _impl.before_backward = _training_only  # type: ignore[attr-defined]
