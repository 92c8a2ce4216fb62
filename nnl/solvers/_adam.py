"""Adam family: Adam, AdamW, AdaBound, Adamax, AMSGRAD, AMSBound, AdaBelief (nnabla src/nbla/solver/generic/*.cpp).

Scalars follow the C++ types: ``std::pow(float, uint32)`` promotes to double, so the bias corrections are computed
in double and rounded to float; everything element-wise is float32.
"""

from __future__ import annotations

import math

import numpy as np

from nnl.solver import _F32, Solver, _bias_correction

_ONE = _F32(1)


def _moments(g, m, v, beta1, beta2, tmp):
    """m = b1 m + (1-b1) g; v = b2 v + ((1-b2) g) g, in place (``tmp`` is scratch)."""
    m *= beta1
    np.multiply(g, _ONE - beta1, out=tmp)
    m += tmp
    v *= beta2
    np.multiply(g, _ONE - beta2, out=tmp)
    tmp *= g
    v += tmp


def _adam_step(w, m, second, alpha_t, eps, step, denom):
    """w -= alpha_t m / (sqrt(second) + eps)."""
    np.sqrt(second, out=denom)
    denom += eps
    np.multiply(m, alpha_t, out=step)
    step /= denom
    w -= step


def _bounded_step(w, m, second, alpha_t, eps, lower, upper, eta):
    """w -= clip(alpha_t / (sqrt(second) + eps), lower, upper) m."""
    np.sqrt(second, out=eta)
    eta += eps
    np.divide(alpha_t, eta, out=eta)
    np.maximum(eta, lower, out=eta)
    np.minimum(eta, upper, out=eta)
    eta *= m
    w -= eta


class Adam(Solver):
    r"""Adam.

    :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
    :math:`w \leftarrow w - \alpha \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} \frac{m}{\sqrt{v} + \epsilon}`
    (bias correction folded into the step size, :math:`\epsilon` outside the square root).

    Args:
        alpha (float): step size :math:`\alpha`.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the second moment.
        eps (float): small value :math:`\epsilon`.
    """

    _ARGS = (("alpha", "float"), ("beta1", "float"), ("beta2", "float"), ("eps", "float"))
    _STATE_NAMES = ("mean", "var")
    _LR_NAME = "alpha"

    def __init__(self, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08):
        super().__init__(alpha=alpha, beta1=beta1, beta2=beta2, eps=eps)

    def _update_impl(self, key, param, state):
        b1, b2, eps = self._beta1, self._beta2, self._eps
        alpha_t = self._alpha * _bias_correction(b1, b2, state.t)

        def kernel(w, g, m, v, s1, s2):
            _moments(g, m, v, b1, b2, s1)
            _adam_step(w, m, v, alpha_t, eps, s1, s2)

        self._chunked(kernel, self._buffers(param, state, "mean", "var"), n32=2)


class AdamW(Solver):
    r"""Adam with decoupled weight decay.

    As :class:`Adam`, then :math:`w \leftarrow w - (\alpha_t / \alpha) \lambda w` where :math:`\lambda` is the rate
    given to ``weight_decay`` before this update (default ``wd``) and :math:`\alpha_t` the current learning rate.

    Args:
        alpha (float): initial step size :math:`\alpha`.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the second moment.
        eps (float): small value :math:`\epsilon`.
        wd (float): default weight decay rate :math:`\lambda` (fused into ``update``).
    """

    _ARGS = (("alpha", "float"), ("beta1", "float"), ("beta2", "float"), ("eps", "float"), ("wd", "float"))
    _STATE_NAMES = ("mean", "var")
    _LR_NAME = "alpha"

    def __init__(self, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, wd=0.0001):
        super().__init__(
            weight_decay_is_fused=True,
            default_weight_decay_rate=wd,
            alpha=alpha,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            wd=wd,
        )
        self._init_alpha = self._alpha

    def _update_impl(self, key, param, state):
        b1, b2, eps = self._beta1, self._beta2, self._eps
        decay = (self._alpha / self._init_alpha) * self._wd_rate
        alpha_t = self._alpha * _bias_correction(b1, b2, state.t)

        def kernel(w, g, m, v, s1, s2, shrink):
            _moments(g, m, v, b1, b2, s1)
            np.multiply(w, decay, out=shrink)
            _adam_step(w, m, v, alpha_t, eps, s1, s2)
            w -= shrink

        self._chunked(kernel, self._buffers(param, state, "mean", "var"), n32=3)


