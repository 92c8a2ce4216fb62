"""Export converters of the fused recurrent layers (RNN, LSTM, GRU): one ONNX op per layer.

nnabla keeps each gate's ``[W_x | W_h]`` rows together, gates in the order i, f, g, o (LSTM) and r, z, n (GRU),
and outputs ``y`` as ``(T, B, D*H)``. ONNX wants ``W`` (D, G*H, I) and ``R`` (D, G*H, H) with gates i, o, f, c
(LSTM) and z, r, h (GRU), biases ``[Wb | Rb]`` and ``Y`` as ``(T, D, B, H)``. nnabla's GRU adds ``b_hn`` inside the
reset product, which is ONNX's ``linear_before_reset=1`` with ``Rb = [0, 0, b_hn]``.
"""

from __future__ import annotations

import numpy as np

from nnl.onnx._export_base import Step, converter

# ONNX gate k is nnabla gate _ORDER[type][k]
_ORDER = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def _item(s: Step, name: str, index: int) -> str:
    return s.node("Gather", [name, s.const(index, np.int64)], axis=0)


def _weights(s: Step, weight: str, gates: int, in_size: int, hidden: int, d: int) -> tuple[str, str]:
    """``W`` (D, G*H, in) and ``R`` (D, G*H, H) of one layer from nnabla's (D, [G,] H, in + H)."""
    w = s.reshape(weight, (d, gates, hidden, in_size + hidden), out=s.fresh("weight"))
    order = _ORDER[s.fn.name]
    if order != sorted(order):
        w = s.node("Gather", [w, s.ints(order)], axis=1)

    def part(start: int, stop: int) -> str:
        piece = s.node("Slice", [w, s.ints([start]), s.ints([stop]), s.ints([3])])
        return s.reshape(piece, (d, gates * hidden, stop - start), out=s.fresh("w"))

    return part(0, in_size), part(in_size, in_size + hidden)


def _bias(s: Step, bias: str, layer: int, gates: int, hidden: int, d: int) -> str:
    """``[Wb | Rb]`` (D, 2*G*H) of one layer."""
    b = _item(s, bias, layer)
    name = s.fn.name
    if name == "RNN":
        input_bias = s.reshape(b, (d, hidden), out=s.fresh("bias"))
        recurrent = s.const(np.zeros((d, hidden)))
    else:
        four = s.reshape(b, (d, 4, hidden), out=s.fresh("bias"))
        input_bias = s.reshape(
            s.node("Gather", [four, s.ints(_ORDER[name])], axis=1), (d, gates * hidden), out=s.fresh("bias")
        )
        if name == "LSTM":
            recurrent = s.const(np.zeros((d, 4 * hidden)))
        else:
            b_hn = s.reshape(s.node("Gather", [four, s.ints([3])], axis=1), (d, hidden), out=s.fresh("bias"))
            recurrent = s.node("Concat", [s.const(np.zeros((d, 2 * hidden))), b_hn], axis=1)
    return s.node("Concat", [input_bias, recurrent], axis=1)


@converter("RNN", "LSTM", "GRU")
def _recurrent(s: Step) -> None:
    fn = s.fn
    seq_len, _, in_size, hidden, layers, d = fn._dims
    n_state = 2 if fn.name == "LSTM" else 1
    gates = len(_ORDER[fn.name])
    states = s.x[1 : 1 + n_state]
    rest = s.x[2 + n_state :]
    stacked = rest[0] if fn._has_weight else None
    bias = rest[-1] if fn._has_bias else None
    attrs: dict[str, object] = {"hidden_size": hidden, "direction": "bidirectional" if d == 2 else "forward"}
    if fn.name == "RNN":
        attrs["activations"] = ["Relu" if fn.nonlinearity == "relu" else "Tanh"] * d
    if fn.name == "GRU":
        attrs["linear_before_reset"] = 1
    y_pair = s.pair(s.y[0])
    layer_input = s.x[0]
    finals: list[list[str]] = [[] for _ in range(n_state)]
    for layer in range(layers):
        weight = s.x[1 + n_state] if layer == 0 else _item(s, stacked, layer - 1)  # type: ignore[arg-type]
        w, r = _weights(s, weight, gates, in_size if layer == 0 else d * hidden, hidden, d)
        b = _bias(s, bias, layer, gates, hidden, d) if bias is not None else ""
        initial = [_item(s, state, layer) for state in states]
        outputs = s.node(fn.name, [layer_input, w, r, b, "", *initial], n_out=1 + n_state, **attrs)
        for final, value in zip(finals, outputs[1:]):
            final.append(value)
        steps = s.node("Transpose", [outputs[0]], perm=[0, 2, 1, 3])  # (T, B, D, H)
        last = layer == layers - 1
        layer_input = s.reshape(steps, y_pair, out=s.y[0] if last else s.fresh("y"))
    for out, final in zip(s.y[1:], finals):
        parts = [s.node("Unsqueeze", [v, s.ints([0])]) for v in final]
        s.node("Concat", parts, out, axis=0) if len(parts) > 1 else s.node("Identity", parts, out)
