"""SGD family: Sgd, SgdW, Momentum, Nesterov, Lars (nnabla src/nbla/solver/generic/{sgd,sgdw,momentum,nesterov,lars}.cpp)."""

from __future__ import annotations

import numpy as np

from nnl.solver import _F32, Solver, _sum_sq


class Sgd(Solver):
    r"""Stochastic gradient descent: :math:`w \leftarrow w - \eta g`.

    Args:
        lr (float): learning rate :math:`\eta`.
    """

    _ARGS = (("lr", "float"),)

    def __init__(self, lr=0.001):
        super().__init__(lr=lr)

    def _update_impl(self, key, param, state):
        lr = self._lr

        def kernel(w, g, tmp):
            np.multiply(g, lr, out=tmp)
            w -= tmp

        self._chunked(kernel, self._buffers(param, state), n32=1)


class SgdW(Solver):
    r"""Momentum SGD with decoupled weight decay.

    :math:`m \leftarrow \gamma m + \alpha_t g`, :math:`w \leftarrow w - m - (\alpha_t / \alpha) \lambda w`,
    where :math:`\lambda` is the rate given to ``weight_decay`` before this update (default ``wd``).

    Args:
        lr (float): initial learning rate :math:`\alpha` (``set_learning_rate`` gives :math:`\alpha_t`).
        momentum (float): decay rate of momentum :math:`\gamma`.
        wd (float): default weight decay rate :math:`\lambda` (fused into ``update``).
    """

    _ARGS = (("lr", "float"), ("momentum", "float"), ("wd", "float"))
    _STATE_NAMES = ("m",)

    def __init__(self, lr=0.001, momentum=0.9, wd=0.0001):
        super().__init__(weight_decay_is_fused=True, default_weight_decay_rate=wd, lr=lr, momentum=momentum, wd=wd)
        self._init_lr = self._lr

    def _update_impl(self, key, param, state):
        lr, momentum = self._lr, self._momentum
        decay = (lr / self._init_lr) * self._wd_rate

        def kernel(w, g, m, tmp):
            m *= momentum
            np.multiply(g, lr, out=tmp)
            m += tmp
            np.multiply(w, decay, out=tmp)
            w -= m
            w -= tmp

        self._chunked(kernel, self._buffers(param, state, "m"), n32=1)


class Momentum(Solver):
    r"""SGD with momentum: :math:`m \leftarrow \gamma m + \eta g`, :math:`w \leftarrow w - m`.

    Args:
        lr (float): learning rate :math:`\eta`.
        momentum (float): decay rate of momentum :math:`\gamma`.
    """

    _ARGS = (("lr", "float"), ("momentum", "float"))
    _STATE_NAMES = ("m",)

    def __init__(self, lr=0.001, momentum=0.9):
        super().__init__(lr=lr, momentum=momentum)

    def _update_impl(self, key, param, state):
        lr, momentum = self._lr, self._momentum

        def kernel(w, g, m, tmp):
            m *= momentum
            np.multiply(g, lr, out=tmp)
            m += tmp
            w -= m

        self._chunked(kernel, self._buffers(param, state, "m"), n32=1)


class Nesterov(Solver):
    r"""Nesterov accelerated gradient.

    :math:`v_t \leftarrow \gamma v_{t-1} - \eta g`, :math:`w \leftarrow w - \gamma v_{t-1} + (1 + \gamma) v_t`.

    Args:
        lr (float): learning rate :math:`\eta`.
        momentum (float): decay rate of momentum :math:`\gamma`.
    """

    _ARGS = (("lr", "float"), ("momentum", "float"))
    _STATE_NAMES = ("m",)

    def __init__(self, lr=0.001, momentum=0.9):
        super().__init__(lr=lr, momentum=momentum)

    def _update_impl(self, key, param, state):
        lr, mom = self._lr, self._momentum
        neg_mom, one_plus = -mom, _F32(1) + mom

        def kernel(w, g, m, step, tmp):
            np.multiply(m, neg_mom, out=step)  # -momentum * v_prev
            m *= mom
            np.multiply(g, lr, out=tmp)
            m -= tmp
            np.multiply(m, one_plus, out=tmp)
            step += tmp
            w += step

        self._chunked(kernel, self._buffers(param, state, "m"), n32=2)


class Lars(Solver):
    r"""LARS with momentum (layer-wise adaptive rate scaling).

    :math:`\lambda = \eta \|w\| / (\|g\| + \beta \|w\|)`, :math:`v \leftarrow m v + \gamma_t \lambda (g + \beta w)`,
    :math:`w \leftarrow w - v`, where :math:`\beta` is the rate given to ``weight_decay`` (fused, default 0).
    The local rate falls back to :math:`\gamma_t` when :math:`\|w\| < \epsilon`.

    Args:
        lr (float): learning rate :math:`\gamma_t`.
        momentum (float): decay rate of momentum :math:`m`.
        coefficient (float): trust coefficient :math:`\eta`.
        eps (float): small value :math:`\epsilon`.
    """

    _ARGS = (("lr", "float"), ("momentum", "float"), ("coefficient", "float"), ("eps", "float"))
    _STATE_NAMES = ("v",)

    def __init__(self, lr=0.001, momentum=0.9, coefficient=0.001, eps=1e-06):
        super().__init__(weight_decay_is_fused=True, lr=lr, momentum=momentum, coefficient=coefficient, eps=eps)

    def _update_impl(self, key, param, state):
        w, g, v = self._buffers(param, state, "v")
        wd = self._wd_rate
        g_norm = np.sqrt(_sum_sq(g))
        d_norm = np.sqrt(_sum_sq(w))
        x = g_norm + wd * d_norm
        if not x >= 0:
            raise ValueError(f"Lars: local learning rate should be positive or zero (parameter {key!r}).")
        if x < self._eps:
            x += self._eps
        lr = _F32(self._lr if d_norm < self._eps else self._lr * self._coefficient * d_norm / x)
        momentum = self._momentum

        def kernel(w, g, v, tmp):
            np.multiply(w, wd, out=tmp)  # weight decay into the gradient (as nnabla, g is modified)
            g += tmp
            v *= momentum
            np.multiply(g, lr, out=tmp)
            v += tmp
            w -= v

        self._chunked(kernel, [w, g, v], n32=1)
