"""Parametric functions (``PF``): layers that create or reuse their parameters in the current scope.

Each one runs inside ``parameter_scope(<scope name>)`` (``affine``, ``conv``, ``bn``...), wrapped in an outer
``parameter_scope(name)`` when ``name=`` is given, so ``PF.convolution(x, 16, (3, 3), name='conv1')`` owns
``conv1/conv/W`` and ``conv1/conv/b`` exactly as nnabla names them. Existing parameters are reused (weight
sharing); ``fix_parameters=True`` gives views that need no gradient.

Parameter names, shapes, ``need_grad`` flags, default initializers (and the order in which they draw from the
random generator) follow nnabla 1.39, so a network built with ``nn.seed(s)`` starts from the same weights.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

import nnl.functions as F
from nnl.core import graph as _graph
from nnl.core.ndarray import NdArray
from nnl.core.variable import Variable
from nnl.initializer import (
    ConstantInitializer,
    NormalInitializer,
    UniformInitializer,
    WeightNormalizationScaleInitializer,
    calc_uniform_lim_glorot,
)
from nnl.parameter import get_parameter, get_parameter_or_create, parameter_scope, set_parameter

__all__ = [
    "ConstantInitializer",
    "LSTMCell",
    "NormalInitializer",
    "UniformInitializer",
    "WeightNormalizationScaleInitializer",
    "affine",
    "batch_normalization",
    "calc_uniform_lim_glorot",
    "binary_connect_affine",
    "binary_connect_convolution",
    "binary_weight_affine",
    "binary_weight_convolution",
    "convolution",
    "cpd3_convolution",
    "deconvolution",
    "deformable_convolution",
    "depthwise_convolution",
    "depthwise_deconvolution",
    "embed",
    "fixed_point_quantized_affine",
    "fixed_point_quantized_convolution",
    "fused_batch_normalization",
    "get_parameter",
    "get_parameter_or_create",
    "group_normalization",
    "gru",
    "inq_affine",
    "inq_convolution",
    "instance_normalization",
    "layer_normalization",
    "lstm",
    "lstm_cell",
    "mean_subtraction",
    "min_max_quantize",
    "min_max_quantized_affine",
    "min_max_quantized_convolution",
    "multi_head_attention",
    "parametric_function_api",
    "pow2_quantized_affine",
    "pow2_quantized_convolution",
    "prelu",
    "pruned_affine",
    "pruned_convolution",
    "rnn",
    "spectral_norm",
    "svd_affine",
    "svd_convolution",
    "sync_batch_normalization",
    "transformer",
    "transformer_decode",
    "transformer_encode",
    "weight_normalization",
]

Layer = Callable[..., Any]  # a decorated layer also takes ``name=``
ParamDesc = list[tuple[str, str, str, bool]]


# ---------------------------------------------------------------------------------------------------------------
# the decorator
# ---------------------------------------------------------------------------------------------------------------
def _describe(scope_name: str, param_desc: ParamDesc | None, layer_name: str) -> str:
    lines = []
    if param_desc:
        lines.append(f"\n    Parameters registered in the parameter scope ``{scope_name!r}``:\n")
        for pname, desc, shape, need_grad in param_desc:
            lines.append(f"        * {pname} (``need_grad={need_grad}``): {desc} (shape: ``{shape}``)")
    lines.append(
        f"\n    Note:\n        ``name=`` wraps the parameters in ``parameter_scope(name)``, as in\n"
        f"        ``with parameter_scope(name): {layer_name}(...)``.\n"
    )
    return "\n".join(lines)


def parametric_function_api(
    scope_name: str | None = None, param_desc: ParamDesc | None = None
) -> Callable[[Layer], Layer]:
    """Decorator of parametric functions: run the layer inside ``parameter_scope(scope_name)`` and add a last
    argument ``name=None`` which, when given, wraps that scope in ``parameter_scope(name)``.

    ``scope_name`` defaults to the layer's name; ``param_desc`` lists ``(name, description, shape, need_grad)``
    of the parameters the layer registers (added to the docstring). A layer must take ``fix_parameters``.
    """

    def decorate(layer: Layer) -> Layer:
        scope = scope_name if scope_name is not None else layer.__name__
        signature = inspect.signature(layer)
        if "fix_parameters" not in signature.parameters:
            raise TypeError(
                f"parametric_function_api: {layer.__name__}{signature} must take a `fix_parameters` argument."
            )
        parameters = list(signature.parameters.values())
        n_positional = sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        simple = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
        name_kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if simple else inspect.Parameter.KEYWORD_ONLY

        @functools.wraps(layer)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            name = kwargs.pop("name", None)
            if simple and len(args) > n_positional:  # name given positionally, after every argument
                if len(args) > n_positional + 1 or name is not None:
                    raise TypeError(
                        f"{layer.__name__}() takes at most {n_positional + 1} positional arguments ({len(args)} given)."
                    )
                name = args[-1]
                args = args[:-1]
            if name is None:
                with parameter_scope(scope):
                    return layer(*args, **kwargs)
            with parameter_scope(name), parameter_scope(scope):
                return layer(*args, **kwargs)

        parameters.append(inspect.Parameter("name", name_kind, default=None))
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__doc__ = (layer.__doc__ or "") + _describe(scope, param_desc, layer.__name__)
        wrapper.__scope_name__ = scope  # type: ignore[attr-defined]
        wrapper.__param_desc__ = list(param_desc or [])  # type: ignore[attr-defined]
        wrapper.__parametric_function_api_base__ = layer  # type: ignore[attr-defined]
        return wrapper

    return decorate


# ---------------------------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------------------------
def _as_list(n: Any) -> list[int]:
    return [int(v) for v in n] if hasattr(n, "__iter__") else [int(n)]


def _prod(shape: Any) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _glorot(inmaps: Any, outmaps: Any, rng: Any, kernel: Any = (1, 1)) -> UniformInitializer:
    return UniformInitializer(calc_uniform_lim_glorot(inmaps, outmaps, tuple(kernel)), rng=rng)


def _param(name: str, shape: Any, init: Any, fix_parameters: bool) -> Variable:
    """A trainable parameter (need_grad=True), seen with need_grad=False when ``fix_parameters``."""
    return get_parameter_or_create(name, shape, init, True, not fix_parameters)


def _state(name: str, shape: Any, init: Any) -> Variable:
    """A parameter that is not trained (need_grad=False): running statistics, quantized copies..."""
    return get_parameter_or_create(name, shape, init, False)


def _bias(with_bias: bool, shape: Any, b_init: Any, fix_parameters: bool, apply_b: Any = None) -> Any:
    if not with_bias:
        return None
    b = _param("b", shape, b_init if b_init is not None else ConstantInitializer(), fix_parameters)
    return apply_b(b) if apply_b is not None else b


def _view(param: Variable, need_grad: bool) -> Variable:
    """``param`` itself when its need_grad is already right, else a view sharing its buffers."""
    need_grad = bool(need_grad) and not _graph.in_no_grad()
    return param if param.need_grad == need_grad else param.get_unlinked_variable(need_grad=need_grad)


def _new_param(name: str, value: np.ndarray) -> Variable:
    """Register a trainable parameter holding ``value`` (for layers that compute their initial values)."""
    v = Variable(value.shape, need_grad=True)
    v.d = value
    set_parameter(name, v)
    return v


def _into(outputs: Any) -> Any:
    """``outputs=`` as nnabla accepts it: NdArrays become output Variables that write into those buffers."""
    if outputs is None:
        return None
    wrapped = []
    for o in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if isinstance(o, NdArray):
            v = Variable(o.shape)
            v.data = o
            o = v
        wrapped.append(o)
    return wrapped


def _kept(y: Variable) -> Variable:
    y.persistent = True
    return y


def _conv_filter(
    inp: Any, kernel: tuple[int, ...], group: int, channel_last: bool, base_axis: int
) -> tuple[int, tuple[int, ...]]:
    """Input channels and the filter shape after ``outmaps`` of a (channel-last) convolution."""
    if channel_last:
        channels = inp.shape[-1]
        return channels, kernel + (channels // group,)
    channels = inp.shape[base_axis]
    return channels, (channels // group,) + kernel


def _stat_shape(inp: Any, axes: Any) -> list[int]:
    shape = [1] * len(inp.shape)
    for a in axes:
        shape[a] = inp.shape[a]
    return shape


def _beta_gamma(
    shape: Any, fix_parameters: bool, param_init: dict[str, Any], no_bias: bool, no_scale: bool
) -> tuple[Any, Any]:
    beta = None if no_bias else _param("beta", shape, param_init.get("beta", ConstantInitializer(0)), fix_parameters)
    gamma = (
        None if no_scale else _param("gamma", shape, param_init.get("gamma", ConstantInitializer(1)), fix_parameters)
    )
    return beta, gamma


def _bn_params(
    inp: Any, axes: Any, fix_parameters: bool, param_init: Any, no_scale: bool, no_bias: bool
) -> tuple[Any, ...]:
    axes = list(axes)
    param_init = param_init or {}
    shape = _stat_shape(inp, axes)
    beta, gamma = _beta_gamma(shape, fix_parameters, param_init, no_bias, no_scale)
    mean = _state("mean", shape, param_init.get("mean", ConstantInitializer(0)))
    var = _state("var", shape, param_init.get("var", ConstantInitializer(1)))
    return axes, beta, gamma, mean, var


_W_B = [("W", "Weight matrix", "(inmaps, outmaps)", True), ("b", "Bias vector", "(outmaps,)", True)]
_CONV_W_B = [
    ("W", "Filter weights", "(outmaps, inmaps // group, *kernel)", True),
    ("b", "Bias vector", "(outmaps,)", True),
]
_BN = [
    ("beta", "Trainable bias", "<stat shape>", True),
    ("gamma", "Trainable scale", "<stat shape>", True),
    ("mean", "Moving average of batch mean", "<stat shape>", False),
    ("var", "Moving average of batch variance", "<stat shape>", False),
]
_BETA_GAMMA = [("beta", "Trainable bias", "<stat shape>", True), ("gamma", "Trainable scale", "<stat shape>", True)]
_QUANT_W_B = [
    ("W", "Weight in float", "<weight shape>", True),
    ("b", "Bias in float", "(outmaps,)", True),
    ("W_q", "Quantized weight", "<weight shape>", False),
    ("b_q", "Quantized bias", "(outmaps,)", False),
]


# ---------------------------------------------------------------------------------------------------------------
# affine layers
# ---------------------------------------------------------------------------------------------------------------
@parametric_function_api("affine", _W_B)
def affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    apply_w: Any = None,
    apply_b: Any = None,
) -> Any:
    """Fully connected layer ``y = x W + b`` with ``W`` (inmaps, *n_outmaps) and ``b`` (*n_outmaps).

    ``inmaps`` is the product of the input dimensions from ``base_axis`` on; ``W`` defaults to Glorot uniform and
    ``b`` to zeros. ``apply_w`` / ``apply_b`` transform the parameters before use (e.g. weight normalisation).
    """
    outs = _as_list(n_outmaps)
    inmaps = _prod(inp.shape[base_axis:])
    if w_init is None:
        w_init = _glorot(inmaps, _prod(outs), rng)
    w = _param("W", [inmaps] + outs, w_init, fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    b = _bias(with_bias, outs, b_init, fix_parameters, apply_b)
    return F.affine(inp, w, b, base_axis)


@parametric_function_api(
    "svd_affine",
    [
        ("U", "Left factor", "(inmaps, r)", True),
        ("V", "Right factor", "(r, outmaps)", True),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def svd_affine(
    inp: Any,
    n_outmaps: Any,
    r: int,
    base_axis: int = 1,
    uv_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Low-rank affine ``y = (x U) V + b``: ``U V`` is the rank-``r`` SVD truncation of the initial weight
    (``uv_init``: an array, or an initializer of the (inmaps, *n_outmaps) weight; Glorot uniform by default)."""
    outs = _as_list(n_outmaps)
    n_out = _prod(outs)
    inmaps = _prod(inp.shape[base_axis:])
    if uv_init is None:
        uv_init = _glorot(inmaps, n_out, rng)
    uv = uv_init if type(uv_init) is np.ndarray else uv_init([inmaps] + outs)
    u = get_parameter("U")
    v = get_parameter("V")
    if u is None or v is None:
        if r <= 0:
            raise ValueError(f"svd_affine: the rank r must be larger than zero, got {r}.")
        left, sing, right = np.linalg.svd(np.reshape(uv, (inmaps, n_out)), full_matrices=False)
        u = _new_param("U", (left * sing)[:, :r])
        v = _new_param("V", right[:r, :].reshape([r] + outs))
    u = _view(u, not fix_parameters)
    v = _view(v, not fix_parameters)
    b = _bias(with_bias, outs, b_init, fix_parameters)
    return F.affine(F.affine(inp, u, None, base_axis), v, b, base_axis)


