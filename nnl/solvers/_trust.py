"""Lamb and Lion (nnabla src/nbla/solver/generic/{lamb,lion}.cpp); both fuse weight decay into the update."""

from __future__ import annotations

import numpy as np

from nnl.solver import _F32, Solver, _sum_sq

_ONE = _F32(1)


class Lamb(Solver):
    r"""LAMB (layer-wise adaptive moments).

    :math:`r = \frac{m / c_1}{\sqrt{v / c_2} + \epsilon} + \lambda w` (:math:`c_i = 1 - \beta_i^t` with
    ``bias_correction``, else 1), :math:`w \leftarrow w - \eta \frac{\phi(\|w\|)}{\|r\|} r` with
    :math:`\phi(z) = \min(\max(z, \gamma_l), \gamma_u)` (the ratio is 1 when :math:`\|r\| \le \epsilon`).
    :math:`\lambda` is the rate given to ``weight_decay`` before this update (fused, default 0).

    Args:
        eta (float): learning rate.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the second moment.
        gamma_l (float): lower bound of :math:`\phi`.
        gamma_u (float): upper bound of :math:`\phi`.
        eps (float): small value.
        bias_correction (bool): apply bias correction to the moments.
    """

    _ARGS = (
        ("eta", "float"),
        ("beta1", "float"),
        ("beta2", "float"),
        ("gamma_l", "float"),
        ("gamma_u", "float"),
        ("eps", "float"),
        ("bias_correction", "bool"),
    )
    _STATE_NAMES = ("mean", "var")
    _LR_NAME = "eta"

    def __init__(self, eta=0.001, beta1=0.9, beta2=0.999, gamma_l=0.0, gamma_u=10.0, eps=1e-06, bias_correction=False):
        super().__init__(
            weight_decay_is_fused=True,
            eta=eta,
            beta1=beta1,
            beta2=beta2,
            gamma_l=gamma_l,
            gamma_u=gamma_u,
            eps=eps,
            bias_correction=bias_correction,
        )

    def _update_impl(self, key, param, state):
        w, g, m, v = self._buffers(param, state, "mean", "var")
        t = state.t
        b1, b2, eps, wd = self._beta1, self._beta2, self._eps, self._wd_rate
        if self._bias_correction:
            c1 = _F32(1.0 - float(b1) ** t)
            c2 = _F32(1.0 - float(b2) ** t)
        else:
            c1 = c2 = _ONE
        r = np.empty_like(w)

        def direction(w, g, m, v, r, tmp):  # moments and r = (m / c1) / (sqrt(v / c2) + eps) + wd w
            m *= b1
            np.multiply(g, _ONE - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, _ONE - b2, out=tmp)
            tmp *= g
            v += tmp
            np.divide(v, c2, out=tmp)
            np.sqrt(tmp, out=tmp)
            tmp += eps
            np.divide(m, c1, out=r)
            r /= tmp
            np.multiply(w, wd, out=tmp)
            r += tmp

        self._chunked(direction, [w, g, m, v, r], n32=1)
        g_norm = np.sqrt(_sum_sq(r))
        v_norm = np.sqrt(_sum_sq(w))
        if v_norm < self._gamma_l:
            v_norm = self._gamma_l
        if v_norm > self._gamma_u:
            v_norm = self._gamma_u
        local_lr = float(v_norm / g_norm) if g_norm > eps else 1.0
        rate = float(self._eta) * local_lr  # a double in C++

        def step(w, r, step64):  # w -= rate * r, computed in double
            np.multiply(r, rate, out=step64, dtype=np.float64)
            np.subtract(w, step64, out=step64, dtype=np.float64)
            w[...] = step64

        self._chunked(step, [w, r], n32=0, n64=1)


class Lion(Solver):
    r"""Lion (evolved sign momentum).

    :math:`u = \mathrm{sign}(\beta_1 m + (1-\beta_1) g)`, :math:`m \leftarrow \beta_2 m + (1-\beta_2) g`,
    :math:`w \leftarrow w - \alpha (u + \lambda w)`, where :math:`\lambda` is the rate given to ``weight_decay``
    before this update (fused, default 0).

    Args:
        lr (float): step size :math:`\alpha`.
        beta1 (float): interpolation rate of the update direction.
        beta2 (float): decay rate of the momentum.
    """

    _ARGS = (("lr", "float"), ("beta1", "float"), ("beta2", "float"))
    _STATE_NAMES = ("m",)

    def __init__(self, lr=0.0001, beta1=0.9, beta2=0.99):
        super().__init__(weight_decay_is_fused=True, lr=lr, beta1=beta1, beta2=beta2)

    def _update_impl(self, key, param, state):
        lr, b1, b2, wd = self._lr, self._beta1, self._beta2, self._wd_rate

        def kernel(w, g, m, diff, u, neg):
            np.subtract(m, g, out=diff)  # lerp(g, m, b) = g + b (m - g)
            np.multiply(diff, b1, out=neg)
            neg += g
            # sign as C++ computes it, (x > 0) - (x < 0) (0 for NaN); np.sign is slow on float32
            np.greater(neg, 0, out=u)
            np.less(neg, 0, out=neg)
            u -= neg
            diff *= b2
            np.add(g, diff, out=m)
            np.multiply(w, wd, out=diff)
            u += diff
            u *= lr
            w -= u

        self._chunked(kernel, self._buffers(param, state, "m"), n32=3)
