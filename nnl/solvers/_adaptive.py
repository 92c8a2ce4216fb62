"""Adaptive-rate solvers: Adadelta, Adagrad, RMSprop, RMSpropGraves (nnabla src/nbla/solver/generic/*.cpp)."""

from __future__ import annotations

import numpy as np

from nnl.solver import _F32, Solver


class Adadelta(Solver):
    r"""AdaDelta.

    :math:`E[g^2] \leftarrow \gamma E[g^2] + (1-\gamma) g^2`,
    :math:`\Delta = \sqrt{(E[\Delta^2] + \epsilon) / (E[g^2] + \epsilon)}\, g`,
    :math:`E[\Delta^2] \leftarrow \gamma E[\Delta^2] + (1-\gamma) \Delta^2`, :math:`w \leftarrow w - \eta \Delta`.

    Args:
        lr (float): learning rate :math:`\eta`.
        decay (float): decay rate :math:`\gamma`.
        eps (float): small value :math:`\epsilon`.
    """

    _ARGS = (("lr", "float"), ("decay", "float"), ("eps", "float"))
    _STATE_NAMES = ("e_sqr_grad", "e_sqr_delta")

    def __init__(self, lr=1.0, decay=0.95, eps=1e-06):
        super().__init__(lr=lr, decay=decay, eps=eps)

    def _update_impl(self, key, param, state):
        lr, decay, keep, eps = self._lr, self._decay, _F32(1) - self._decay, self._eps

        def kernel(w, g, e_grad, e_delta, delta, tmp):
            e_grad *= decay
            np.multiply(g, g, out=tmp)
            tmp *= keep
            e_grad += tmp
            np.add(e_delta, eps, out=delta)
            np.add(e_grad, eps, out=tmp)
            delta /= tmp
            np.sqrt(delta, out=delta)
            delta *= g
            e_delta *= decay
            np.multiply(delta, delta, out=tmp)
            tmp *= keep
            e_delta += tmp
            delta *= lr
            w -= delta

        self._chunked(kernel, self._buffers(param, state, "e_sqr_grad", "e_sqr_delta"), n32=2)


class Adagrad(Solver):
    r"""AdaGrad: :math:`G \leftarrow G + g^2`, :math:`w \leftarrow w - \eta g / (\sqrt{G} + \epsilon)`.

    Args:
        lr (float): learning rate :math:`\eta`.
        eps (float): small value :math:`\epsilon`.
    """

    _ARGS = (("lr", "float"), ("eps", "float"))
    _STATE_NAMES = ("v",)

    def __init__(self, lr=0.01, eps=1e-08):
        super().__init__(lr=lr, eps=eps)

    def _update_impl(self, key, param, state):
        lr, eps = self._lr, self._eps

        def kernel(w, g, v, step, denom):
            np.multiply(g, g, out=step)
            v += step
            np.sqrt(v, out=denom)
            denom += eps
            np.multiply(g, lr, out=step)
            step /= denom
            w -= step

        self._chunked(kernel, self._buffers(param, state, "v"), n32=2)


class RMSprop(Solver):
    r"""RMSprop: :math:`v \leftarrow \gamma v + (1-\gamma) g^2`, :math:`w \leftarrow w - \eta g / (\sqrt{v} + \epsilon)`.

    Args:
        lr (float): learning rate :math:`\eta`.
        decay (float): decay rate :math:`\gamma`.
        eps (float): small value :math:`\epsilon`.
    """

    _ARGS = (("lr", "float"), ("decay", "float"), ("eps", "float"))
    _STATE_NAMES = ("v",)

    def __init__(self, lr=0.001, decay=0.9, eps=1e-08):
        super().__init__(lr=lr, decay=decay, eps=eps)

    def _update_impl(self, key, param, state):
        lr, decay, keep, eps = self._lr, self._decay, _F32(1) - self._decay, self._eps

        def kernel(w, g, v, tmp):
            v *= decay
            np.multiply(g, g, out=tmp)
            tmp *= keep
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(lr, tmp, out=tmp)
            tmp *= g
            w -= tmp

        self._chunked(kernel, self._buffers(param, state, "v"), n32=1)


class RMSpropGraves(Solver):
    r"""RMSprop as in Graves (2013).

    :math:`n \leftarrow \rho n + (1-\rho) g^2`, :math:`\bar g \leftarrow \rho \bar g + (1-\rho) g`,
    :math:`d \leftarrow \beta d - \eta g / \sqrt{n - \bar g^2 + \epsilon}`, :math:`w \leftarrow w + d`.

    Args:
        lr (float): learning rate :math:`\eta`.
        decay (float): decay rate :math:`\rho`.
        momentum (float): momentum :math:`\beta`.
        eps (float): small value :math:`\epsilon`.
    """

    _ARGS = (("lr", "float"), ("decay", "float"), ("momentum", "float"), ("eps", "float"))
    _STATE_NAMES = ("n", "g", "d")

    def __init__(self, lr=0.0001, decay=0.95, momentum=0.9, eps=0.0001):
        super().__init__(lr=lr, decay=decay, momentum=momentum, eps=eps)

    def _update_impl(self, key, param, state):
        lr, decay, keep, momentum, eps = self._lr, self._decay, _F32(1) - self._decay, self._momentum, self._eps

        def kernel(w, g, n, gbar, d, tmp, denom):
            n *= decay
            np.multiply(g, keep, out=tmp)
            gbar *= decay
            gbar += tmp
            tmp *= g
            n += tmp
            np.multiply(gbar, gbar, out=denom)
            np.subtract(n, denom, out=denom)
            denom += eps
            np.sqrt(denom, out=denom)
            np.multiply(g, lr, out=tmp)
            tmp /= denom
            d *= momentum
            d -= tmp
            w += d

        self._chunked(kernel, self._buffers(param, state, "n", "g", "d"), n32=2)