class AdaBound(Solver):
    r"""AdaBound: Adam with the per-element step clipped to :math:`[\eta_l(t), \eta_u(t)]`.

    :math:`\eta_l(t) = \alpha^* (1 - 1/(\gamma t + 1))`, :math:`\eta_u(t) = \alpha^* (1 + 1/(\gamma t))`, with
    :math:`\alpha^*` = ``final_lr`` scaled by (current alpha / initial alpha).

    Args:
        alpha (float): step size.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the second moment.
        eps (float): small value.
        final_lr (float): final (SGD) learning rate.
        gamma (float): convergence speed of the bounds.
    """

    _ARGS = (
        ("alpha", "float"),
        ("beta1", "float"),
        ("beta2", "float"),
        ("eps", "float"),
        ("final_lr", "float"),
        ("gamma", "float"),
    )
    _STATE_NAMES = ("mean", "var")
    _LR_NAME = "alpha"

    def __init__(self, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, final_lr=0.1, gamma=0.001):
        super().__init__(alpha=alpha, beta1=beta1, beta2=beta2, eps=eps, final_lr=final_lr, gamma=gamma)
        self._init_alpha = self._alpha

    def _update_impl(self, key, param, state):
        w, g, m, v = self._buffers(param, state, "mean", "var")
        t = state.t
        alpha_t = self._alpha * _bias_correction(self._beta1, self._beta2, t)
        final_lr = self._final_lr * (self._alpha / self._init_alpha)
        gt = self._gamma * _F32(t)
        lower = final_lr * (_ONE - _ONE / (gt + _ONE))
        upper = final_lr * (_ONE + _ONE / gt)
        b1, b2, eps = self._beta1, self._beta2, self._eps

        def kernel(w, g, m, v, s1):
            _moments(g, m, v, b1, b2, s1)
            _bounded_step(w, m, v, alpha_t, eps, lower, upper, s1)

        self._chunked(kernel, [w, g, m, v], n32=1)


class Adamax(Solver):
    r"""Adamax: :math:`u \leftarrow \max(\beta_2 u, |g|)`, :math:`w \leftarrow w - \frac{\alpha}{1-\beta_1^t} \frac{m}{u + \epsilon}`.

    Args:
        alpha (float): step size.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the infinity norm.
        eps (float): small value.
    """

    _ARGS = (("alpha", "float"), ("beta1", "float"), ("beta2", "float"), ("eps", "float"))
    _STATE_NAMES = ("m", "u")
    _LR_NAME = "alpha"

    def __init__(self, alpha=0.002, beta1=0.9, beta2=0.999, eps=1e-08):
        super().__init__(alpha=alpha, beta1=beta1, beta2=beta2, eps=eps)

    def _update_impl(self, key, param, state):
        b1, b2, eps = self._beta1, self._beta2, self._eps
        alpha_t = self._alpha * _F32(1.0 / (1.0 - float(b1) ** state.t))

        def kernel(w, g, m, u, tmp, step):
            m *= b1
            np.multiply(g, _ONE - b1, out=tmp)
            m += tmp
            u *= b2
            np.abs(g, out=tmp)
            np.maximum(u, tmp, out=u)
            np.add(u, eps, out=tmp)
            np.multiply(m, alpha_t, out=step)
            step /= tmp
            w -= step

        self._chunked(kernel, self._buffers(param, state, "m", "u"), n32=2)