def _binary_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int,
    w_init: Any,
    wb_init: Any,
    b_init: Any,
    fix_parameters: bool,
    rng: Any,
    with_bias: bool,
) -> tuple[Any, ...]:
    outs = _as_list(n_outmaps)
    inmaps = _prod(inp.shape[base_axis:])
    if w_init is None:
        w_init = _glorot(inmaps, _prod(outs), rng)
    if wb_init is None:
        wb_init = _glorot(inmaps, _prod(outs), rng)
    w = _param("W", [inmaps] + outs, w_init, fix_parameters)
    wb = _state("Wb", [inmaps] + outs, wb_init)
    return outs, w, wb


@parametric_function_api(
    "bicon_affine",
    [
        ("W", "Weight matrix in float", "(inmaps, outmaps)", True),
        ("Wb", "Binarized weights", "(inmaps, outmaps)", False),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def binary_connect_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    quantize_zero_to: float = 1.0,
    w_init: Any = None,
    wb_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """BinaryConnect affine: ``y = x sign(W) + b`` (Courbariaux et al.); ``Wb`` holds the binarized weights."""
    outs, w, wb = _binary_affine(inp, n_outmaps, base_axis, w_init, wb_init, b_init, fix_parameters, rng, with_bias)
    b = _bias(with_bias, outs, b_init, fix_parameters)
    return F.binary_connect_affine(inp, w, wb, b, base_axis, quantize_zero_to)


@parametric_function_api(
    "bwn_affine",
    [
        ("W", "Weight matrix in float", "(inmaps, outmaps)", True),
        ("Wb", "Binarized weights", "(inmaps, outmaps)", False),
        ("alpha", "Scaling factor", "(outmaps,)", False),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def binary_weight_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    quantize_zero_to: float = 1.0,
    w_init: Any = None,
    wb_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Binary weight affine (XNOR-Net): ``y_j = alpha_j sum_i sign(w_ji) x_i + b_j``, ``alpha_j = mean |w_j|``."""
    outs, w, wb = _binary_affine(inp, n_outmaps, base_axis, w_init, wb_init, b_init, fix_parameters, rng, with_bias)
    alpha = _state("alpha", outs, ConstantInitializer(0))
    b = _bias(with_bias, outs, b_init, fix_parameters)
    return F.binary_weight_affine(inp, w, wb, alpha, b, base_axis, quantize_zero_to)


@parametric_function_api(
    "inq_affine",
    [
        ("W", "Weight matrix in float", "(inmaps, outmaps)", True),
        ("I", "Indicators of fixed weights", "(inmaps, outmaps)", False),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def inq_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    num_bits: int = 4,
    inq_iterations: Any = (),
    selection_algorithm: str = "random",
    seed: int = -1,
    w_init: Any = None,
    i_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Incremental network quantization affine (Zhou et al.): weights are fixed to powers of two step by step at
    the iterations ``inq_iterations``; ``I`` marks the fixed ones (0 learnable, 1 fixed)."""
    outs = _as_list(n_outmaps)
    inmaps = _prod(inp.shape[base_axis:])
    if w_init is None:
        w_init = _glorot(inmaps, _prod(outs), rng)
    w = _param("W", [inmaps] + outs, w_init, fix_parameters)
    i = _state("I", [inmaps] + outs, i_init if i_init is not None else ConstantInitializer())
    b = _bias(with_bias, outs, b_init, fix_parameters)
    return F.inq_affine(inp, w, i, b, base_axis, num_bits, inq_iterations, selection_algorithm, seed)


# ---------------------------------------------------------------------------------------------------------------
# convolution layers
# ---------------------------------------------------------------------------------------------------------------
@parametric_function_api("conv", _CONV_W_B)
def convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    apply_w: Any = None,
    apply_b: Any = None,
) -> Any:
    """N-d convolution with ``W`` (outmaps, inmaps // group, *kernel) (channel-last: (outmaps, *kernel,
    inmaps // group)) and ``b`` (outmaps,); Glorot uniform weights and zero bias by default."""
    kernel = tuple(kernel)
    channels, filter_shape = _conv_filter(inp, kernel, group, channel_last, base_axis)
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    w = _param("W", (outmaps,) + filter_shape, w_init, fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters, apply_b)
    return F.convolution(inp, w, b, base_axis, pad, stride, dilation, group, channel_last)


@parametric_function_api(
    "svd_conv",
    [
        ("U", "Depthwise factor", "(inmaps * r, *kernel)", True),
        ("V", "Pointwise factor", "(outmaps, inmaps * r, 1, ...)", True),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def svd_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    r: int,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    uv_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Low-rank convolution: a depthwise convolution with ``r`` filters per input channel (``U``) followed by a
    1x1 convolution (``V``); per input channel the (kernel x outmaps) filter block is truncated to rank ``r``."""
    if r <= 0:
        raise ValueError(f"svd_convolution: the rank r must be larger than zero, got {r}.")
    kernel = tuple(kernel)
    inmaps = inp.shape[base_axis]
    if uv_init is None:
        uv_init = _glorot(inmaps, outmaps, rng, kernel)
    uv = uv_init if type(uv_init) is np.ndarray else uv_init((outmaps, inmaps) + kernel)
    u = get_parameter("U")
    v = get_parameter("V")
    if u is None or v is None:
        taps = _prod(kernel)
        blocks = np.transpose(np.reshape(uv, (outmaps, inmaps, taps)), (1, 2, 0))  # (inmaps, taps, outmaps)
        left, sing, right = np.linalg.svd(blocks, full_matrices=False)
        u_low = left[:, :, :r] * sing[:, None, :r]  # (inmaps, taps, r)
        v_low = right[:, :r, :]  # (inmaps, r, outmaps)
        u = _new_param("U", np.transpose(u_low, (0, 2, 1)).reshape((inmaps * r,) + kernel))
        v = _new_param("V", np.transpose(v_low, (2, 0, 1)).reshape((outmaps, inmaps * r) + (1,) * len(kernel)))
    u = _view(u, not fix_parameters)
    v = _view(v, not fix_parameters)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters)
    y = F.depthwise_convolution(inp, u, None, base_axis, pad, stride, dilation, r)
    return F.convolution(y, v, b, base_axis, None, None, None, 1)


def _cpd_als(
    x: np.ndarray, rank: int, max_iter: int, stopping_criterion: float, lambda_reg: float, rng: Any
) -> tuple[list[np.ndarray], np.ndarray]:
    """Canonical polyadic decomposition ``x ~ sum_r lambda_r a0_r o a1_r o ...`` by alternating least squares.

    Factor 0 is solved first, the others start uniform in [0, 1) (``rng``, RandomState(313) by default). The
    first sweep normalises columns by their L2 norm, later ones by their maximum (at least 1). Stops when the
    explained-variance criterion changes less than ``stopping_criterion`` (never when it is negative).
    """
    from scipy.linalg import pinv

    ndim = x.ndim
    letters = "abcdefghijklmnopqrstuvwxy"[:ndim]
    norm_x = float(np.sum(np.square(x, dtype=np.float64)))
    if rng is None:
        rng = np.random.RandomState(313)
    factors: list[Any] = [None] * ndim
    for n in range(1, ndim):
        factors[n] = np.asarray(rng.rand(x.shape[n], rank), dtype=x.dtype)
    lmbda = np.ones(rank)
    criterion = 0.0
    for itr in range(max_iter):
        previous = criterion
        for n in range(ndim):
            others = [o for o in range(ndim) if o != n]
            gram = np.ones((rank, rank))
            for o in others:
                gram = gram * (factors[o].T @ factors[o])
            # x unfolded along n times the Khatri-Rao product of the other factors
            spec = f"{letters}," + ",".join(f"{letters[o]}z" for o in others) + f"->{letters[n]}z"
            a_n = np.einsum(spec, x, *[factors[o] for o in others], optimize=True)
            a_n = a_n @ pinv(gram + np.eye(rank) * lambda_reg)
            if itr == 0:
                lmbda = np.sqrt(np.sum(a_n**2, axis=0))
            else:
                lmbda = a_n.max(axis=0)
                lmbda[lmbda < 1] = 1
            factors[n] = a_n / lmbda
        if stopping_criterion < 0:
            continue
        spec = ",".join(f"{c}z" for c in letters) + f",z->{letters}"
        approx = np.einsum(spec, *factors, lmbda, optimize=True)
        residual = norm_x + np.sum(approx**2) - 2 * np.sum(x * approx)
        criterion = 1.0 - residual / norm_x
        if itr > 0 and abs(previous - criterion) < stopping_criterion:
            break
    return factors, lmbda


@parametric_function_api(
    "cpd3_conv",
    [
        ("I", "Input factor", "(r, inmaps, 1, ...)", True),
        ("K", "Kernel factor", "(r, *kernel)", True),
        ("O", "Output factor", "(outmaps, r, 1, ...)", True),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def cpd3_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    r: int,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    oik_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    max_iter: int = 500,
    stopping_criterion: float = 1e-05,
    lambda_reg: float = 0.0,
) -> Any:
    """CP-decomposed convolution: 1x1 convolution by ``I`` (inmaps -> r), depthwise convolution by ``K`` and 1x1
    convolution by ``O`` (r -> outmaps); the factors are a rank-``r`` CP decomposition (ALS) of the initial
    (outmaps, inmaps, kernel) filter given or drawn by ``oik_init``."""
    kernel = tuple(kernel)
    inmaps = inp.shape[base_axis]
    if oik_init is None:
        oik_init = _glorot(inmaps, outmaps, rng, kernel)
    oik = oik_init if type(oik_init) is np.ndarray else oik_init((outmaps, inmaps) + kernel)
    oik = np.reshape(oik, (outmaps, inmaps, _prod(kernel)))
    o = get_parameter("O")
    i = get_parameter("I")
    k = get_parameter("K")
    if o is None or i is None or k is None:
        if r <= 0:
            raise ValueError(f"cpd3_convolution: the rank r must be larger than zero, got {r}.")
        (o_f, i_f, k_f), lmbda = _cpd_als(oik, r, max_iter, stopping_criterion, lambda_reg, rng)
        ones = (1,) * len(kernel)
        i = _new_param("I", np.transpose(i_f).reshape((r, inmaps) + ones))
        o = _new_param("O", (o_f * lmbda).reshape((outmaps, r) + ones))
        k = _new_param("K", np.transpose(k_f).reshape((r,) + kernel))
    o = _view(o, not fix_parameters)
    i = _view(i, not fix_parameters)
    k = _view(k, not fix_parameters)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters)
    y = F.convolution(inp, i, None, base_axis, None, None, None, 1)
    y = F.depthwise_convolution(y, k, None, base_axis, pad, stride, dilation, 1)
    return F.convolution(y, o, b, base_axis, None, None, None, 1)


def _binary_conv(
    inp: Any, outmaps: int, kernel: Any, base_axis: int, w_init: Any, wb_init: Any, fix_parameters: bool, rng: Any
) -> tuple[Any, Any]:
    kernel = tuple(kernel)
    channels = inp.shape[base_axis]
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    if wb_init is None:
        wb_init = _glorot(channels, outmaps, rng, kernel)
    # as nnabla, the filters are (outmaps, inmaps, *kernel) whatever the group
    w = _param("W", (outmaps, channels) + kernel, w_init, fix_parameters)
    wb = _state("Wb", (outmaps, channels) + kernel, wb_init)
    return w, wb


@parametric_function_api(
    "bicon_conv",
    [
        ("W", "Filter weights in float", "(outmaps, inmaps, *kernel)", True),
        ("Wb", "Binarized filter weights", "(outmaps, inmaps, *kernel)", False),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def binary_connect_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    quantize_zero_to: float = 1.0,
    w_init: Any = None,
    wb_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """BinaryConnect convolution: the filters are binarized to +-1 in the forward pass."""
    w, wb = _binary_conv(inp, outmaps, kernel, base_axis, w_init, wb_init, fix_parameters, rng)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters)
    return F.binary_connect_convolution(inp, w, wb, b, base_axis, pad, stride, dilation, group, quantize_zero_to)


@parametric_function_api(
    "bwn_conv",
    [
        ("W", "Filter weights in float", "(outmaps, inmaps, *kernel)", True),
        ("Wb", "Binarized filter weights", "(outmaps, inmaps, *kernel)", False),
        ("alpha", "Scaling factor", "(outmaps,)", False),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def binary_weight_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    quantize_zero_to: float = 1.0,
    w_init: Any = None,
    wb_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Binary weight convolution (XNOR-Net): binarized filters scaled per output map by ``alpha``."""
    w, wb = _binary_conv(inp, outmaps, kernel, base_axis, w_init, wb_init, fix_parameters, rng)
    alpha = _state("alpha", (outmaps,), ConstantInitializer(0))
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters)
    return F.binary_weight_convolution(inp, w, wb, alpha, b, base_axis, pad, stride, dilation, group, quantize_zero_to)


@parametric_function_api(
    "inq_conv",
    [
        ("W", "Filter weights in float", "(outmaps, inmaps, *kernel)", True),
        ("I", "Indicators of fixed weights", "(outmaps, inmaps, *kernel)", False),
        ("b", "Bias vector", "(outmaps,)", True),
    ],
)
def inq_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    num_bits: int = 4,
    inq_iterations: Any = (),
    selection_algorithm: str = "random",
    seed: int = -1,
    w_init: Any = None,
    i_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Incremental network quantization convolution (see :func:`inq_affine`)."""
    kernel = tuple(kernel)
    channels = inp.shape[base_axis]
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    w = _param("W", (outmaps, channels) + kernel, w_init, fix_parameters)
    i = _state("I", (outmaps, channels) + kernel, i_init if i_init is not None else ConstantInitializer())
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters)
    return F.inq_convolution(
        inp, w, i, b, base_axis, pad, stride, dilation, group, num_bits, inq_iterations, selection_algorithm, seed
    )


@parametric_function_api("deformable_conv", _CONV_W_B)
def deformable_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    offset: Any,
    mask: Any = None,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    deformable_group: int = 1,
    channel_last: bool = False,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    apply_w: Any = None,
    apply_b: Any = None,
) -> Any:
    """2-D deformable convolution (v1, or v2 with ``mask``): sampling positions shifted by ``offset``."""
    kernel = tuple(kernel)
    channels, filter_shape = _conv_filter(inp, kernel, group, channel_last, base_axis)
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    w = _param("W", (outmaps,) + filter_shape, w_init, fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters, apply_b)
    return F.deformable_convolution(
        inp, w, offset, mask, b, base_axis, pad, stride, dilation, group, deformable_group, channel_last
    )


@parametric_function_api(
    "depthwise_conv",
    [
        ("W", "Filter weights", "(inmaps * multiplier, *kernel)", True),
        ("b", "Bias vector", "(inmaps * multiplier,)", True),
    ],
)
def depthwise_convolution(
    inp: Any,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    multiplier: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Depthwise convolution: ``multiplier`` filters per input channel, ``W`` (inmaps * multiplier, *kernel)."""
    kernel = tuple(kernel)
    channels = inp.shape[base_axis]
    if w_init is None:
        w_init = _glorot(channels * multiplier, channels, rng, kernel)
    w = _param("W", (channels * multiplier,) + kernel, w_init, fix_parameters)
    b = _bias(with_bias, (channels * multiplier,), b_init, fix_parameters)
    return F.depthwise_convolution(inp, w, b, base_axis, pad, stride, dilation, multiplier)


@parametric_function_api(
    "deconv",
    [("W", "Filter weights", "(inmaps, outmaps // group, *kernel)", True), ("b", "Bias vector", "(outmaps,)", True)],
)
def deconvolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    output_padding: Any = None,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    apply_w: Any = None,
    apply_b: Any = None,
) -> Any:
    """N-d transposed convolution with ``W`` (inmaps, outmaps // group, *kernel) (channel-last: (inmaps, *kernel,
    outmaps // group)) and ``b`` (outmaps,)."""
    kernel = tuple(kernel)
    channels = inp.shape[-1] if channel_last else inp.shape[base_axis]
    filter_shape = kernel + (outmaps // group,) if channel_last else (outmaps // group,) + kernel
    if w_init is None:
        w_init = _glorot(outmaps, channels, rng, kernel)
    w = _param("W", (channels,) + filter_shape, w_init, fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters, apply_b)
    return F.deconvolution(inp, w, b, base_axis, pad, stride, dilation, group, channel_last, output_padding)


@parametric_function_api(
    "depthwise_deconv",
    [("W", "Filter weights", "(inmaps, *kernel)", True), ("b", "Bias vector", "(inmaps // divisor,)", True)],
)
def depthwise_deconvolution(
    inp: Any,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    divisor: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
) -> Any:
    """Depthwise transposed convolution: ``W`` (inmaps, *kernel), ``divisor`` input channels per output."""
    kernel = tuple(kernel)
    channels = inp.shape[base_axis]
    if w_init is None:
        w_init = _glorot(channels, channels, rng, kernel)
    w = _param("W", (channels,) + kernel, w_init, fix_parameters)
    b = _bias(with_bias, (channels // divisor,), b_init, fix_parameters)
    return F.depthwise_deconvolution(inp, w, b, base_axis, pad, stride, dilation, divisor)


# ---------------------------------------------------------------------------------------------------------------
# recurrent layers
# ---------------------------------------------------------------------------------------------------------------
def _rnn_draw(
    rng: Any, gates: tuple[int, ...], layers: tuple[int, ...], directions: int, hidden: int, in_size: int
) -> np.ndarray:
    """Initial weights [W_ih | W_hh] along the last axis: Glorot uniform (in, hidden) then (hidden, hidden)."""
    lead = layers + (directions,) + gates + (hidden,)
    w_ih = UniformInitializer(calc_uniform_lim_glorot(in_size, hidden), rng)(lead + (in_size,))
    w_hh = UniformInitializer(calc_uniform_lim_glorot(hidden, hidden), rng)(lead + (hidden,))
    return np.concatenate((w_ih, w_hh), axis=-1)


def _gated_rnn_params(
    kind: str,
    gates: int,
    x: Any,
    h: Any,
    w0_init: Any,
    w_init: Any,
    b_init: Any,
    bidirectional: bool,
    rng: Any,
    with_bias: bool,
    fix_parameters: bool,
) -> tuple[Any, Any, Any, int]:
    """weight_l0 (D, G, H, I + H), weight (L - 1, D, G, H, D H + H) and bias (L, D, G', H) of lstm / gru."""
    in_size, hidden, layers = x.shape[2], h.shape[3], h.shape[0]
    dirs = 2 if bidirectional else 1
    w0_shape = (dirs, gates, hidden, in_size + hidden)
    w_shape = (layers - 1, dirs, gates, hidden, dirs * hidden + hidden)
    w0 = get_parameter("weight_l0")
    w: Any = get_parameter("weight")
    b: Any = get_parameter("bias")
    if w0 is None:
        if w0_init is None:
            w0_init = _rnn_draw(rng, (gates,), (), dirs, hidden, in_size)
        w0 = get_parameter_or_create("weight_l0", w0_shape, w0_init, True, not fix_parameters)
    if layers > 1 and w is None:
        if w_init is None:
            w_init = _rnn_draw(rng, (gates,), (layers - 1,), dirs, hidden, dirs * hidden)
        w = get_parameter_or_create("weight", w_shape, w_init, True, not fix_parameters)
    if with_bias and b is None:
        b = get_parameter_or_create(
            "bias",
            (layers, dirs, 4, hidden),
            b_init if b_init is not None else ConstantInitializer(),
            True,
            not fix_parameters,
        )
    # parameters saved before nnabla fixed the weight layout have the right size but another shape
    if tuple(w0.shape) != w0_shape:
        import nnl

        nnl.logger.logger.warning(
            f"{kind}: weight_l0 of shape {w0.shape} is reshaped to {w0_shape} (parameters saved before a layout fix)."
        )
        w0 = Variable.from_numpy_array(np.reshape(w0.d, w0_shape), need_grad=True)
        set_parameter("weight_l0", w0)
    if layers > 1 and tuple(w.shape) != w_shape:
        w = Variable.from_numpy_array(np.reshape(w.d, w_shape), need_grad=True)
        set_parameter("weight", w)
    w0 = _view(w0, not fix_parameters)
    if layers > 1:
        w = _view(w, not fix_parameters)
    if with_bias:
        b = _view(b, not fix_parameters)
    return w0, (w if layers > 1 else None), (b if with_bias else None), layers


@parametric_function_api(
    "rnn",
    [
        ("weight_l0", "Weights of the first layer", "(D, H, I + H)", True),
        ("weight", "Weights of the other layers", "(L - 1, D, H, D H + H)", True),
        ("bias", "Biases", "(L, D, H)", True),
    ],
)
def rnn(
    x: Any,
    h: Any,
    w0_init: Any = None,
    w_init: Any = None,
    b_init: Any = None,
    num_layers: int = 1,
    nonlinearity: str = "tanh",
    dropout: float = 0.0,
    bidirectional: bool = False,
    training: bool = True,
    rng: Any = None,
    with_bias: bool = True,
    fix_parameters: bool = False,
) -> Any:
    """Elman RNN over ``x`` (T, B, I) from ``h`` (L, D, B, H); the number of layers is ``h.shape[0]``.
    Returns ``(y (T, B, D H), h_n)``."""
    in_size, hidden, num_layers = x.shape[2], h.shape[3], h.shape[0]
    dirs = 2 if bidirectional else 1
    # as nnabla, the default initial values are drawn at every call
    if w0_init is None:
        w0_init = _rnn_draw(rng, (), (), dirs, hidden, in_size)
    if w_init is None:
        w_init = _rnn_draw(rng, (), (num_layers - 1,), dirs, hidden, dirs * hidden)
    w0 = _param("weight_l0", (dirs, hidden, in_size + hidden), w0_init, fix_parameters)
    w = None
    if num_layers > 1:
        w = _param("weight", (num_layers - 1, dirs, hidden, dirs * hidden + hidden), w_init, fix_parameters)
    b = None
    if with_bias:
        b = _param(
            "bias", (num_layers, dirs, hidden), b_init if b_init is not None else ConstantInitializer(), fix_parameters
        )
    return F.rnn(
        x,
        h,
        weight_l0=w0,
        weight=w,
        bias=b,
        num_layers=num_layers,
        nonlinearity=nonlinearity,
        dropout=dropout,
        bidirectional=bidirectional,
        training=training,
    )


@parametric_function_api(
    "lstm",
    [
        ("weight_l0", "Weights of the first layer", "(D, 4, H, I + H)", True),
        ("weight", "Weights of the other layers", "(L - 1, D, 4, H, D H + H)", True),
        ("bias", "Biases", "(L, D, 4, H)", True),
    ],
)
def lstm(
    x: Any,
    h: Any,
    c: Any,
    w0_init: Any = None,
    w_init: Any = None,
    b_init: Any = None,
    num_layers: int = 1,
    dropout: float = 0.0,
    bidirectional: bool = False,
    training: bool = True,
    rng: Any = None,
    with_bias: bool = True,
    fix_parameters: bool = False,
) -> Any:
    """LSTM over ``x`` (T, B, I) from ``h``, ``c`` (L, D, B, H); the number of layers is ``h.shape[0]``.
    Returns ``(y (T, B, D H), h_n, c_n)``. (The former single-step layer is :func:`lstm_cell`.)"""
    if type(w0_init) is int:
        import nnl

        nnl.logger.logger.warning(
            "Arguments passed seem to be for previous LSTM function, which has been renamed to lstm_cell."
        )
        raise ValueError(
            "lstm: w0_init is an int; the single-step LSTM layer is now PF.lstm_cell(x, h, c, state_size)."
        )
    w0, w, b, layers = _gated_rnn_params(
        "lstm", 4, x, h, w0_init, w_init, b_init, bidirectional, rng, with_bias, fix_parameters
    )
    return F.lstm(
        x,
        h,
        c,
        weight_l0=w0,
        weight=w,
        bias=b,
        num_layers=layers,
        dropout=dropout,
        bidirectional=bidirectional,
        training=training,
    )


@parametric_function_api(
    "gru",
    [
        ("weight_l0", "Weights of the first layer", "(D, 3, H, I + H)", True),
        ("weight", "Weights of the other layers", "(L - 1, D, 3, H, D H + H)", True),
        ("bias", "Biases", "(L, D, 4, H)", True),
    ],
)
def gru(
    x: Any,
    h: Any,
    w0_init: Any = None,
    w_init: Any = None,
    b_init: Any = None,
    num_layers: int = 1,
    dropout: float = 0.0,
    bidirectional: bool = False,
    training: bool = True,
    rng: Any = None,
    with_bias: bool = True,
    fix_parameters: bool = False,
) -> Any:
    """GRU over ``x`` (T, B, I) from ``h`` (L, D, B, H); the number of layers is ``h.shape[0]``.
    Returns ``(y (T, B, D H), h_n)``. The bias has 4 gate rows (r, z, n of the input and n of the state)."""
    w0, w, b, layers = _gated_rnn_params(
        "gru", 3, x, h, w0_init, w_init, b_init, bidirectional, rng, with_bias, fix_parameters
    )
    return F.gru(
        x,
        h,
        weight_l0=w0,
        weight=w,
        bias=b,
        num_layers=layers,
        dropout=dropout,
        bidirectional=bidirectional,
        training=training,
    )


@parametric_function_api(
    "lstm",
    [
        ("affine/W", "Stacked weights of the LSTM block", "(inmaps, 4, state_size)", True),
        ("affine/b", "Stacked biases of the LSTM block", "(4, state_size)", True),
    ],
)
def lstm_cell(
    x: Any, h: Any, c: Any, state_size: int, w_init: Any = None, b_init: Any = None, fix_parameters: bool = False
) -> tuple[Any, Any]:
    """One LSTM step built from an affine layer on ``[x, h]``: gates (i, o, f, g) in that order.
    Returns ``(h_t, c_t)``."""
    xh = F.concatenate(x, h, axis=1)
    iofc = affine(xh, (4, state_size), w_init=w_init, b_init=b_init, fix_parameters=fix_parameters)
    i_t, o_t, f_t, gate = F.split(iofc, axis=1)
    c_t = F.sigmoid(f_t) * c + F.sigmoid(i_t) * F.tanh(gate)
    h_t = F.sigmoid(o_t) * F.tanh(c_t)
    return h_t, c_t


class LSTMCell:
    """A stateful :func:`lstm_cell`: keeps ``h`` and ``c`` (zeros of (batch_size, state_size) unless given)."""

    def __init__(self, batch_size: int, state_size: int, h: Any = None, c: Any = None, name: str | None = None) -> None:
        self.batch_size = batch_size
        self.state_size = state_size
        self.name = name
        if h is not None:
            self.h = h
        else:
            self.h = Variable((batch_size, state_size))
            self.h.data.zero()
        if c is not None:
            self.c = c
        else:
            self.c = Variable((batch_size, state_size))
            self.c.data.zero()

    def reset_state(self) -> None:
        self.h.data.zero()
        self.c.data.zero()

    def __call__(self, x: Any, w_init: Any = None, b_init: Any = None, fix_parameters: bool = False) -> Any:
        self.h, self.c = lstm_cell(
            x, self.h, self.c, self.state_size, w_init, b_init, fix_parameters=fix_parameters, name=self.name
        )
        return self.h


# ---------------------------------------------------------------------------------------------------------------
# normalization layers
# ---------------------------------------------------------------------------------------------------------------
@parametric_function_api("bn", _BN)
def fused_batch_normalization(
    inp: Any,
    z: Any = None,
    axes: Any = [1],  # noqa: B006 - nnabla's default
    decay_rate: float = 0.9,
    eps: float = 1e-05,
    batch_stat: bool = True,
    nonlinearity: str = "relu",
    output_stat: bool = False,
    fix_parameters: bool = False,
    param_init: Any = None,
    no_scale: bool = False,
    no_bias: bool = False,
) -> Any:
    """Batch normalization, plus ``z`` (if given), then ``nonlinearity``; parameters as :func:`batch_normalization`."""
    axes, beta, gamma, mean, var = _bn_params(inp, axes, fix_parameters, param_init, no_scale, no_bias)
    return F.fused_batch_normalization(
        inp, beta, gamma, mean, var, z, axes, decay_rate, eps, batch_stat, nonlinearity, output_stat
    )


@parametric_function_api("bn", _BN)
def batch_normalization(
    inp: Any,
    axes: Any = [1],  # noqa: B006 - nnabla's default
    decay_rate: float = 0.9,
    eps: float = 1e-05,
    batch_stat: bool = True,
    output_stat: bool = False,
    fix_parameters: bool = False,
    param_init: Any = None,
    no_scale: bool = False,
    no_bias: bool = False,
) -> Any:
    """Batch normalization with ``beta`` (0), ``gamma`` (1) and the running ``mean`` (0) / ``var`` (1), all of the
    input's shape reduced to 1 except along ``axes``; ``param_init`` maps these names to initializers."""
    axes, beta, gamma, mean, var = _bn_params(inp, axes, fix_parameters, param_init, no_scale, no_bias)
    return F.batch_normalization(inp, beta, gamma, mean, var, axes, decay_rate, eps, batch_stat, output_stat)


@parametric_function_api("bn", _BN)
def sync_batch_normalization(
    inp: Any,
    comm: Any,
    group: str = "world",
    axes: Any = [1],  # noqa: B006 - nnabla's default
    decay_rate: float = 0.9,
    eps: float = 1e-05,
    batch_stat: bool = True,
    output_stat: bool = False,
    fix_parameters: bool = False,
    param_init: Any = None,
    no_scale: bool = False,
    no_bias: bool = False,
) -> Any:
    """Batch normalization whose batch statistics are averaged over the processes of ``comm``."""
    axes, beta, gamma, mean, var = _bn_params(inp, axes, fix_parameters, param_init, no_scale, no_bias)
    return F.sync_batch_normalization(
        inp, beta, gamma, mean, var, comm, group, axes, decay_rate, eps, batch_stat, output_stat
    )


@parametric_function_api(
    "mean_subtraction",
    [("mean", "Moving average", "inp.shape[base_axis:]", False), ("t", "Minibatch counter", "(1,)", False)],
)
def mean_subtraction(
    inp: Any, base_axis: int = 1, update_running_mean: bool = True, fix_parameters: bool = False
) -> Any:
    """Subtract the running mean of the inputs (over the batch axes before ``base_axis``)."""
    if len(inp.shape) < base_axis:
        raise ValueError(f"mean_subtraction: base_axis={base_axis} exceeds the input's {len(inp.shape)} dimensions.")
    mean = _state("mean", inp.shape[base_axis:], ConstantInitializer(0))
    t = _state("t", (1,), ConstantInitializer(0))
    return F.mean_subtraction(inp, mean, t, base_axis=base_axis, update_running_mean=update_running_mean)


@parametric_function_api("layer_normalization", _BETA_GAMMA)
def layer_normalization(
    inp: Any,
    batch_axis: Any = 0,
    eps: float = 1e-05,
    output_stat: bool = False,
    fix_parameters: bool = False,
    param_init: Any = None,
    no_scale: bool = False,
    no_bias: bool = False,
) -> Any:
    """Layer normalization; ``beta``/``gamma`` have the input's shape with the batch axes set to 1."""
    batch_axis = _as_list(batch_axis)
    shape = list(inp.shape)
    for axis in batch_axis:
        shape[axis] = 1
    beta, gamma = _beta_gamma(shape, fix_parameters, param_init or {}, no_bias, no_scale)
    return F.layer_normalization(inp, beta, gamma, batch_axis=batch_axis, eps=eps, output_stat=output_stat)


@parametric_function_api("instance_normalization", _BETA_GAMMA)
def instance_normalization(
    inp: Any,
    channel_axis: int = 1,
    batch_axis: Any = 0,
    eps: float = 1e-05,
    output_stat: bool = False,
    fix_parameters: bool = False,
    param_init: Any = None,
    no_scale: bool = False,
    no_bias: bool = False,
) -> Any:
    """Instance normalization; ``beta``/``gamma`` are 1 everywhere except the channel axis."""
    shape = [1] * len(inp.shape)
    shape[channel_axis] = inp.shape[channel_axis]
    beta, gamma = _beta_gamma(shape, fix_parameters, param_init or {}, no_bias, no_scale)
    return F.instance_normalization(
        inp, beta, gamma, channel_axis=channel_axis, batch_axis=batch_axis, eps=eps, output_stat=output_stat
    )


@parametric_function_api("group_normalization", _BETA_GAMMA)
def group_normalization(
    inp: Any,
    num_groups: int,
    channel_axis: int = 1,
    batch_axis: Any = 0,
    eps: float = 1e-05,
    output_stat: bool = False,
    fix_parameters: bool = False,
    param_init: Any = None,
    no_scale: bool = False,
    no_bias: bool = False,
) -> Any:
    """Group normalization over ``num_groups`` channel groups; ``beta``/``gamma`` are per channel."""
    batch_axis = _as_list(batch_axis)
    shape = [1] * len(inp.shape)
    shape[channel_axis] = inp.shape[channel_axis]
    beta, gamma = _beta_gamma(shape, fix_parameters, param_init or {}, no_bias, no_scale)
    return F.group_normalization(
        inp,
        beta,
        gamma,
        num_groups=num_groups,
        channel_axis=channel_axis,
        batch_axis=batch_axis,
        eps=eps,
        output_stat=output_stat,
    )


@parametric_function_api("wn", [("g", "Weight normalization scale", "(w.shape[dim],)", True)])
def weight_normalization(
    w: Any, dim: int = 0, eps: float = 1e-12, g_init: Any = None, fix_parameters: bool = False
) -> Any:
    """Weight normalization ``g * w / ||w||`` (norm over every axis but ``dim``); ``g`` starts at ``||w||``."""
    if g_init is None:
        g_init = WeightNormalizationScaleInitializer(w, dim, eps)
    g = get_parameter_or_create(
        "g", (w.shape[dim],), initializer=g_init, need_grad=True, as_need_grad=not fix_parameters
    )
    return F.weight_normalization(w, g, dim, eps)


@parametric_function_api("spectral-norm", [("u", "Singular vector", "(w.shape[dim],)", False)])
def spectral_norm(
    w: Any,
    dim: int = 0,
    itr: int = 1,
    eps: float = 1e-12,
    test: bool = False,
    u_init: Any = None,
    fix_parameters: bool = True,
) -> Any:
    """Spectral normalization ``w / sigma(w)`` by ``itr`` power iterations; ``u`` (normal init) keeps the
    singular vector estimate between calls (updated unless ``test``)."""
    if not 0 <= dim < len(w.shape):
        raise ValueError(f"spectral_norm: dim must be in [0, {len(w.shape)}), got {dim}.")
    u = get_parameter_or_create(
        "u", (w.shape[dim],), u_init if u_init is not None else NormalInitializer(), False, False
    )
    return F.spectral_norm(w, u, dim=dim, itr=itr, eps=eps, test=test)


# ---------------------------------------------------------------------------------------------------------------
# other layers
# ---------------------------------------------------------------------------------------------------------------
@parametric_function_api("embed", [("W", "Embedding matrix", "(n_inputs, n_features)", True)])
def embed(
    inp: Any, n_inputs: int, n_features: int, initializer: Any = None, fix_parameters: bool = False, apply_w: Any = None
) -> Any:
    """Embedding lookup with ``W`` (n_inputs, n_features), uniform in [-sqrt(3), sqrt(3)] by default."""
    if initializer is None:
        initializer = UniformInitializer((-np.sqrt(3.0), np.sqrt(3.0)))
    w = _param("W", [n_inputs, n_features], initializer, fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    return F.embed(inp, w)


@parametric_function_api("prelu", [("slope", "Negative slope", "() if shared else (inp.shape[base_axis],)", True)])
def prelu(
    inp: Any, base_axis: int = 1, shared: bool = True, fix_parameters: bool = False, slope_init: Any = None
) -> Any:
    """Parametric ReLU with one ``slope`` (``shared``) or one per channel of ``base_axis``; 0.25 by default."""
    shape = () if shared else (inp.shape[base_axis],)
    w = _param("slope", shape, slope_init if slope_init is not None else ConstantInitializer(0.25), fix_parameters)
    return F.prelu(inp, w, base_axis)


# ---------------------------------------------------------------------------------------------------------------
# quantized / pruned layers
# ---------------------------------------------------------------------------------------------------------------
def _quantized(x: Any, enabled: bool, q_name: str, shape: Any, init: Any, quantize: Callable[..., Any]) -> Any:
    """``x`` quantized into the non-trained parameter ``q_name`` (kept up to date by the forward pass)."""
    if not enabled:
        return x
    q = _state(q_name, shape, init)
    return _kept(quantize(x, _into([q.data])))


def _affine_shapes(inp: Any, n_outmaps: Any, base_axis: int) -> tuple[list[int], list[int]]:
    outs = _as_list(n_outmaps)
    return [_prod(inp.shape[base_axis:])] + outs, outs


@parametric_function_api("fp_quantized_affine", _QUANT_W_B)
def fixed_point_quantized_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    quantize_w: bool = True,
    sign_w: bool = True,
    n_w: int = 8,
    delta_w: float = 0.0625,
    ste_fine_grained_w: bool = True,
    quantize_b: bool = True,
    sign_b: bool = True,
    n_b: int = 8,
    delta_b: float = 0.0625,
    ste_fine_grained_b: bool = True,
) -> Any:
    """Affine layer whose weight and bias are fixed-point quantized (``n`` bits, step ``delta``) in the forward
    pass; the quantized values are kept in ``W_q`` / ``b_q``."""
    w_shape, outs = _affine_shapes(inp, n_outmaps, base_axis)
    if w_init is None:
        w_init = _glorot(w_shape[0], _prod(outs), rng)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    w = _param("W", w_shape, w_init, fix_parameters)
    w_q = _quantized(
        w, quantize_w, "W_q", w_shape, w_init,
        lambda v, o: F.fixed_point_quantize(v, quantize=quantize_w, sign=sign_w, n=n_w, delta=delta_w, ste_fine_grained=ste_fine_grained_w, outputs=o),
    )  # fmt: skip
    b_q = None
    if with_bias:
        b = _param("b", outs, b_init, fix_parameters)
        b_q = _quantized(
            b, quantize_b, "b_q", outs, b_init,
            lambda v, o: F.fixed_point_quantize(v, quantize=quantize_b, sign=sign_b, n=n_b, delta=delta_b, ste_fine_grained=ste_fine_grained_b, outputs=o),
        )  # fmt: skip
    return F.affine(inp, w_q, b_q, base_axis)


@parametric_function_api("fp_quantized_conv", _QUANT_W_B)
def fixed_point_quantized_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    quantize_w: bool = True,
    sign_w: bool = True,
    n_w: int = 8,
    delta_w: float = 0.0625,
    ste_fine_grained_w: bool = True,
    quantize_b: bool = True,
    sign_b: bool = True,
    n_b: int = 8,
    delta_b: float = 0.0625,
    ste_fine_grained_b: bool = True,
) -> Any:
    """Convolution with fixed-point quantized filters and bias (see :func:`fixed_point_quantized_affine`).

    As in nnabla, ``W`` is always channel-first and the convolution itself ignores ``channel_last``."""
    kernel = tuple(kernel)
    channels, filter_shape = _conv_filter(inp, kernel, group, channel_last, base_axis)
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    w = _param("W", (outmaps, inp.shape[base_axis] // group) + kernel, w_init, fix_parameters)
    w_q = _quantized(
        w, quantize_w, "W_q", (outmaps,) + filter_shape, w_init,
        lambda v, o: F.fixed_point_quantize(v, quantize=quantize_w, sign=sign_w, n=n_w, delta=delta_w, ste_fine_grained=ste_fine_grained_w, outputs=o),
    )  # fmt: skip
    b_q = None
    if with_bias:
        b = _param("b", (outmaps,), b_init, fix_parameters)
        b_q = _quantized(
            b, quantize_b, "b_q", (outmaps,), b_init,
            lambda v, o: F.fixed_point_quantize(v, quantize=quantize_b, sign=sign_b, n=n_b, delta=delta_b, ste_fine_grained=ste_fine_grained_b, outputs=o),
        )  # fmt: skip
    return F.convolution(inp, w_q, b_q, base_axis, pad, stride, dilation, group)


@parametric_function_api("pow2_quantized_affine", _QUANT_W_B)
def pow2_quantized_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    quantize_w: bool = True,
    sign_w: bool = True,
    with_zero_w: bool = False,
    n_w: int = 8,
    m_w: int = 2,
    ste_fine_grained_w: bool = True,
    quantize_b: bool = True,
    sign_b: bool = True,
    with_zero_b: bool = False,
    n_b: int = 8,
    m_b: int = 2,
    ste_fine_grained_b: bool = True,
) -> Any:
    """Affine layer whose weight and bias are quantized to powers of two (``n`` bits, max ``2^m``) in the
    forward pass; the quantized values are kept in ``W_q`` / ``b_q``."""
    w_shape, outs = _affine_shapes(inp, n_outmaps, base_axis)
    if w_init is None:
        w_init = _glorot(w_shape[0], _prod(outs), rng)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    w = _param("W", w_shape, w_init, fix_parameters)
    w_q = _quantized(
        w, quantize_w, "W_q", w_shape, w_init,
        lambda v, o: F.pow2_quantize(v, quantize=quantize_w, sign=sign_w, with_zero=with_zero_w, n=n_w, m=m_w, ste_fine_grained=ste_fine_grained_w, outputs=o),
    )  # fmt: skip
    b_q = None
    if with_bias:
        b = _param("b", outs, b_init, fix_parameters)
        b_q = _quantized(
            b, quantize_b, "b_q", outs, b_init,
            lambda v, o: F.pow2_quantize(v, quantize=quantize_b, sign=sign_b, with_zero=with_zero_b, n=n_b, m=m_b, ste_fine_grained=ste_fine_grained_b, outputs=o),
        )  # fmt: skip
    return F.affine(inp, w_q, b_q, base_axis)


@parametric_function_api("pow2_quantized_conv", _QUANT_W_B)
def pow2_quantized_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    quantize_w: bool = True,
    with_zero_w: bool = False,
    sign_w: bool = True,
    n_w: int = 8,
    m_w: int = 2,
    ste_fine_grained_w: bool = True,
    quantize_b: bool = True,
    with_zero_b: bool = False,
    sign_b: bool = True,
    n_b: int = 8,
    m_b: int = 2,
    ste_fine_grained_b: bool = True,
) -> Any:
    """Convolution with power-of-two quantized filters and bias (see :func:`pow2_quantized_affine`)."""
    kernel = tuple(kernel)
    channels = inp.shape[base_axis]
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    w_shape = (outmaps, channels // group) + kernel
    w = _param("W", w_shape, w_init, fix_parameters)
    w_q = _quantized(
        w, quantize_w, "W_q", w_shape, w_init,
        lambda v, o: F.pow2_quantize(v, quantize=quantize_w, sign=sign_w, with_zero=with_zero_w, n=n_w, m=m_w, ste_fine_grained=ste_fine_grained_w, outputs=o),
    )  # fmt: skip
    b_q = None
    if with_bias:
        b = _param("b", (outmaps,), b_init, fix_parameters)
        b_q = _quantized(
            b, quantize_b, "b_q", (outmaps,), b_init,
            lambda v, o: F.pow2_quantize(v, quantize=quantize_b, sign=sign_b, with_zero=with_zero_b, n=n_b, m=m_b, ste_fine_grained=ste_fine_grained_b, outputs=o),
        )  # fmt: skip
    return F.convolution(inp, w_q, b_q, base_axis, pad, stride, dilation, group)


@parametric_function_api("pruned_affine", _QUANT_W_B)
def pruned_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    prune_w: bool = True,
    rate_w: float = 0.9,
    prune_b: bool = True,
    rate_b: float = 0.9,
) -> Any:
    """Affine layer whose smallest weights (a ``rate`` fraction by magnitude) are zeroed in the forward pass;
    the pruned values are kept in ``W_q`` / ``b_q``."""
    w_shape, outs = _affine_shapes(inp, n_outmaps, base_axis)
    if w_init is None:
        w_init = _glorot(w_shape[0], _prod(outs), rng)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    w = _param("W", w_shape, w_init, fix_parameters)
    w_q = _quantized(w, prune_w, "W_q", w_shape, w_init, lambda v, o: F.prune(v, rate=rate_w, outputs=o))
    b_q = None
    if with_bias:
        b = _param("b", outs, b_init, fix_parameters)
        b_q = _quantized(b, prune_b, "b_q", outs, b_init, lambda v, o: F.prune(v, rate=rate_b, outputs=o))
    return F.affine(inp, w_q, b_q, base_axis)


@parametric_function_api("pruned_conv", _QUANT_W_B)
def pruned_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    prune_w: bool = True,
    rate_w: float = 0.9,
    prune_b: bool = True,
    rate_b: float = 0.9,
) -> Any:
    """Convolution with pruned filters and bias (see :func:`pruned_affine`)."""
    kernel = tuple(kernel)
    channels, filter_shape = _conv_filter(inp, kernel, group, channel_last, base_axis)
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    w = _param("W", (outmaps,) + filter_shape, w_init, fix_parameters)
    w_q_shape = (outmaps, inp.shape[base_axis] // group) + kernel  # as nnabla: channel-first whatever channel_last
    w_q = _quantized(w, prune_w, "W_q", w_q_shape, w_init, lambda v, o: F.prune(v, rate=rate_w, outputs=o))
    b_q = None
    if with_bias:
        b = _param("b", (outmaps,), b_init, fix_parameters)
        b_q = _quantized(b, prune_b, "b_q", (outmaps,), b_init, lambda v, o: F.prune(v, rate=rate_b, outputs=o))
    return F.convolution(inp, w_q, b_q, base_axis, pad, stride, dilation, group, channel_last)


@parametric_function_api(
    "min_max_quantize",
    [
        ("qr_min", "Minimum of the quantization range (moving minimum of the inputs with ema)", "ql_min.shape", False),
        ("qr_max", "Maximum of the quantization range (moving maximum of the inputs with ema)", "ql_max.shape", False),
    ],
)
def min_max_quantize(
    x: Any,
    ql_min: Any = 0,
    ql_max: Any = 255,
    decay: float = 0.999,
    x_min_max: bool = False,
    ema: bool = False,
    ste_fine_grained: bool = True,
    eps: float = 0.01,
    qr_min_init: Any = None,
    qr_max_init: Any = None,
    fix_parameters: bool = False,
    outputs: Any = None,
) -> Any:
    """Min-max quantization of ``x`` to the integer levels [ql_min, ql_max] over the range [qr_min, qr_max].

    Scalar ``ql_min`` / ``ql_max`` become the non-trained parameters ``ql_min`` / ``ql_max`` of shape
    (1,) * x.ndim. ``qr_min`` (-6) / ``qr_max`` (6) are trained unless they track the inputs (``x_min_max`` and
    ``ema``)."""
    ones = [1] * x.ndim
    if isinstance(ql_min, (int, float)):
        ql_min = get_parameter_or_create("ql_min", ones, np.array(ql_min).reshape(ones), False, False)
    if isinstance(ql_max, (int, float)):
        ql_max = get_parameter_or_create("ql_max", ones, np.array(ql_max).reshape(ones), False, False)
    qr_min_init = qr_min_init if qr_min_init is not None else ConstantInitializer(-6.0)
    qr_max_init = qr_max_init if qr_max_init is not None else ConstantInitializer(6.0)
    trained = not (x_min_max and ema)
    qr_min = get_parameter_or_create("qr_min", ql_min.shape, qr_min_init, trained, not fix_parameters)
    qr_max = get_parameter_or_create("qr_max", ql_min.shape, qr_max_init, trained, not fix_parameters)
    return F.min_max_quantize(
        x, qr_min, qr_max, ql_min, ql_max, decay, x_min_max, ema, ste_fine_grained, eps, outputs=_into(outputs)
    )


_MIN_MAX_DESC = _QUANT_W_B + [
    ("qr_min", "Minimum of the quantization range", "ql_min.shape", False),
    ("qr_max", "Maximum of the quantization range", "ql_max.shape", False),
]


def _min_max_defaults(
    qr_min_w_init: Any, qr_max_w_init: Any, qr_min_b_init: Any, qr_max_b_init: Any
) -> tuple[Any, ...]:
    return (
        qr_min_w_init if qr_min_w_init is not None else ConstantInitializer(-2.0),
        qr_max_w_init if qr_max_w_init is not None else ConstantInitializer(2.0),
        qr_min_b_init if qr_min_b_init is not None else ConstantInitializer(-6.0),
        qr_max_b_init if qr_max_b_init is not None else ConstantInitializer(6.0),
    )


def _min_max_quantized(
    v: Any, enabled: bool, q_name: str, shape: Any, init: Any, fix_parameters: bool, eps: float,
    ql_min: Any, ql_max: Any, min_max: bool, qr_min_init: Any, qr_max_init: Any, ste: bool, scope: str,
) -> Any:  # fmt: skip
    """``v`` min-max quantized into ``q_name`` by :func:`min_max_quantize` in the sub-scope ``scope``."""
    return _quantized(
        v, enabled, q_name, shape, init,
        lambda x, o: min_max_quantize(
            x, ql_min, ql_max, 0.999, min_max, False, qr_min_init=qr_min_init, qr_max_init=qr_max_init,
            ste_fine_grained=ste, eps=eps, fix_parameters=fix_parameters, outputs=o, name=scope,
        ),
    )  # fmt: skip


@parametric_function_api("min_max_quantized_affine", _MIN_MAX_DESC)
def min_max_quantized_affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    quantize_w: bool = True,
    ql_min_w: Any = 0,
    ql_max_w: Any = 255,
    w_min_max: bool = False,
    qr_min_w_init: Any = None,
    qr_max_w_init: Any = None,
    ste_fine_grained_w: bool = True,
    quantize_b: bool = True,
    ql_min_b: Any = 0,
    ql_max_b: Any = 255,
    b_min_max: bool = False,
    qr_min_b_init: Any = None,
    qr_max_b_init: Any = None,
    ste_fine_grained_b: bool = True,
    eps: float = 0.01,
) -> Any:
    """Affine layer whose weight and bias are min-max quantized (see :func:`min_max_quantize`); the quantizers'
    parameters live in the sub-scopes ``min_max_quantize_w`` / ``min_max_quantize_b``."""
    w_shape, outs = _affine_shapes(inp, n_outmaps, base_axis)
    if w_init is None:
        w_init = _glorot(w_shape[0], _prod(outs), rng)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    qr_min_w_init, qr_max_w_init, qr_min_b_init, qr_max_b_init = _min_max_defaults(
        qr_min_w_init, qr_max_w_init, qr_min_b_init, qr_max_b_init
    )
    w = _param("W", w_shape, w_init, fix_parameters)
    w_q = _min_max_quantized(
        w, quantize_w, "W_q", w_shape, w_init, fix_parameters, eps,
        ql_min_w, ql_max_w, w_min_max, qr_min_w_init, qr_max_w_init, ste_fine_grained_w, "min_max_quantize_w",
    )  # fmt: skip
    b_q = None
    if with_bias:
        b = _param("b", outs, b_init, fix_parameters)
        b_q = _min_max_quantized(
            b, quantize_b, "b_q", outs, b_init, fix_parameters, eps,
            ql_min_b, ql_max_b, b_min_max, qr_min_b_init, qr_max_b_init, ste_fine_grained_b, "min_max_quantize_b",
        )  # fmt: skip
    return F.affine(inp, w_q, b_q, base_axis)


@parametric_function_api("min_max_quantized_conv", _MIN_MAX_DESC)
def min_max_quantized_convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    quantize_w: bool = True,
    ql_min_w: Any = 0,
    ql_max_w: Any = 255,
    w_min_max: bool = False,
    qr_min_w_init: Any = None,
    qr_max_w_init: Any = None,
    ste_fine_grained_w: bool = True,
    quantize_b: bool = True,
    ql_min_b: Any = 0,
    ql_max_b: Any = 255,
    b_min_max: bool = False,
    qr_min_b_init: Any = None,
    qr_max_b_init: Any = None,
    ste_fine_grained_b: bool = True,
    eps: float = 0.01,
) -> Any:
    """Convolution with min-max quantized filters and bias (see :func:`min_max_quantized_affine`)."""
    kernel = tuple(kernel)
    channels, filter_shape = _conv_filter(inp, kernel, group, channel_last, base_axis)
    if w_init is None:
        w_init = _glorot(channels, outmaps, rng, kernel)
    if with_bias and b_init is None:
        b_init = ConstantInitializer()
    qr_min_w_init, qr_max_w_init, qr_min_b_init, qr_max_b_init = _min_max_defaults(
        qr_min_w_init, qr_max_w_init, qr_min_b_init, qr_max_b_init
    )
    w_shape = (outmaps,) + filter_shape
    w = _param("W", w_shape, w_init, fix_parameters)
    w_q = _min_max_quantized(
        w, quantize_w, "W_q", w_shape, w_init, fix_parameters, eps,
        ql_min_w, ql_max_w, w_min_max, qr_min_w_init, qr_max_w_init, ste_fine_grained_w, "min_max_quantize_w",
    )  # fmt: skip
    b_q = None
    if with_bias:
        b = _param("b", (outmaps,), b_init, fix_parameters)
        b_q = _min_max_quantized(
            b, quantize_b, "b_q", (outmaps,), b_init, fix_parameters, eps,
            ql_min_b, ql_max_b, b_min_max, qr_min_b_init, qr_max_b_init, ste_fine_grained_b, "min_max_quantize_b",
        )  # fmt: skip
    return F.convolution(inp, w_q, b_q, base_axis, pad, stride, dilation, group, channel_last)


# ---------------------------------------------------------------------------------------------------------------
# attention and transformer
# ---------------------------------------------------------------------------------------------------------------
@parametric_function_api(
    "multi_head_attention",
    [
        ("q_weight", "Query projection", "(E_q, E)", True),
        ("k_weight", "Key projection", "(E_k, E)", True),
        ("v_weight", "Value projection", "(E_v, E_v')", True),
        ("out_weight", "Output projection", "(E_v', out_dim)", True),
        ("q_bias", "Query bias", "(E,)", True),
        ("k_bias", "Key bias", "(E,)", True),
        ("v_bias", "Value bias", "(E_v',)", True),
        ("out_bias", "Output bias", "(out_dim,)", True),
        ("attn_bias_k", "Attention bias of the keys", "(1, 1, E)", True),
        ("attn_bias_v", "Attention bias of the values", "(1, 1, E_v')", True),
    ],
)
def multi_head_attention(
    query: Any,
    key: Any,
    value: Any,
    num_heads: int = 12,
    dropout: float = 0.0,
    k_embed_dim: Any = None,
    v_embed_dim: Any = None,
    out_dim: Any = None,
    rng: Any = None,
    with_bias: bool = True,
    add_attn_bias: bool = False,
    additive_mask: Any = None,
    key_padding_mask: Any = None,
    fix_parameters: bool = False,
    param_init: Any = None,
) -> tuple[Any, Any]:
    """Multi-head attention layer (see ``F.multi_head_attention``) on sequence-first (L, B, E) inputs.
    Returns ``(output, attention weights)``."""
    if k_embed_dim is None:
        q_embed_dim = k_embed_dim = query.shape[2]
    else:
        q_embed_dim = k_embed_dim
    if v_embed_dim is None:
        v_embed_dim = value.shape[2]
    if out_dim is None:
        out_dim = v_embed_dim
    param_init = param_init or {}
    q_w_init = param_init.get("q_weight", _glorot(query.shape[2], q_embed_dim, rng))
    k_w_init = param_init.get("k_weight", _glorot(key.shape[2], k_embed_dim, rng))
    v_w_init = param_init.get("v_weight", _glorot(value.shape[2], v_embed_dim, rng))
    qw = _param("q_weight", (query.shape[2], q_embed_dim), q_w_init, fix_parameters)
    kw = _param("k_weight", (key.shape[2], k_embed_dim), k_w_init, fix_parameters)
    vw = _param("v_weight", (value.shape[2], v_embed_dim), v_w_init, fix_parameters)
    ow = _param(
        "out_weight",
        (v_embed_dim, out_dim),
        param_init.get("out_weight", _glorot(v_embed_dim, out_dim, rng)),
        fix_parameters,
    )
    qb = kb = vb = ob = None
    if with_bias:
        qb = _param("q_bias", (q_embed_dim,), param_init.get("q_bias", ConstantInitializer()), fix_parameters)
        kb = _param("k_bias", (k_embed_dim,), param_init.get("k_bias", ConstantInitializer()), fix_parameters)
        vb = _param("v_bias", (v_embed_dim,), param_init.get("v_bias", ConstantInitializer()), fix_parameters)
        ob = _param("out_bias", (out_dim,), param_init.get("out_bias", ConstantInitializer()), fix_parameters)
    abk = abv = None
    if add_attn_bias:
        abk_init = param_init.get("attn_bias_k", _glorot(k_embed_dim, 1, rng))
        abv_init = param_init.get("attn_bias_v", _glorot(v_embed_dim, 1, rng))
        abk = _param("attn_bias_k", (1, 1, k_embed_dim), abk_init, fix_parameters)
        abv = _param("attn_bias_v", (1, 1, v_embed_dim), abv_init, fix_parameters)
    return F.multi_head_attention(
        query,
        key,
        value,
        num_heads,
        qw,
        kw,
        vw,
        ow,
        qb,
        kb,
        vb,
        ob,
        abk,
        abv,
        dropout,
        additive_mask=additive_mask,
        key_padding_mask=key_padding_mask,
    )


@parametric_function_api(
    "transformer",
    [
        ("encoder{layer#}", "Parameters of the n-th encoder layer", "see transformer_encode", True),
        ("decoder{layer#}", "Parameters of the n-th decoder layer", "see transformer_decode", True),
    ],
)
def transformer(
    src: Any,
    tgt: Any,
    embed_dim: int = 512,
    num_heads: int = 8,
    num_encoder_layers: int = 6,
    num_decoder_layers: int = 6,
    dim_feedforward: int = 2048,
    dropout: float = 0.1,
    activation: Any = None,
    src_additive_mask: Any = None,
    tgt_additive_mask: Any = None,
    memory_additive_mask: Any = None,
    src_key_padding_mask: Any = None,
    tgt_key_padding_mask: Any = None,
    memory_key_padding_mask: Any = None,
    rng: Any = None,
    add_attn_bias: bool = False,
    fix_parameters: bool = False,
) -> Any:
    """Transformer (Vaswani et al.): ``num_encoder_layers`` encoder layers (scopes ``encoder00``...) over ``src``
    (S, B, E) and ``num_decoder_layers`` decoder layers (``decoder00``...) over ``tgt`` (T, B, E)."""
    if src.shape[1] != tgt.shape[1]:
        raise ValueError(
            f"transformer: the batch sizes of source and target must be equal, got {src.shape[1]} and {tgt.shape[1]}."
        )
    if src.shape[2] != embed_dim or tgt.shape[2] != embed_dim:
        raise ValueError(
            f"transformer: the feature sizes of source ({src.shape[2]}) and target ({tgt.shape[2]}) must equal embed_dim={embed_dim}."
        )
    memory = src
    for i in range(num_encoder_layers):
        memory = transformer_encode(
            memory, embed_dim=embed_dim, num_heads=num_heads, dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
            src_additive_mask=src_additive_mask, src_key_padding_mask=src_key_padding_mask, rng=rng, add_attn_bias=add_attn_bias,
            fix_parameters=fix_parameters, name=f"encoder{i:02d}",
        )  # fmt: skip
    output = tgt
    for i in range(num_decoder_layers):
        output = transformer_decode(
            output, memory, embed_dim=embed_dim, num_heads=num_heads, dim_feedforward=dim_feedforward, dropout=dropout,
            activation=activation, tgt_additive_mask=tgt_additive_mask, memory_additive_mask=memory_additive_mask,
            tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask, rng=rng,
            add_attn_bias=add_attn_bias, fix_parameters=fix_parameters, name=f"decoder{i:02d}",
        )  # fmt: skip
    return output


def _dropped(x: Any, dropout: float) -> Any:
    return F.dropout(x, dropout) if dropout > 0 else x


@parametric_function_api(
    "transformer_encode",
    [
        ("src_self_attn", "Self-attention of the source", "see multi_head_attention", True),
        ("enc_affine1", "First feed-forward affine", "see affine", True),
        ("enc_affine2", "Second feed-forward affine", "see affine", True),
        ("enc_layer_norm1", "First layer normalization", "see layer_normalization", True),
        ("enc_layer_norm2", "Second layer normalization", "see layer_normalization", True),
    ],
)
def transformer_encode(
    src: Any,
    embed_dim: int,
    num_heads: int,
    dim_feedforward: int = 2048,
    dropout: float = 0.1,
    activation: Any = None,
    src_additive_mask: Any = None,
    src_key_padding_mask: Any = None,
    rng: Any = None,
    add_attn_bias: bool = False,
    fix_parameters: bool = False,
) -> Any:
    """One transformer encoder layer (post-norm): self-attention + residual + layer norm, then a feed-forward
    block (``dim_feedforward``, ``activation`` = ReLU by default) + residual + layer norm.

    As in nnabla, the attention sub-layer gets neither ``rng`` nor ``dropout`` (so the initial weights come from
    the global generator, as nnabla draws them); unlike nnabla 1.39, which drops it, ``fix_parameters`` reaches
    every sub-layer."""
    activation = activation if activation is not None else F.relu
    attn = multi_head_attention(
        src, src, src, num_heads=num_heads, add_attn_bias=add_attn_bias, additive_mask=src_additive_mask,
        key_padding_mask=src_key_padding_mask, fix_parameters=fix_parameters, name="src_self_attn",
    )[0]  # fmt: skip
    src = layer_normalization(
        src + _dropped(attn, dropout), batch_axis=(0, 1), fix_parameters=fix_parameters, name="enc_layer_norm1"
    )
    hidden = _dropped(
        activation(affine(src, dim_feedforward, base_axis=2, fix_parameters=fix_parameters, name="enc_affine1")),
        dropout,
    )
    out = _dropped(affine(hidden, embed_dim, base_axis=2, fix_parameters=fix_parameters, name="enc_affine2"), dropout)
    return layer_normalization(src + out, batch_axis=(0, 1), fix_parameters=fix_parameters, name="enc_layer_norm2")


@parametric_function_api(
    "transformer_decode",
    [
        ("tgt_self_attn", "Self-attention of the target", "see multi_head_attention", True),
        ("tgt_memory_attn", "Attention of the target over the encoder output", "see multi_head_attention", True),
        ("dec_affine1", "First feed-forward affine", "see affine", True),
        ("dec_affine2", "Second feed-forward affine", "see affine", True),
        ("dec_layer_norm1", "First layer normalization", "see layer_normalization", True),
        ("dec_layer_norm2", "Second layer normalization", "see layer_normalization", True),
        ("dec_layer_norm3", "Third layer normalization", "see layer_normalization", True),
    ],
)
def transformer_decode(
    tgt: Any,
    memory: Any,
    embed_dim: int,
    num_heads: int,
    dim_feedforward: int = 2048,
    dropout: float = 0.1,
    activation: Any = None,
    tgt_additive_mask: Any = None,
    memory_additive_mask: Any = None,
    tgt_key_padding_mask: Any = None,
    memory_key_padding_mask: Any = None,
    rng: Any = None,
    add_attn_bias: bool = False,
    fix_parameters: bool = False,
) -> Any:
    """One transformer decoder layer (post-norm): self-attention, attention over ``memory`` and a feed-forward
    block, each followed by a residual connection and layer normalization."""
    activation = activation if activation is not None else F.relu
    attn = multi_head_attention(
        tgt, tgt, tgt, num_heads=num_heads, add_attn_bias=add_attn_bias, additive_mask=tgt_additive_mask,
        key_padding_mask=tgt_key_padding_mask, fix_parameters=fix_parameters, name="tgt_self_attn",
    )[0]  # fmt: skip
    tgt = layer_normalization(
        tgt + _dropped(attn, dropout), batch_axis=(0, 1), fix_parameters=fix_parameters, name="dec_layer_norm1"
    )
    attn = multi_head_attention(
        tgt, memory, memory, num_heads=num_heads, add_attn_bias=add_attn_bias, additive_mask=memory_additive_mask,
        key_padding_mask=memory_key_padding_mask, fix_parameters=fix_parameters, name="tgt_memory_attn",
    )[0]  # fmt: skip
    tgt = layer_normalization(
        tgt + _dropped(attn, dropout), batch_axis=(0, 1), fix_parameters=fix_parameters, name="dec_layer_norm2"
    )
    hidden = _dropped(
        activation(affine(tgt, dim_feedforward, base_axis=2, fix_parameters=fix_parameters, name="dec_affine1")),
        dropout,
    )
    out = _dropped(affine(hidden, embed_dim, base_axis=2, fix_parameters=fix_parameters, name="dec_affine2"), dropout)
    return layer_normalization(tgt + out, batch_axis=(0, 1), fix_parameters=fix_parameters, name="dec_layer_norm3")
