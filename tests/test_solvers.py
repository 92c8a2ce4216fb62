"""Solvers: update rules against float64 NumPy references, the Solver interface, state files."""

from __future__ import annotations

import inspect
import math
import os
from collections import OrderedDict

import h5py
import numpy as np
import pytest

import nnl as nn
import nnl.solvers as S
from nnl.nnp import nnabla_pb2
from nnl.solver import Solver, SolverState, set_solver_pre_hook, unset_solver_pre_hook

SHAPES = OrderedDict([("w1", (2, 3, 4)), ("w2", (3, 4, 1, 2)), ("s", ())])
STEPS = 6
WD = [1e-2 * (i % 2) for i in range(STEPS)]  # weight_decay rate per step (0 every other step)
CLIP = [0.0, 3.0, 1.0, 0.0, 2.0, 0.5]  # clip_grad_by_norm per step (0 = no clipping)
LR_HALVED_AT = 3  # set_learning_rate(learning_rate() / 2) before this step


# ---------------------------------------------------------------------------------------------------------------
# float64 references, written from the update formulas (nnabla's solvers.yaml / C++)


def ref_step(name, kw, w, g, st, t, wd, lr, lr0):
    """One update of a float64 parameter ``w`` (in place) with gradient ``g``; ``wd`` is the fused decay rate,
    ``lr`` the current learning rate, ``lr0`` the initial one."""
    k = kw
    if name == "Sgd":
        w -= lr * g
    elif name == "SgdW":
        st["m"] = k["momentum"] * st["m"] + lr * g
        w[...] = w - st["m"] - (lr / lr0) * wd * w
    elif name == "Momentum":
        st["m"] = k["momentum"] * st["m"] + lr * g
        w -= st["m"]
    elif name == "Nesterov":
        prev = st["m"].copy()
        st["m"] = k["momentum"] * st["m"] - lr * g
        w += -k["momentum"] * prev + (1 + k["momentum"]) * st["m"]
    elif name == "Lars":
        gn, dn = np.linalg.norm(g), np.linalg.norm(w)
        x = gn + wd * dn
        if x < k["eps"]:
            x += k["eps"]
        local = lr if dn < k["eps"] else lr * k["coefficient"] * dn / x
        st["v"] = k["momentum"] * st["v"] + local * (g + wd * w)
        w -= st["v"]
    elif name == "Adadelta":
        d, eps = k["decay"], k["eps"]
        st["e_sqr_grad"] = d * st["e_sqr_grad"] + (1 - d) * g * g
        delta = np.sqrt((st["e_sqr_delta"] + eps) / (st["e_sqr_grad"] + eps)) * g
        st["e_sqr_delta"] = d * st["e_sqr_delta"] + (1 - d) * delta * delta
        w -= lr * delta
    elif name == "Adagrad":
        st["v"] = st["v"] + g * g
        w -= lr * g / (np.sqrt(st["v"]) + k["eps"])
    elif name == "RMSprop":
        st["v"] = k["decay"] * st["v"] + (1 - k["decay"]) * g * g
        w -= lr * g / (np.sqrt(st["v"]) + k["eps"])
    elif name == "RMSpropGraves":
        d = k["decay"]
        st["n"] = d * st["n"] + (1 - d) * g * g
        st["g"] = d * st["g"] + (1 - d) * g
        st["d"] = k["momentum"] * st["d"] - lr * g / np.sqrt(st["n"] - st["g"] ** 2 + k["eps"])
        w += st["d"]
    elif name in ("Adam", "AdamW", "AdaBound", "AMSGRAD", "AMSBound"):
        b1, b2, eps = k["beta1"], k["beta2"], k["eps"]
        m, v = ("mean", "var") if name in ("Adam", "AdamW", "AdaBound") else ("m", "v")
        st[m] = b1 * st[m] + (1 - b1) * g
        st[v] = b2 * st[v] + (1 - b2) * g * g
        corr = math.sqrt(1 - b2**t) / (1 - b1**t)
        if name in ("AMSGRAD", "AMSBound"):
            st["v_hat"] = np.maximum(st["v_hat"], st[v])
            second = st["v_hat"]
            corr = corr if k["bias_correction"] else 1.0
        else:
            second = st[v]
        step = lr * corr / (np.sqrt(second) + eps)
        if name in ("AdaBound", "AMSBound"):
            final = k["final_lr"] * lr / lr0
            lower = final * (1 - 1 / (k["gamma"] * t + 1))
            upper = final * (1 + 1 / (k["gamma"] * t)) if name == "AdaBound" else final * (1 + t / k["gamma"])
            step = np.clip(step, lower, upper)
        decay = (lr / lr0) * wd * w if name == "AdamW" else 0.0
        w[...] = w - step * st[m] - decay
    elif name == "Adamax":
        b1, b2 = k["beta1"], k["beta2"]
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["u"] = np.maximum(b2 * st["u"], np.abs(g))
        w -= lr / (1 - b1**t) * st["m"] / (st["u"] + k["eps"])
    elif name == "AdaBelief":
        b1, b2, eps = k["beta1"], k["beta2"], k["eps"]
        st["mean"] = b1 * st["mean"] + (1 - b1) * g
        st["var"] = b2 * st["var"] + (1 - b2) * (g - st["mean"]) ** 2
        if k.get("weight_decouple"):
            w -= w * (wd if k.get("fixed_decay") else wd * lr)
        if k.get("amsgrad"):
            st["s_max"] = np.maximum(st["s_max"], st["var"]) + eps
            s = st["s_max"]
        else:
            st["var"] = st["var"] + eps
            s = st["var"]
        c1, c2 = 1 - b1**t, math.sqrt(1 - b2**t)
        r, sgd = 1.0, False
        if k.get("rectify"):
            rho_inf = 2 / (1 - b2) - 1
            rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
            sgd = rho <= 4
            if not sgd:
                r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        if sgd:
            w -= lr * st["mean"]
        else:
            w -= lr * r / c1 * st["mean"] / (np.sqrt(s) / c2 + eps)
    elif name == "Lamb":
        b1, b2, eps = k["beta1"], k["beta2"], k["eps"]
        st["mean"] = b1 * st["mean"] + (1 - b1) * g
        st["var"] = b2 * st["var"] + (1 - b2) * g * g
        c1, c2 = (1 - b1**t, 1 - b2**t) if k["bias_correction"] else (1.0, 1.0)
        r = (st["mean"] / c1) / (np.sqrt(st["var"] / c2) + eps) + wd * w
        phi = min(max(np.linalg.norm(w), k["gamma_l"]), k["gamma_u"])
        rn = np.linalg.norm(r)
        w -= lr * (phi / rn if rn > eps else 1.0) * r
    elif name == "Lion":
        u = np.sign(k["beta1"] * st["m"] + (1 - k["beta1"]) * g)
        st["m"] = k["beta2"] * st["m"] + (1 - k["beta2"]) * g
        w -= lr * (u + wd * w)
    else:
        raise KeyError(name)


