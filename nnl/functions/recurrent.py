"""Fused recurrent layers (cuDNN style, nnabla's layout): RNN, LSTM and GRU over a whole sequence.

Shapes (``T`` steps, ``B`` batch, ``I`` input size, ``H`` hidden size, ``L`` layers, ``D`` = 2 if bidirectional
else 1):

- ``x`` (T, B, I); ``h`` (and LSTM's ``c``) (L, D, B, H);
- ``weight_l0`` (D, G, H, I + H) with G gates (RNN has no gate axis: (D, H, I + H)); ``weight`` (optional, when
  L > 1) (L - 1, D, G, H, D*H + H); ``bias`` (optional) (L, D, G', H) (RNN: (L, D, H));
- outputs ``y`` (T, B, D*H), ``h_n`` (and ``c_n``) shaped like ``h``.

Each weight row ``[W_x | W_h]`` multiplies ``concat(x_t, h_{t-1})``. Gate order and formulas follow nnabla:

- RNN: ``h = act(W [x, h] + b)`` with act ``tanh`` or ``relu``;
- LSTM (gates i, f, g, o): ``c = sig(f) c + sig(i) tanh(g)``, ``h = sig(o) tanh(c)``;
- GRU (gates r, z, n; four biases b_r, b_z, b_n, b_hn): ``r = sig(W_r [x, h] + b_r)``, ``z = sig(W_z [x, h] + b_z)``,
  ``n = tanh(W_nx x + b_n + r (W_nh h + b_hn))``, ``h = (1 - z) n + z h``.

The backward direction reads the sequence reversed and its outputs are concatenated after the forward ones.
``dropout`` (training only) drops the outputs of every layer but the last. With the weight input omitted, an
optional input of bias rank is taken as the bias (nnabla's rule).

The kernels loop over time steps only; each step is vectorised over the batch and both directions (one batched
matmul), the input projections of all steps are one GEMM, and back-propagation through time reuses the
activations kept by the forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Float, Function, Int64, String
from nnl.functions.registry import api


def _item(v: Any, i: int) -> Any:
    """``v[i]`` along the first axis, as a graph node."""
    from nnl import functions as F

    shape = tuple(v.shape)
    part = F.slice(v, (i,) + (0,) * (len(shape) - 1), (i + 1,) + shape[1:], (1,) * len(shape))
    return F.reshape(part, shape[1:])


def _gate(F: Any, inputs: Any, w: Any, b: Any) -> Any:
    """``inputs @ w.T + b`` for one gate (w: (H, in))."""
    return F.affine(inputs, F.transpose(w, (1, 0)), b) if b is not None else F.affine(inputs, F.transpose(w, (1, 0)))


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function (through tanh)."""
    out = np.multiply(a, 0.5)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class _LayerCache:
    """What the forward pass keeps for back-propagation through time, per layer."""

    __slots__ = ("inputs", "layers", "masks")

    def __init__(self, inputs: list[Any]) -> None:
        self.inputs = inputs
        self.layers: list[dict[str, Any]] = []
        self.masks: list[Any] = []