class AMSGRAD(Solver):
    r"""AMSGrad: Adam with :math:`\hat v \leftarrow \max(\hat v, v)` in the denominator.

    Args:
        alpha (float): step size.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the second moment.
        eps (float): small value.
        bias_correction (bool): apply Adam's bias correction to the step size.
    """

    _ARGS = (("alpha", "float"), ("beta1", "float"), ("beta2", "float"), ("eps", "float"), ("bias_correction", "bool"))
    _STATE_NAMES = ("m", "v", "v_hat")
    _LR_NAME = "alpha"

    def __init__(self, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, bias_correction=False):
        super().__init__(alpha=alpha, beta1=beta1, beta2=beta2, eps=eps, bias_correction=bias_correction)

    def _update_impl(self, key, param, state):
        b1, b2, eps = self._beta1, self._beta2, self._eps
        alpha_t = self._alpha * (_bias_correction(b1, b2, state.t) if self._bias_correction else _ONE)

        def kernel(w, g, m, v, v_hat, s1, s2):
            _moments(g, m, v, b1, b2, s1)
            np.maximum(v_hat, v, out=v_hat)
            _adam_step(w, m, v_hat, alpha_t, eps, s1, s2)

        self._chunked(kernel, self._buffers(param, state, "m", "v", "v_hat"), n32=2)


class AMSBound(Solver):
    r"""AMSBound: AMSGrad with the per-element step clipped to :math:`[\eta_l(t), \eta_u(t)]`.

    :math:`\eta_l(t) = \alpha^* (1 - 1/(\gamma t + 1))`; the upper bound is computed as nnabla's C++ does,
    :math:`\eta_u(t) = \alpha^* (1 + t/\gamma)`.

    Args:
        alpha (float): step size.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the second moment.
        eps (float): small value.
        final_lr (float): final (SGD) learning rate.
        gamma (float): convergence speed of the bounds.
        bias_correction (bool): apply Adam's bias correction to the step size.
    """

    _ARGS = (
        ("alpha", "float"),
        ("beta1", "float"),
        ("beta2", "float"),
        ("eps", "float"),
        ("final_lr", "float"),
        ("gamma", "float"),
        ("bias_correction", "bool"),
    )
    _STATE_NAMES = ("m", "v", "v_hat")
    _LR_NAME = "alpha"

    def __init__(
        self, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, final_lr=0.1, gamma=0.001, bias_correction=False
    ):
        super().__init__(
            alpha=alpha,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            final_lr=final_lr,
            gamma=gamma,
            bias_correction=bias_correction,
        )
        self._init_alpha = self._alpha

    def _update_impl(self, key, param, state):
        w, g, m, v, v_hat = self._buffers(param, state, "m", "v", "v_hat")
        t = state.t
        alpha_t = self._alpha * (_bias_correction(self._beta1, self._beta2, t) if self._bias_correction else _ONE)
        final_lr = self._final_lr * (self._alpha / self._init_alpha)
        lower = final_lr * (_ONE - _ONE / (self._gamma * _F32(t) + _ONE))
        upper = final_lr * (_ONE + _ONE / self._gamma * _F32(t))  # sic: (1/gamma)*t, as nnabla's amsbound.cpp
        b1, b2, eps = self._beta1, self._beta2, self._eps

        def kernel(w, g, m, v, v_hat, s1):
            _moments(g, m, v, b1, b2, s1)
            np.maximum(v_hat, v, out=v_hat)
            _bounded_step(w, m, v_hat, alpha_t, eps, lower, upper, s1)

        self._chunked(kernel, [w, g, m, v, v_hat], n32=1)