# (solver, kwargs, state names, lr argument, fused, default fused rate)
CASES = [
    ("Sgd", {"lr": 0.1}, (), "lr", False, 0.0),
    ("SgdW", {"lr": 0.05, "momentum": 0.8, "wd": 0.02}, ("m",), "lr", True, 0.02),
    ("Momentum", {"lr": 0.05, "momentum": 0.8}, ("m",), "lr", False, 0.0),
    ("Lars", {"lr": 0.1, "momentum": 0.8, "coefficient": 0.01, "eps": 1e-6}, ("v",), "lr", True, 0.0),
    ("Nesterov", {"lr": 0.05, "momentum": 0.8}, ("m",), "lr", False, 0.0),
    ("Adadelta", {"lr": 1.0, "decay": 0.9, "eps": 1e-6}, ("e_sqr_grad", "e_sqr_delta"), "lr", False, 0.0),
    ("Adagrad", {"lr": 0.05, "eps": 1e-8}, ("v",), "lr", False, 0.0),
    ("AdaBelief", {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, ("mean", "var"), "alpha", False, 0.0),
    (
        "AdaBelief",
        {
            "alpha": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "wd": 1e-3,
            "amsgrad": True,
            "weight_decouple": True,
        },
        ("mean", "var", "s_max"),
        "alpha",
        True,
        1e-3,
    ),
    (
        "AdaBelief",
        {
            "alpha": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "wd": 1e-3,
            "weight_decouple": True,
            "fixed_decay": True,
            "rectify": True,
        },
        ("mean", "var"),
        "alpha",
        True,
        1e-3,
    ),
    (
        "AdaBelief",
        {"alpha": 0.01, "beta1": 0.9, "beta2": 0.5, "eps": 1e-8, "rectify": True},
        ("mean", "var"),
        "alpha",
        False,
        0.0,
    ),
    ("RMSprop", {"lr": 0.01, "decay": 0.8, "eps": 1e-8}, ("v",), "lr", False, 0.0),
    ("RMSpropGraves", {"lr": 0.01, "decay": 0.8, "momentum": 0.7, "eps": 1e-4}, ("n", "g", "d"), "lr", False, 0.0),
    ("Adam", {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, ("mean", "var"), "alpha", False, 0.0),
    ("Adam", {"alpha": 0.01, "beta1": 0.5, "beta2": 0.6, "eps": 1e-3}, ("mean", "var"), "alpha", False, 0.0),
    (
        "AdamW",
        {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.01},
        ("mean", "var"),
        "alpha",
        True,
        0.01,
    ),
    (
        "AdaBound",
        {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "final_lr": 0.05, "gamma": 0.1},
        ("mean", "var"),
        "alpha",
        False,
        0.0,
    ),
    ("Adamax", {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, ("m", "u"), "alpha", False, 0.0),
    (
        "AMSGRAD",
        {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "bias_correction": False},
        ("m", "v", "v_hat"),
        "alpha",
        False,
        0.0,
    ),
    (
        "AMSGRAD",
        {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "bias_correction": True},
        ("m", "v", "v_hat"),
        "alpha",
        False,
        0.0,
    ),
    (
        "AMSBound",
        {
            "alpha": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "final_lr": 0.05,
            "gamma": 0.1,
            "bias_correction": True,
        },
        ("m", "v", "v_hat"),
        "alpha",
        False,
        0.0,
    ),
    (
        "Lamb",
        {
            "eta": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "gamma_l": 0.0,
            "gamma_u": 10.0,
            "eps": 1e-6,
            "bias_correction": False,
        },
        ("mean", "var"),
        "eta",
        True,
        0.0,
    ),
    (
        "Lamb",
        {
            "eta": 0.01,
            "beta1": 0.9,
            "beta2": 0.999,
            "gamma_l": 0.5,
            "gamma_u": 2.0,
            "eps": 1e-6,
            "bias_correction": True,
        },
        ("mean", "var"),
        "eta",
        True,
        0.0,
    ),
    ("Lion", {"lr": 0.01, "beta1": 0.9, "beta2": 0.99}, ("m",), "lr", True, 0.0),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def _make_params(rng):
    params = OrderedDict()
    for name, shape in SHAPES.items():
        v = nn.Variable(shape, need_grad=True)
        v.d = rng.randn(*shape)
        params[name] = v
    return params


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_update_rule_against_reference(case):
    name, kw, state_names, lr_name, fused, default_wd = case
    rng = np.random.RandomState(1)
    params = _make_params(rng)
    solver = getattr(S, name)(**kw)
    solver.set_parameters(params)
    assert solver.name == name
    assert solver.weight_decay_is_fused() == fused

    lr0 = float(np.float32(kw[lr_name]))
    ref_w = {k: v.d.astype(np.float64) for k, v in params.items()}
    ref_st = {k: {s: np.zeros(v.shape) for s in state_names} for k, v in params.items()}
    lr = lr0
    for i in range(STEPS):
        if i == LR_HALVED_AT:
            solver.set_learning_rate(solver.learning_rate() / 2)
            lr = lr / 2
        grads = {k: np.asarray(rng.randn(*v.shape), dtype=np.float32) for k, v in params.items()}
        for k, v in params.items():
            v.g = grads[k]
        solver.weight_decay(WD[i])
        solver.clip_grad_by_norm(CLIP[i])
        solver.update()

        fused_wd = WD[i] if fused else 0.0  # weight_decay(rate) before each update overrides the default
        for k in params:
            g = grads[k].astype(np.float64)
            if not fused:
                g = g + WD[i] * ref_w[k]
            if CLIP[i]:
                norm = np.linalg.norm(g)
                g = g * CLIP[i] / max(CLIP[i], norm)
            ref_step(name, kw, ref_w[k], g, ref_st[k], i + 1, fused_wd, lr, lr0)
        for k, v in params.items():
            np.testing.assert_allclose(v.d, ref_w[k], rtol=2e-5, atol=2e-6, err_msg=f"step {i}, {k}")
            assert v.d.dtype == np.float32

    states = solver.get_states()
    assert list(states) == list(SHAPES)
    for k, st in states.items():
        assert st.t == STEPS
        assert tuple(st.pstate) == state_names
        for sname in state_names:
            assert st.pstate[sname].d.dtype == np.float32
            np.testing.assert_allclose(st.pstate[sname].d, ref_st[k][sname], rtol=2e-5, atol=2e-6, err_msg=sname)


def test_fused_decay_resets_to_default_after_update():
    # SgdW: the default rate is used when weight_decay() is not called before update()
    w = nn.Variable((3,), need_grad=True)
    w.d = [1.0, 2.0, 3.0]
    s = S.SgdW(lr=0.1, momentum=0.0, wd=0.5)
    s.set_parameters({"w": w})
    w.g = 0
    s.weight_decay(0.1)
    s.update()  # w -= (lr / lr0) * 0.1 * w
    np.testing.assert_allclose(w.d, [0.9, 1.8, 2.7], rtol=1e-6)
    w.g = 0
    s.update()  # back to the default 0.5
    np.testing.assert_allclose(w.d, [0.45, 0.9, 1.35], rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# interface


SIGNATURES = {
    "Sgd": "(lr=0.001)",
    "SgdW": "(lr=0.001, momentum=0.9, wd=0.0001)",
    "Momentum": "(lr=0.001, momentum=0.9)",
    "Lars": "(lr=0.001, momentum=0.9, coefficient=0.001, eps=1e-06)",
    "Nesterov": "(lr=0.001, momentum=0.9)",
    "Adadelta": "(lr=1.0, decay=0.95, eps=1e-06)",
    "Adagrad": "(lr=0.01, eps=1e-08)",
    "AdaBelief": "(alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, wd=0.0, amsgrad=False, weight_decouple=False, "
    "fixed_decay=False, rectify=False)",
    "RMSprop": "(lr=0.001, decay=0.9, eps=1e-08)",
    "RMSpropGraves": "(lr=0.0001, decay=0.95, momentum=0.9, eps=0.0001)",
    "Adam": "(alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08)",
    "AdamW": "(alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, wd=0.0001)",
    "AdaBound": "(alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, final_lr=0.1, gamma=0.001)",
    "Adamax": "(alpha=0.002, beta1=0.9, beta2=0.999, eps=1e-08)",
    "AMSGRAD": "(alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, bias_correction=False)",
    "AMSBound": "(alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-08, final_lr=0.1, gamma=0.001, bias_correction=False)",
    "Lamb": "(eta=0.001, beta1=0.9, beta2=0.999, gamma_l=0.0, gamma_u=10.0, eps=1e-06, bias_correction=False)",
    "Lion": "(lr=0.0001, beta1=0.9, beta2=0.99)",
}


@pytest.mark.parametrize("name", list(SIGNATURES))
def test_signature_info_and_learning_rate(name):
    cls = getattr(S, name)
    assert str(inspect.signature(cls)) == SIGNATURES[name]
    s = cls()
    assert isinstance(s, Solver)
    assert s.name == name
    params = list(inspect.signature(cls).parameters.values())
    assert list(s.info) == [p.name for p in params]
    for p in params:
        expected = p.default if isinstance(p.default, bool) else float(np.float32(p.default))
        assert s.info[p.name] == expected  # float32-rounded, as nnabla's C floats
    lr_arg = {"Lamb": "eta"}.get(name, "alpha" if "alpha" in s.info else "lr")
    assert s.learning_rate() == s.info[lr_arg]
    s.set_learning_rate(0.5)
    assert s.learning_rate() == 0.5
    assert s.info[lr_arg] == float(np.float32(params[0].default))  # info keeps the constructor value


def test_solver_module_aliases():
    import nnl.solver

    assert nnl.solver.Adam is S.Adam
    assert S.Solver is Solver and S.SolverState is SolverState
    with pytest.raises(TypeError):
        Solver()
    with pytest.raises(RuntimeError, match="Deprecated"):
        S.Sgd().setup({})


def test_zeroing_gradients_are_skipped():
    xs = [nn.Variable((2, 3), need_grad=True) for _ in range(3)]
    s = S.Sgd(1.0)
    s.set_parameters({str(i): x for i, x in enumerate(xs)})
    for x in xs:
        x.data.fill(1)
        x.grad.zero()
    s.weight_decay(1.0)
    s.clip_grad_by_norm(0.1)
    s.update()
    for x in xs:
        assert x.grad.zeroing
        np.testing.assert_array_equal(x.d, 1)
    assert all(st.t == 0 for st in s.get_states().values())
    xs[0].grad.fill(1)
    s.weight_decay(0.1)
    s.update()
    np.testing.assert_allclose(xs[0].d, 1 - 1.1, rtol=1e-6)
    np.testing.assert_array_equal(xs[1].d, 1)
    assert [st.t for st in s.get_states().values()] == [1, 0, 0]


def test_set_parameters_reset_and_retain_state():
    a, b = nn.Variable((2,), need_grad=True), nn.Variable((3,), need_grad=True)
    s = S.Momentum(lr=1.0, momentum=0.5)
    s.set_parameters({"a": a, "b": b})
    a.g, b.g = 1.0, 1.0
    s.update()
    assert s.get_states()["a"].pstate["m"].d.tolist() == [1.0, 1.0]
    # reset=False keeps other parameters; retain_state keeps momentum for same-shaped replacements
    a2 = nn.Variable((2,), need_grad=True)
    s.set_parameters({"a": a2}, reset=False, retain_state=True)
    assert s.get_parameters()["a"] is a2
    assert s.get_states()["a"].pstate["m"].d.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="retain state"):
        s.set_parameters({"a": nn.Variable((5,))}, reset=False, retain_state=True)
    s.set_parameters({"a": a}, reset=False)  # state re-created
    assert s.get_states()["a"].pstate["m"].d.tolist() == [0.0, 0.0]
    assert list(s.get_parameters()) == ["a", "b"]
    s.set_parameters({"c": nn.Variable((1,))})  # reset=True
    assert list(s.get_parameters()) == ["c"]
    s.set_parameters({"a": a, "b": b}, reset=False)
    s.remove_parameters(["c", "missing"])
    assert list(s.get_parameters()) == ["a", "b"] and list(s.get_states()) == ["a", "b"]
    s.clear_parameters()
    assert not s.get_parameters() and not s.get_states()


def test_get_states_share_buffers_and_set_states_checks():
    w = nn.Variable((2, 2), need_grad=True)
    s = S.Adam()
    s.set_parameters({"w": w})
    st = s.get_states()["w"]
    st.pstate["mean"].d = 3.0
    assert np.all(s.get_states()["w"].pstate["mean"].d == 3.0)

    new = SolverState()
    new.pstate["mean"] = nn.Variable.from_numpy_array(np.ones((2, 2), np.float32))
    new.pstate["var"] = nn.Variable.from_numpy_array(np.full((2, 2), 2, np.float32))
    new.t = 7
    s.set_states({"w": new})
    got = s.get_states()["w"]
    assert got.t == 7 and got.pstate["var"].d[0, 0] == 2
    with pytest.raises(ValueError, match="first"):
        s.set_states({"other": new})
    bad = SolverState()
    bad.pstate["mean"] = new.pstate["mean"]
    with pytest.raises(ValueError, match="var"):
        s.set_states({"w": bad})
    wrong_shape = SolverState()
    wrong_shape.pstate["mean"] = nn.Variable((3,))
    wrong_shape.pstate["var"] = nn.Variable((2, 2))
    with pytest.raises(ValueError, match="shape"):
        s.set_states({"w": wrong_shape})
    assert s.get_states()["w"].t == 7  # unchanged by the failed calls


def test_check_grad_and_scale_grad():
    a, b = nn.Variable((4,), need_grad=True), nn.Variable((), need_grad=True)
    s = S.Sgd()
    s.set_parameters({"a": a, "b": b})
    a.g, b.g = 1.0, 2.0
    assert not s.check_inf_grad() and not s.check_nan_grad() and not s.check_inf_or_nan_grad()
    b.g = np.inf
    assert s.check_inf_grad() and not s.check_nan_grad() and s.check_inf_or_nan_grad()
    b.g = np.nan
    assert not s.check_inf_grad() and s.check_nan_grad() and s.check_inf_or_nan_grad()
    b.g = 2.0
    s.scale_grad(0.5)
    np.testing.assert_array_equal(a.g, 0.5)
    assert float(b.g) == 1.0


def test_clip_grad_by_norm_per_parameter():
    a, b = nn.Variable((2,), need_grad=True), nn.Variable((2,), need_grad=True)
    s = S.Sgd()
    s.set_parameters({"a": a, "b": b})
    a.g, b.g = [3.0, 4.0], [0.3, 0.4]
    s.clip_grad_by_norm(1.0)
    np.testing.assert_allclose(a.g, [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(b.g, [0.3, 0.4], rtol=1e-6)


def test_hooks_order():
    w = nn.Variable((2,), need_grad=True)
    v = nn.Variable((2,), need_grad=True)
    s = S.Sgd(1.0)
    s.set_parameters({"w": w, "v": v})
    w.g, v.g = 1.0, 1.0
    log = []
    set_solver_pre_hook("k", lambda: log.append("global"))
    try:
        s.update(
            update_pre_hook=lambda: log.append(("pre", float(w.d[0]))), update_post_hook=lambda: log.append("post")
        )
    finally:
        unset_solver_pre_hook("k")
    assert log == ["global", ("pre", 0.0), "post", "global", ("pre", -1.0), "post"]


# ---------------------------------------------------------------------------------------------------------------
# state files


def _trained(name, kw, rng):
    params = _make_params(rng)
    s = getattr(S, name)(**kw)
    s.set_parameters(params)
    for _ in range(3):
        for v in params.values():
            v.g = rng.randn(*v.shape)
        s.update()
    return s, params


@pytest.mark.parametrize("ext", [".h5", ".protobuf"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_load_states_round_trip(tmp_path, case, ext):
    name, kw = case[0], case[1]
    s, params = _trained(name, kw, np.random.RandomState(2))
    path = tmp_path / f"states{ext}"
    s.save_states(str(path))
    s2 = getattr(S, name)(**kw)
    s2.set_parameters(params)
    s2.load_states(str(path))
    a, b = s.get_states(), s2.get_states()
    assert list(a) == list(b)
    for k in a:
        assert a[k].t == b[k].t == 3
        assert list(a[k].pstate) == list(b[k].pstate)
        for sname in a[k].pstate:
            np.testing.assert_array_equal(a[k].pstate[sname].d, b[k].pstate[sname].d)
            assert b[k].pstate[sname].d.dtype == np.float32
    assert os.listdir(tmp_path) == [path.name]


def test_state_file_layouts(tmp_path):
    s, _ = _trained("Adam", {}, np.random.RandomState(3))
    s.save_states(str(tmp_path / "s.h5"))
    with h5py.File(tmp_path / "s.h5", "r") as f:
        for i, (pname, st) in enumerate(s.get_states().items()):
            group = f[pname]
            assert int(group.attrs["index"]) == i
            assert int(group["t"][()]) == st.t
            for j, sname in enumerate(st.pstate):
                assert int(group[sname].attrs["index"]) == j
                np.testing.assert_array_equal(group[sname][...], st.pstate[sname].d)
    s.save_states(str(tmp_path / "s.protobuf"))
    opt = nnabla_pb2.Optimizer.FromString((tmp_path / "s.protobuf").read_bytes())
    assert set(opt.solver.states) == set(SHAPES)
    st = opt.solver.states["w1"]
    assert st.t == 3 and set(st.state_parameter) == {"mean", "var"}
    assert tuple(st.state_parameter["mean"].shape.dim) == SHAPES["w1"]
    np.testing.assert_array_equal(
        np.array(st.state_parameter["var"].data, np.float32), s.get_states()["w1"].pstate["var"].d.ravel()
    )
    # the protobuf helpers used for .nnp optimizer members
    opt2 = nnabla_pb2.Optimizer()
    s.set_states_to_protobuf(opt2)
    assert opt2 == opt
    # text form is accepted by load_states
    from google.protobuf import text_format

    (tmp_path / "s.nntxt").write_text(text_format.MessageToString(opt))
    s.load_states(str(tmp_path / "s.nntxt"))


def test_state_file_errors(tmp_path):
    s, _ = _trained("Adam", {}, np.random.RandomState(4))
    before = {k: (st.t, st.pstate["mean"].d.copy()) for k, st in s.get_states().items()}
    s.save_states(str(tmp_path / "good.h5"))
    s.save_states(str(tmp_path / "good.protobuf"))
    for ext in (".h5", ".protobuf"):
        data = (tmp_path / f"good{ext}").read_bytes()
        bad = tmp_path / f"bad{ext}"
        bad.write_bytes(data[: len(data) // 2])
        with pytest.raises(ValueError, match="bad"):
            s.load_states(str(bad))
    for k, st in s.get_states().items():
        assert st.t == before[k][0]
        np.testing.assert_array_equal(st.pstate["mean"].d, before[k][1])
    with pytest.raises(NotImplementedError):
        s.load_states(str(tmp_path / "x.nnp"))
    with pytest.raises(ValueError, match="only"):
        s.save_states(str(tmp_path / "x.txt"))
    fresh = S.Adam()
    with pytest.raises(ValueError, match="first"):
        fresh.load_states(str(tmp_path / "good.h5"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_chunked_kernels_equal_single_pass(case, monkeypatch):
    """Large parameters are updated chunk by chunk; the result must not depend on the chunk size."""
    import nnl.solver as solver_module

    name, kw = case[0], case[1]

    def run():
        rng = np.random.RandomState(5)
        v = nn.Variable((1000, 7), need_grad=True)
        v.d = rng.randn(1000, 7)
        s = getattr(S, name)(**kw)
        s.set_parameters({"v": v})
        for _i in range(3):
            v.g = rng.randn(1000, 7)
            s.weight_decay(1e-2)
            s.update()
        return v.d.copy(), {k: x.d.copy() for k, x in s.get_states()["v"].pstate.items()}

    w_one, st_one = run()
    monkeypatch.setattr(solver_module, "_CHUNK", 999)  # 8 chunks, the last one short
    w_chunked, st_chunked = run()
    np.testing.assert_array_equal(w_chunked, w_one)
    for k in st_one:
        np.testing.assert_array_equal(st_chunked[k], st_one[k])