class _Recurrent(Function):
    """Shared parsing of inputs, validation and the time/layer loops; subclasses define one cell."""

    n_gates = 1  # rows of weight per hidden unit
    n_bias = 1  # biases per hidden unit
    has_cell = False
    output_names = ("y", "h_n")
    nonlinearity = "tanh"  # an argument of RNN only
    grad_depends_input = True

    # -- setup ----------------------------------------------------------------------------------------------------
    @property
    def _n_state(self) -> int:
        return 2 if self.has_cell else 1

    def _weight_shape(self, layer: int, in_size: int, d: int, hidden: int) -> tuple[int, ...]:
        gate = () if self.n_gates == 1 else (self.n_gates,)
        return (d, *gate, hidden, in_size + hidden)

    def _bias_shape(self, layers: int, d: int, hidden: int) -> tuple[int, ...]:
        gate = () if self.n_bias == 1 else (self.n_bias,)
        return (layers, d, *gate, hidden)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shapes = [tuple(v.shape) for v in inputs]
        ns = self._n_state
        x_shape = shapes[0]
        if len(x_shape) != 3:
            raise self.fail("x", "a 3-d array (seq_len, batch_size, input_size)", f"x.shape={x_shape}")
        seq_len, batch, in_size = x_shape
        if int(self.num_layers) < 1:
            raise self.fail("num_layers", "a positive int", self.num_layers)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise self.fail("dropout", "a probability in [0, 1)", self.dropout)
        layers, d = int(self.num_layers), 2 if self.bidirectional else 1
        h_shape = shapes[1]
        if len(h_shape) != 4 or h_shape[:3] != (layers, d, batch):
            raise self.fail(
                "h",
                f"shape (num_layers, num_directions, batch_size, hidden_size) = ({layers}, {d}, {batch}, hidden_size)",
                f"h.shape={h_shape}",
            )
        hidden = h_shape[3]
        if self.has_cell and shapes[2] != h_shape:
            raise self.fail("c", f"the shape of h {h_shape}", f"c.shape={shapes[2]}")
        w0_shape = shapes[1 + ns]
        expected_w0 = self._weight_shape(0, in_size, d, hidden)
        if w0_shape != expected_w0:
            raise self.fail("weight_l0", f"shape {expected_w0} (num_directions, [gates,] hidden_size, input_size + hidden_size)", f"weight_l0.shape={w0_shape}")
        optional = shapes[2 + ns :]
        expected_w = (layers - 1, *self._weight_shape(1, d * hidden, d, hidden))
        expected_b = self._bias_shape(layers, d, hidden)
        has_weight = has_bias = False
        if len(optional) == 1:
            if layers > 1:
                if len(optional[0]) != len(expected_w):
                    raise self.fail("weight", f"a weight of shape {expected_w} when num_layers > 1", f"shape {optional[0]}")
                has_weight = True
            else:
                if len(optional[0]) != len(expected_b):
                    raise self.fail("weight", "no weight when num_layers == 1 (bias expected)", f"an input of shape {optional[0]}")
                has_bias = True
        elif len(optional) == 2:
            if layers == 1:
                raise self.fail("weight", "no weight when num_layers == 1", f"weight.shape={optional[0]}")
            has_weight = has_bias = True
        elif len(optional) > 2:
            raise self.fail("inputs", f"at most {3 + ns} inputs", f"{len(shapes)} inputs")
        if layers > 1 and not has_weight:
            raise self.fail("weight", f"a weight of shape {expected_w} when num_layers > 1", "no weight")
        if has_weight and optional[0] != expected_w:
            raise self.fail("weight", f"shape {expected_w}", f"weight.shape={optional[0]}")
        if has_bias and optional[-1] != expected_b:
            raise self.fail("bias", f"shape {expected_b}", f"bias.shape={optional[-1]}")
        if self.name == "RNN" and self.nonlinearity not in ("tanh", "relu"):
            raise self.fail("nonlinearity", "'tanh' or 'relu'", repr(self.nonlinearity))
        self._has_weight, self._has_bias = has_weight, has_bias
        self._dims = (seq_len, batch, in_size, hidden, layers, d)
        outputs = [(seq_len, batch, d * hidden), h_shape]
        if self.has_cell:
            outputs.append(h_shape)
        return outputs

    # -- parameters of one layer ---------------------------------------------------------------------------------
    def _split_inputs(self, x: list[Any]) -> tuple[Any, list[Any], Any, Any, Any]:
        ns = self._n_state
        states = x[1 : 1 + ns]
        w0 = x[1 + ns]
        rest = x[2 + ns :]
        w = rest[0] if self._has_weight else None
        b = rest[-1] if self._has_bias else None
        return x[0], states, w0, w, b

    def _layer_weight(self, w0: Any, w: Any, layer: int, dtype: Any) -> np.ndarray:
        """The weight of one layer as (D, G*H, in + H)."""
        weight = w0 if layer == 0 else w[layer - 1]
        return np.asarray(weight, dtype=dtype).reshape(weight.shape[0], -1, weight.shape[-1])

    def _layer_bias(self, b: Any, layer: int, dtype: Any, d: int, hidden: int) -> np.ndarray | None:
        """The bias of one layer as (D, n_bias*H), or None."""
        if b is None:
            return None
        return np.asarray(b[layer], dtype=dtype).reshape(d, -1)

    # -- forward ---------------------------------------------------------------------------------------------------
    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        keep = bool(self.training) and (not self.inputs or any(v.need_grad for v in self.inputs))
        return self._forward_layers(x, keep)

    def _forward_layers(self, x: list[Any], keep: bool) -> list[Any]:
        seq_len, batch, in_size, hidden, layers, d = self._dims
        data, states, w0, w, b = self._split_inputs(x)
        dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float32)
        cache = _LayerCache(list(x)) if keep else None
        layer_input = np.asarray(data, dtype=dtype)
        finals = [np.empty((layers, d, batch, hidden), dtype) for _ in range(self._n_state)]
        drop = float(self.dropout) if self.training else 0.0
        for layer in range(layers):
            weight = self._layer_weight(w0, w, layer, dtype)
            bias = self._layer_bias(b, layer, dtype, d, hidden)
            init = [np.asarray(s[layer], dtype=dtype) for s in states]
            store: dict[str, Any] = {"input": layer_input}
            y, last = self._run_layer(layer_input, init, weight, bias, store)
            for f, value in zip(finals, last):
                f[layer] = value
            if cache is not None:
                cache.layers.append(store)
            if drop > 0.0 and layer < layers - 1:
                mask = (self.rng().random_sample(y.shape) >= drop).astype(dtype) / dtype.type(1.0 - drop)
                y = y * mask
                if cache is not None:
                    cache.masks.append(mask)
            layer_input = y
        self._cache = cache
        return [layer_input, *finals]

    def _run_layer(self, inp: np.ndarray, init: list[np.ndarray], weight: np.ndarray, bias: np.ndarray | None, store: dict[str, Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        """One layer, both directions: returns y (T, B, D*H) and the final states, each (D, B, H)."""
        seq_len, batch, in_size = inp.shape
        d, gh, _ = weight.shape
        hidden = init[0].shape[-1]
        wx = weight[:, :, :in_size]
        proj = inp.reshape(seq_len * batch, in_size) @ np.ascontiguousarray(wx.transpose(2, 0, 1)).reshape(in_size, d * gh)
        xs = np.ascontiguousarray(proj.reshape(seq_len, batch, d, gh).transpose(2, 0, 1, 3))  # (D, T, B, G*H)
        self._add_input_bias(xs, bias, hidden)
        if d == 2:
            xs[1] = xs[1, ::-1].copy()  # the backward direction in step order
        wh_t = np.ascontiguousarray(weight[:, :, in_size:].transpose(0, 2, 1))  # (D, H, G*H)
        hs = np.empty((d, seq_len + 1, batch, hidden), inp.dtype)
        hs[:, 0] = init[0]
        last = self._steps(xs, hs, init, wh_t, bias, store)
        store["hs"] = hs
        y = np.empty((seq_len, batch, d * hidden), inp.dtype)
        y[:, :, :hidden] = hs[0, 1:]
        if d == 2:
            y[:, :, hidden:] = hs[1, :0:-1]
        return y, last

    def _add_input_bias(self, xs: np.ndarray, bias: np.ndarray | None, hidden: int) -> None:
        if bias is not None:
            xs += bias[:, None, None, :]

    # -- backward ------------------------------------------------------------------------------------------------
    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not self.training:
            raise RuntimeError(f"{self.name}: backward is available in training mode only (the function was created with training=False).")
        cache = self.__dict__.get("_cache")
        if cache is None or len(cache.inputs) != len(x) or any(a is not b for a, b in zip(cache.inputs, x)):
            # the activations were not kept (or belong to other inputs): recompute them
            if float(self.dropout) > 0.0:
                raise RuntimeError(f"{self.name}: with dropout > 0, backward needs the activations of the forward pass that drew the mask; run forward with need_grad set first.")
            self._forward_layers(x, keep=True)
            cache = self._cache
        seq_len, batch, in_size, hidden, layers, d = self._dims
        data, states, w0, w, b = self._split_inputs(x)
        dtype = cache.layers[0]["hs"].dtype
        ns = self._n_state
        d_states = [np.asarray(g, dtype=dtype).copy() for g in dy[1 : 1 + ns]]  # (L, D, B, H) each
        d_y = np.asarray(dy[0], dtype=dtype)
        g_w0 = g_w = g_b = None
        need_w0, need_w, need_b = need[1 + ns], self._has_weight and need[2 + ns], self._has_bias and need[-1]
        if need_w:
            g_w = np.zeros(w.shape, dtype)
        if need_b:
            g_b = np.zeros(b.shape, dtype)
        d_input = None
        for layer in reversed(range(layers)):
            store = cache.layers[layer]
            weight = self._layer_weight(w0, w, layer, dtype)
            bias = self._layer_bias(b, layer, dtype, d, hidden)
            want_weight = need_w0 if layer == 0 else need_w
            want_input = layer > 0 or need[0]
            grads = self._backprop_layer(store, d_y, [s[layer] for s in d_states], weight, bias, want_weight, need_b, want_input)
            d_input, d_init, d_weight, d_bias = grads
            for s, g in zip(d_states, d_init):
                s[layer] = g
            if d_weight is not None:
                if layer == 0:
                    g_w0 = d_weight.reshape(w0.shape)
                else:
                    g_w[layer - 1] = d_weight.reshape(w.shape[1:])
            if d_bias is not None:
                g_b[layer] = d_bias.reshape(b.shape[1:])
            if layer > 0:
                d_y = d_input * cache.masks[layer - 1] if cache.masks else d_input
        result: list[Any] = [None] * len(x)
        if need[0]:
            result[0] = d_input
        for i in range(ns):
            if need[1 + i]:
                result[1 + i] = d_states[i]
        if need_w0:
            result[1 + ns] = g_w0
        if need_w:
            result[2 + ns] = g_w
        if need_b:
            result[-1] = g_b
        return result

    def _backprop_layer(self, store: dict[str, Any], d_y: np.ndarray, d_last: list[np.ndarray], weight: np.ndarray, bias: Any, want_weight: bool, want_bias: bool, want_input: bool) -> tuple[Any, list[np.ndarray], Any, Any]:
        inp = store["input"]
        hs = store["hs"]
        seq_len, batch, in_size = inp.shape
        d, gh, _ = weight.shape
        hidden = hs.shape[-1]
        dys = np.empty((d, seq_len, batch, hidden), hs.dtype)  # output gradients in step order
        dys[0] = d_y[:, :, :hidden]
        if d == 2:
            dys[1] = d_y[::-1, :, hidden:]
        wh = np.ascontiguousarray(weight[:, :, in_size:])  # (D, G*H, H)
        d_gx, d_gh, d_init = self._steps_backward(store, dys, d_last, wh)  # (D, T, B, G*H) in step order
        d_weight = d_bias = d_input = None
        rows = seq_len * batch
        if want_weight:
            d_weight = np.empty(weight.shape, hs.dtype)
            h_prev = hs[:, :seq_len].reshape(d, rows, hidden)
            d_weight[:, :, in_size:] = np.matmul(d_gh.reshape(d, rows, gh).transpose(0, 2, 1), h_prev)
        if d == 2:
            d_gx[1] = d_gx[1, ::-1].copy()  # back to time order for the input terms
        if want_weight:
            flat_in = inp.reshape(rows, in_size)
            for k in range(d):
                d_weight[k, :, :in_size] = d_gx[k].reshape(rows, gh).T @ flat_in
        if want_bias:
            d_bias = self._bias_gradient(d_gx, d_gh)
        if want_input:
            wx = weight[:, :, :in_size]
            d_input = (d_gx[0].reshape(rows, gh) @ wx[0]).reshape(seq_len, batch, in_size)
            for k in range(1, d):
                d_input += (d_gx[k].reshape(rows, gh) @ wx[k]).reshape(seq_len, batch, in_size)
        return d_input, d_init, d_weight, d_bias

    def _bias_gradient(self, d_gx: np.ndarray, d_gh: np.ndarray) -> np.ndarray:
        return d_gx.sum(axis=(1, 2))

    # -- differentiable gradient (nn.grad) -------------------------------------------------------------------------
    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        """The layer unrolled into elementary functions (like nnabla's ``nnabla.utils.rnn`` graphs) and
        differentiated with ``nn.grad``: the gradients are themselves differentiable."""
        from nnl.core.grad import grad

        if not self.training:
            raise RuntimeError(f"{self.name}: backward is available in training mode only (the function was created with training=False).")
        masks = None
        if float(self.dropout) > 0.0:
            cache = self.__dict__.get("_cache")
            if cache is None or not cache.masks:
                raise RuntimeError(f"{self.name}: nn.grad with dropout > 0 needs the forward pass that drew the mask to run first.")
            masks = cache.masks
        outputs = self._unrolled(list(x), masks)
        wanted = [v for v, n in zip(x, need) if n]
        grads = iter(grad(outputs, wanted, grad_outputs=list(dy)))
        return [next(grads) if n else None for n in need]

    def _unrolled(self, x: list[Any], masks: Any) -> list[Any]:
        import nnl
        from nnl import functions as F

        seq_len, batch, in_size, hidden, layers, d = self._dims
        data, states, w0, w, b = self._split_inputs(x)
        seq = [_item(data, t) for t in range(seq_len)]
        finals: list[list[Any]] = [[] for _ in states]
        for layer in range(layers):
            weight = w0 if layer == 0 else _item(w, layer - 1)
            merged: list[Any] | None = None
            for k in range(d):
                wk = _item(weight, k)
                bk = None if b is None else _item(_item(b, layer), k)
                state = [_item(_item(s, layer), k) for s in states]
                out: list[Any] = [None] * seq_len
                for t in range(seq_len) if k == 0 else reversed(range(seq_len)):
                    state = self._cell_graph(F, seq[t], state, wk, bk)
                    out[t] = state[0]
                for f, value in zip(finals, state):
                    f.append(value)
                merged = out if merged is None else [F.concatenate(a, o, axis=1) for a, o in zip(merged, out)]
            seq = merged
            if masks is not None and layer < layers - 1:
                mask = nnl.Variable.from_numpy_array(np.asarray(masks[layer], np.float32))
                seq = [s * _item(mask, t) for t, s in enumerate(seq)]
        y = F.stack(*seq, axis=0)
        return [y] + [F.reshape(F.stack(*f, axis=0), (layers, d, batch, hidden)) for f in finals]

    def _cell_graph(self, F: Any, x: Any, state: list[Any], w: Any, b: Any) -> list[Any]:
        raise NotImplementedError

    # -- the cell (subclasses) ----------------------------------------------------------------------------------
    def _steps(self, xs: np.ndarray, hs: np.ndarray, init: list[np.ndarray], wh_t: np.ndarray, bias: Any, store: dict[str, Any]) -> list[np.ndarray]:
        raise NotImplementedError

    def _steps_backward(self, store: dict[str, Any], dys: np.ndarray, d_last: list[np.ndarray], wh: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        raise NotImplementedError


class RNN(_Recurrent):
    """Elman RNN layers (``tanh`` or ``relu``): ``h_t = act(W [x_t, h_{t-1}] + b)``."""

    input_names = ("x", "h", "weight_l0", "weight?", "bias?")

    num_layers: Int64 = 1
    nonlinearity: String = "tanh"
    dropout: Float = 0.0
    bidirectional: Bool = False
    training: Bool = True

    def _steps(self, xs, hs, init, wh_t, bias, store):
        relu = self.nonlinearity == "relu"
        h = init[0]
        for s in range(xs.shape[1]):
            out = hs[:, s + 1]
            np.matmul(h, wh_t, out=out)
            out += xs[:, s]
            if relu:
                np.maximum(out, 0, out=out)
            else:
                np.tanh(out, out=out)
            h = out
        return [hs[:, -1].copy()]

    def _steps_backward(self, store, dys, d_last, wh):
        hs = store["hs"]
        after = hs[:, 1:]
        deriv = (after > 0).astype(hs.dtype) if self.nonlinearity == "relu" else 1 - after * after
        d_g = np.empty_like(dys)
        d_h = d_last[0].astype(hs.dtype, copy=True)
        for s in reversed(range(dys.shape[1])):
            d_h += dys[:, s]
            g = d_g[:, s]
            np.multiply(d_h, deriv[:, s], out=g)
            d_h = np.matmul(g, wh)
        return d_g, d_g, [d_h]

    def _cell_graph(self, F, x, state, w, b):
        a = _gate(F, F.concatenate(x, state[0], axis=1), w, b)
        return [F.relu(a) if self.nonlinearity == "relu" else F.tanh(a)]


@api(RNN)
def rnn(x: Any, h: Any, weight_l0: Any, weight: Any = None, bias: Any = None, num_layers: int = 1, nonlinearity: str = "tanh", dropout: Any = None, bidirectional: bool = False, training: bool = True, n_outputs: int = -1, outputs: Any = None) -> Any:
    inputs = [v for v in (x, h, weight_l0, weight, bias) if v is not None]
    dropout = 0.0 if dropout is None else dropout
    return RNN(num_layers, nonlinearity, dropout, bidirectional, training)(*inputs, n_outputs=n_outputs, outputs=outputs)


class LSTM(_Recurrent):
    """Long short-term memory layers (gates i, f, g, o)."""

    input_names = ("x", "h", "c", "weight_l0", "weight?", "bias?")
    output_names = ("y", "h_n", "c_n")
    n_gates = 4
    n_bias = 4
    has_cell = True

    num_layers: Int64 = 1
    dropout: Float = 0.0
    bidirectional: Bool = False
    training: Bool = True

    def _steps(self, xs, hs, init, wh_t, bias, store):
        d, steps, batch, gh = xs.shape
        hidden = gh // 4
        # sigmoid(a) = 0.5 tanh(a / 2) + 0.5: pre-scale the i, f, o columns so that one tanh serves all gates
        scale = np.full(gh, 0.5, xs.dtype)
        scale[2 * hidden : 3 * hidden] = 1
        shift = np.full(gh, 0.5, xs.dtype)
        shift[2 * hidden : 3 * hidden] = 0
        xs *= scale
        wh_t = wh_t * scale
        acts = np.empty_like(xs)  # activated gates, step order
        cs = np.empty((d, steps + 1, batch, hidden), xs.dtype)
        cs[:, 0] = init[1]
        h = init[0]
        for s in range(steps):
            a = acts[:, s]
            np.matmul(h, wh_t, out=a)
            a += xs[:, s]
            np.tanh(a, out=a)
            a *= scale
            a += shift
            c = cs[:, s + 1]
            np.multiply(a[..., hidden : 2 * hidden], cs[:, s], out=c)
            c += a[..., :hidden] * a[..., 2 * hidden : 3 * hidden]
            h = hs[:, s + 1]
            np.tanh(c, out=h)
            h *= a[..., 3 * hidden :]
        store["acts"], store["cs"] = acts, cs
        return [hs[:, -1].copy(), cs[:, -1].copy()]

    def _steps_backward(self, store, dys, d_last, wh):
        acts, cs = store["acts"], store["cs"]
        hidden = cs.shape[-1]
        i_, f_, g_, o_ = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
        deriv = acts * (1 - acts)
        deriv[..., g_] = 1 - acts[..., g_] * acts[..., g_]
        tanh_c = np.tanh(cs[:, 1:])
        d_g = np.empty_like(acts)
        d_h = d_last[0].astype(acts.dtype, copy=True)
        d_c = d_last[1].astype(acts.dtype, copy=True)
        for s in reversed(range(dys.shape[1])):
            a = acts[:, s]
            tc = tanh_c[:, s]
            d_h += dys[:, s]
            d_c += d_h * a[..., o_] * (1 - tc * tc)
            g = d_g[:, s]
            np.multiply(d_c, a[..., g_], out=g[..., i_])
            np.multiply(d_c, cs[:, s], out=g[..., f_])
            np.multiply(d_c, a[..., i_], out=g[..., g_])
            np.multiply(d_h, tc, out=g[..., o_])
            g *= deriv[:, s]
            d_h = np.matmul(g, wh)
            d_c *= a[..., f_]
        return d_g, d_g, [d_h, d_c]

    def _cell_graph(self, F, x, state, w, b):
        h, c = state
        xh = F.concatenate(x, h, axis=1)
        i, f, g, o = (_gate(F, xh, _item(w, k), None if b is None else _item(b, k)) for k in range(4))
        c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
        return [F.sigmoid(o) * F.tanh(c), c]


@api(LSTM)
def lstm(x: Any, h: Any, c: Any, weight_l0: Any, weight: Any = None, bias: Any = None, num_layers: int = 1, dropout: Any = None, bidirectional: bool = False, training: bool = True, n_outputs: int = -1, outputs: Any = None) -> Any:
    inputs = [v for v in (x, h, c, weight_l0, weight, bias) if v is not None]
    dropout = 0.0 if dropout is None else dropout
    return LSTM(num_layers, dropout, bidirectional, training)(*inputs, n_outputs=n_outputs, outputs=outputs)


class GRU(_Recurrent):
    """Gated recurrent unit layers (gates r, z, n; biases b_r, b_z, b_n, b_hn)."""

    input_names = ("x", "h", "weight_l0", "weight?", "bias?")
    n_gates = 3
    n_bias = 4

    num_layers: Int64 = 1
    dropout: Float = 0.0
    bidirectional: Bool = False
    training: Bool = True

    def _add_input_bias(self, xs: np.ndarray, bias: np.ndarray | None, hidden: int) -> None:
        if bias is not None:
            xs += bias[:, None, None, : 3 * hidden]

    def _steps(self, xs, hs, init, wh_t, bias, store):
        d, steps, batch, gh = xs.shape
        hidden = gh // 3
        rz = slice(0, 2 * hidden)
        n_ = slice(2 * hidden, 3 * hidden)
        xs[..., rz] *= 0.5  # sigmoid through tanh, as in LSTM
        wh_t = wh_t.copy()
        wh_t[..., rz] *= 0.5
        b_hn = None if bias is None else bias[:, None, 3 * hidden :]  # (D, 1, H)
        gates = np.empty((d, steps, batch, 3 * hidden), xs.dtype)  # r, z, n activated
        h_n = np.empty((d, steps, batch, hidden), xs.dtype)  # W_nh h + b_hn
        hp = np.empty((d, batch, gh), xs.dtype)
        h = init[0]
        for s in range(steps):
            np.matmul(h, wh_t, out=hp)
            a = gates[:, s]
            np.add(xs[:, s, :, rz], hp[..., rz], out=a[..., rz])
            np.tanh(a[..., rz], out=a[..., rz])
            a[..., rz] *= 0.5
            a[..., rz] += 0.5
            hn = h_n[:, s]
            if b_hn is None:
                hn[...] = hp[..., n_]
            else:
                np.add(hp[..., n_], b_hn, out=hn)
            n = a[..., n_]
            np.multiply(a[..., :hidden], hn, out=n)
            n += xs[:, s, :, n_]
            np.tanh(n, out=n)
            out = hs[:, s + 1]
            np.subtract(h, n, out=out)
            out *= a[..., hidden : 2 * hidden]
            out += n
            h = out
        store["gates"], store["h_n"] = gates, h_n
        return [hs[:, -1].copy()]

    def _steps_backward(self, store, dys, d_last, wh):
        gates, h_n, hs = store["gates"], store["h_n"], store["hs"]
        hidden = hs.shape[-1]
        r_, z_, n_ = (slice(k * hidden, (k + 1) * hidden) for k in range(3))
        d_gx = np.empty_like(gates)  # pre-activation gradients of the input projections (r, z, n)
        d_gh = np.empty_like(gates)  # ... of the hidden projections (r, z, W_nh h + b_hn)
        d_h = d_last[0].astype(gates.dtype, copy=True)
        for s in reversed(range(dys.shape[1])):
            a = gates[:, s]
            r, z, n = a[..., r_], a[..., z_], a[..., n_]
            h_prev = hs[:, s]
            d_h += dys[:, s]
            gx, gh = d_gx[:, s], d_gh[:, s]
            dan = gx[..., n_]
            np.multiply(d_h, 1 - z, out=dan)
            dan *= 1 - n * n
            np.multiply(dan, h_n[:, s], out=gx[..., r_])
            gx[..., r_] *= r * (1 - r)
            np.multiply(d_h, h_prev - n, out=gx[..., z_])
            gx[..., z_] *= z * (1 - z)
            gh[..., : 2 * hidden] = gx[..., : 2 * hidden]
            np.multiply(dan, r, out=gh[..., n_])
            d_h = d_h * z
            d_h += np.matmul(gh, wh)
        return d_gx, d_gh, [d_h]

    def _cell_graph(self, F, x, state, w, b):
        (h,) = state
        hidden = h.shape[1]
        xh = F.concatenate(x, h, axis=1)
        bias = [None] * 4 if b is None else [_item(b, k) for k in range(4)]
        r = F.sigmoid(_gate(F, xh, _item(w, 0), bias[0]))
        z = F.sigmoid(_gate(F, xh, _item(w, 1), bias[1]))
        w_n = _item(w, 2)
        cols = w_n.shape[1]
        w_nx = F.slice(w_n, (0, 0), (hidden, cols - hidden), (1, 1))
        w_nh = F.slice(w_n, (0, cols - hidden), (hidden, cols), (1, 1))
        n = F.tanh(_gate(F, x, w_nx, bias[2]) + r * _gate(F, h, w_nh, bias[3]))
        return [F.r_sub_scalar(z, 1.0) * n + z * h]

    def _bias_gradient(self, d_gx: np.ndarray, d_gh: np.ndarray) -> np.ndarray:
        hidden = d_gx.shape[-1] // 3
        out = np.empty((d_gx.shape[0], 4 * hidden), d_gx.dtype)
        out[:, : 3 * hidden] = d_gx.sum(axis=(1, 2))
        out[:, 3 * hidden :] = d_gh[..., 2 * hidden :].sum(axis=(1, 2))
        return out


@api(GRU)
def gru(x: Any, h: Any, weight_l0: Any, weight: Any = None, bias: Any = None, num_layers: int = 1, dropout: Any = None, bidirectional: bool = False, training: bool = True, n_outputs: int = -1, outputs: Any = None) -> Any:
    inputs = [v for v in (x, h, weight_l0, weight, bias) if v is not None]
    dropout = 0.0 if dropout is None else dropout
    return GRU(num_layers, dropout, bidirectional, training)(*inputs, n_outputs=n_outputs, outputs=outputs)