class AdaBelief(Solver):
    r"""AdaBelief: Adam whose second moment tracks :math:`(g - m)^2`.

    :math:`s \leftarrow \beta_2 s + (1-\beta_2)(g - m)^2 + \epsilon` (``eps`` is accumulated into the state),
    :math:`w \leftarrow w - \frac{\alpha}{1-\beta_1^t} \frac{m}{\sqrt{s}/\sqrt{1-\beta_2^t} + \epsilon}`; optional AMSGrad
    (state ``s_max``), decoupled weight decay (``weight_decouple``; fused, default rate ``wd``, scaled by alpha
    unless ``fixed_decay``) and RAdam rectification (``rectify``).

    Args:
        alpha (float): step size.
        beta1 (float): decay rate of the first moment.
        beta2 (float): decay rate of the second moment.
        eps (float): small value.
        wd (float): default weight decay rate, used when ``weight_decouple``.
        amsgrad (bool): AMSGrad variant.
        weight_decouple (bool): decoupled weight decay as in AdamW.
        fixed_decay (bool): do not scale the decoupled decay by alpha.
        rectify (bool): RAdam variant.
    """

    _ARGS = (
        ("alpha", "float"),
        ("beta1", "float"),
        ("beta2", "float"),
        ("eps", "float"),
        ("wd", "float"),
        ("amsgrad", "bool"),
        ("weight_decouple", "bool"),
        ("fixed_decay", "bool"),
        ("rectify", "bool"),
    )
    _LR_NAME = "alpha"

    def __init__(
        self,
        alpha=0.001,
        beta1=0.9,
        beta2=0.999,
        eps=1e-08,
        wd=0.0,
        amsgrad=False,
        weight_decouple=False,
        fixed_decay=False,
        rectify=False,
    ):
        super().__init__(
            weight_decay_is_fused=bool(weight_decouple),
            default_weight_decay_rate=wd,
            alpha=alpha,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            wd=wd,
            amsgrad=amsgrad,
            weight_decouple=weight_decouple,
            fixed_decay=fixed_decay,
            rectify=rectify,
        )

    def _state_names_of(self):
        return ("mean", "var", "s_max") if self._amsgrad else ("mean", "var")

    def _update_impl(self, key, param, state):
        names = self._state_names_of()
        w, g, m, s, *rest = self._buffers(param, state, *names)
        t = state.t
        beta2 = float(self._beta2)
        beta1_t = _F32(float(self._beta1) ** t)
        beta2_t = _F32(beta2**t)
        bias_correction1 = _F32(1.0 - float(beta1_t))
        bias_correction2 = _F32(math.sqrt(1.0 - float(beta2_t)))
        r_t = _ONE
        rho_t = _F32(0)
        if self._rectify:
            rho_inf = 2.0 / (1.0 - beta2) - 1.0
            rho_t = _F32(rho_inf - 2.0 * t * float(beta2_t) / (1.0 - float(beta2_t)))
            if rho_t > 4.0:
                num = (float(rho_t) - 4.0) * (float(rho_t) - 2.0) * rho_inf
                den = (rho_inf - 4.0) * (rho_inf - 2.0) * float(rho_t)
                r_t = _F32(math.sqrt(num / den))
        sgd_update = bool(self._rectify and rho_t <= 4.0)
        alpha_t = self._alpha if sgd_update else self._alpha * r_t / bias_correction1
        decay_ratio = self._wd_rate if self._fixed_decay else self._wd_rate * self._alpha

        b1, b2, eps, amsgrad, fused = self._beta1, self._beta2, self._eps, self._amsgrad, self._wd_fused
        keep2 = float(_ONE - b2)

        def kernel(w, g, m, s, *rest):
            if amsgrad:
                s_max, tmp, denom, sq = rest
            else:
                tmp, denom, sq = rest
            m *= b1
            np.multiply(g, _ONE - b1, out=tmp)
            m += tmp
            # s = beta2 s + (1 - beta2) (g - m)^2, the second term in double as in C++ (std::pow promotes)
            np.subtract(g, m, out=tmp)
            np.square(tmp, out=sq, dtype=np.float64)  # a double square of float values: exact
            sq *= keep2
            s *= b2
            sq += s
            s[...] = sq
            if fused:
                np.multiply(w, decay_ratio, out=tmp)
                w -= tmp
            if amsgrad:
                np.maximum(s_max, s, out=s_max)
                s_max += eps
                s_t = s_max
            else:
                s += eps
                s_t = s
            np.multiply(m, alpha_t, out=tmp)
            if not sgd_update:
                np.sqrt(s_t, out=denom)
                denom /= bias_correction2
                denom += eps
                tmp /= denom
            w -= tmp

        self._chunked(kernel, [w, g, m, s, *rest], n32=2, n64=1)
