"""The engine's semantics: buffers, accumulation, need_grad pruning, buffer clearing, dynamic mode, hooks."""

from __future__ import annotations

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
from nnl.core.errors import FunctionArgumentError


def leaf(shape, need_grad=True, seed=0):
    rng = np.random.RandomState(seed)
    return nn.Variable.from_numpy_array(rng.randn(*shape).astype(np.float32), need_grad=need_grad)


def test_variable_buffers_are_views():
    v = nn.Variable((2, 3))
    assert v.shape == (2, 3) and v.ndim == 2 and v.size == 6 and not v.need_grad
    view = v.d
    view[0, 0] = 5
    assert v.d[0, 0] == 5
    v.d = 2
    assert np.all(view == 2)
    assert v.size_from_axis(1) == 3


def test_from_numpy_array_keeps_dtype_and_copies():
    a = np.arange(4, dtype=np.int32)
    v = nn.Variable.from_numpy_array(a)
    a[0] = 9
    assert v.d.dtype == np.int32 and v.d[0] == 0


def test_leaf_gradients_accumulate_and_intermediates_do_not():
    x = leaf((3,))
    h = F.mul_scalar(x, 2.0)
    y = F.sum(h)
    y.forward()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.g, 4.0)
    np.testing.assert_allclose(h.g, 1.0)  # overwritten on the first write of each pass
    x.grad.zero()
    y.backward()
    np.testing.assert_allclose(x.g, 2.0)


def test_shared_input_gradients_add_up():
    x = leaf((3,))
    y = F.sum(F.mul2(x, x))
    y.forward()
    y.backward()
    np.testing.assert_allclose(x.g, 2 * x.d, rtol=1e-6)


def test_need_grad_false_stops_backpropagation():
    x = leaf((3,))
    w = leaf((3,), need_grad=False, seed=1)
    y = F.sum(F.mul2(x, w))
    y.forward()
    w.g = 0
    y.backward()
    assert np.all(w.g == 0)
    np.testing.assert_allclose(x.g, w.d)


def test_backward_with_explicit_and_none_grad():
    x = leaf((2,))
    y = F.mul_scalar(x, 3.0)
    y.forward()
    y.backward(np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.g, [3.0, 6.0])
    x.grad.zero()
    y.g = [0.5, 0.5]
    y.backward(None)
    np.testing.assert_allclose(x.g, [1.5, 1.5])


def test_clear_buffer_frees_intermediates_but_keeps_output_and_persistent():
    x = leaf((4,))
    a = F.mul_scalar(x, 2.0)
    b = F.add_scalar(a, 1.0)
    b.persistent = True
    c = F.mul_scalar(b, 3.0)
    y = F.sum(c)
    y.forward(clear_buffer=True)
    assert a.data.clear_called and c.data.clear_called
    assert not b.data.clear_called
    np.testing.assert_allclose(y.d, np.sum((x.d * 2 + 1) * 3), rtol=1e-5)
    y.forward()
    y.backward(clear_buffer=True)
    assert not y.data.clear_called
    np.testing.assert_allclose(x.g, 6.0)


def test_clear_no_need_grad_keeps_what_backward_reads():
    x = leaf((5,))
    h = F.relu(F.mul_scalar(x, 1.0))  # relu's backward reads its output only
    y = F.sum(F.mul2(h, h))
    y.forward(clear_no_need_grad=True)
    y.backward()
    expected = 2 * np.maximum(x.d, 0) * (x.d > 0)
    np.testing.assert_allclose(x.g, expected, rtol=1e-5)


def test_flag_changes_between_passes_take_effect():
    """What a pass frees and which functions back-propagate is planned once per graph; changing a variable's
    persistent or need_grad flag, or its buffer, between passes must change the plan."""
    x = leaf((4,))
    w = leaf((4,), need_grad=False, seed=1)
    a = F.mul2(x, w)
    b = F.add_scalar(a, 1.0)
    y = F.sum(F.mul_scalar(b, 3.0))
    y.forward(clear_buffer=True)
    assert b.data.clear_called
    b.persistent = True
    y.forward(clear_buffer=True)
    assert not b.data.clear_called
    b.persistent = False
    y.forward(clear_no_need_grad=True)
    assert b.data.clear_called  # add_scalar and mul_scalar read no data in backward
    y.backward()
    assert np.all(w.g == 0)
    w.need_grad = True
    y.forward(clear_no_need_grad=True)
    y.backward()
    np.testing.assert_allclose(w.g, 3 * x.d, rtol=1e-6)
    replacement = nn.NdArray(b.shape)
    b.data = replacement
    y.forward(clear_buffer=True)
    assert b.data is replacement and replacement.clear_called


def test_auto_forward_runs_at_once_and_backward_works():
    x = leaf((2, 2))
    with nn.auto_forward():
        y = F.sum(F.mul_scalar(x, 2.0))
        assert float(y.d) == pytest.approx(2 * x.d.sum(), rel=1e-5)
    y.backward()
    np.testing.assert_allclose(x.g, 2.0)
    assert not nn.get_auto_forward()


def test_static_graph_rerun_sees_new_data_and_new_shapes():
    x = nn.Variable((2, 3))
    y = F.sum(F.mul_scalar(x, 2.0), axis=1)
    x.d = 1
    y.forward()
    np.testing.assert_allclose(y.d, [6, 6])
    x.reset_shape((4, 5), force=True)
    x.d = 1
    y.forward()
    assert y.shape == (4,)
    np.testing.assert_allclose(y.d, [10] * 4)


def test_forward_all_and_sink():
    x = leaf((3,))
    a = F.mul_scalar(x, 2.0)
    b = F.add_scalar(x, 1.0)
    nn.forward_all([a, b])
    np.testing.assert_allclose(a.d, 2 * x.d)
    np.testing.assert_allclose(b.d, x.d + 1)
    s = F.sink(F.sum(a), F.sum(b))
    s.forward()
    s.backward()
    np.testing.assert_allclose(x.g, 3.0)


def test_unlinked_variable_cuts_the_graph():
    x = leaf((3,))
    h = F.mul_scalar(x, 2.0)
    u = h.get_unlinked_variable(need_grad=True)
    assert u.parent is None and u == h
    y = F.sum(F.mul_scalar(u, 3.0))
    y.forward()
    y.backward()
    np.testing.assert_allclose(u.g, 3.0)
    assert np.all(x.g == 0)


def test_rewire_on_splices_graphs():
    x = leaf((3,))
    a = F.mul_scalar(x, 2.0)
    placeholder = nn.Variable((3,))
    y = F.sum(F.mul_scalar(placeholder, 5.0))
    placeholder.rewire_on(a)
    y.forward()
    np.testing.assert_allclose(y.d, 10 * x.d.sum(), rtol=1e-5)
    y.backward()
    np.testing.assert_allclose(x.g, 10.0)


def test_visit_and_hooks_see_functions_in_forward_order():
    x = leaf((2,))
    y = F.sum(F.relu(F.mul_scalar(x, 2.0)))
    seen = []
    y.visit(lambda f: seen.append(f.name))
    assert seen == ["MulScalar", "ReLU", "Sum"]
    pre, post = [], []
    y.forward(function_pre_hook=lambda f: pre.append(f.name), function_post_hook=lambda f: post.append(f.name))
    assert pre == post == seen
    nn.set_function_pre_hook("record", lambda f: pre.append(f.name))
    try:
        y.forward()
    finally:
        nn.unset_function_pre_hook("record")
    assert pre[3:] == seen


def test_function_object_api():
    x = leaf((2, 3))
    w = leaf((3, 4), seed=1)
    y = F.affine(x, w)
    f = y.parent
    assert f.name == "Affine" and f.info.type_name == "Affine" and f.info.args == {"base_axis": 1}
    assert f.inputs[0] is x and f.outputs[0] is y
    f.forward(f.inputs, [y])
    np.testing.assert_allclose(y.d, x.d @ w.d, rtol=1e-5)
    y.g = 1
    f.backward(f.inputs, [y], accum=[False, False])
    np.testing.assert_allclose(w.g, np.repeat(x.d.sum(0)[:, None], 4, axis=1), rtol=1e-5)


def test_operators_map_to_functions():
    a, b = leaf((2, 3)), leaf((2, 3), seed=1)
    with nn.auto_forward():
        np.testing.assert_allclose((a + b).d, a.d + b.d)
        np.testing.assert_allclose((a * 2).d, a.d * 2)
        np.testing.assert_allclose((2 * a).d, a.d * 2)
        np.testing.assert_allclose((a - 1).d, a.d - 1, rtol=1e-6)
        np.testing.assert_allclose((a / 4).d, a.d / 4)
        np.testing.assert_allclose((-a).d, -a.d)
        assert (a + 1).parent.name == "AddScalar" and (a * b).parent.name == "Mul2"


def test_ndarray_inputs_run_imperatively():
    a = nn.NdArray.from_numpy_array(np.array([1.0, -2.0], np.float32))
    r = F.relu(a)
    assert isinstance(r, nn.NdArray)
    np.testing.assert_allclose(r.data, [1, 0])


def test_ndarray_zeroing_and_clear():
    a = nn.NdArray((2,))
    a.fill(3)
    a.zero()
    assert a.zeroing
    assert np.all(a.data == 0) and not a.zeroing
    a.clear()
    assert a.clear_called


def test_errors_name_function_argument_and_shapes():
    x, w = nn.Variable((4, 3, 4)), nn.Variable((10, 5))
    with pytest.raises(FunctionArgumentError, match=r"Affine.*x.shape=\(4, 3, 4\).*12 input features.*\(10, 5\)"):
        F.affine(x, w)
    with pytest.raises(TypeError, match="Affine: input weight must be an nnl.Variable"):
        F.affine(x, np.zeros((12, 3)))
    with pytest.raises(TypeError, match="Sum: unexpected argument"):
        F.sum.function_class(bogus=1)


def test_not_built_function_names_itself():
    from nnl.functions import registry

    missing = [row for row in __import__("nnl.functions.catalogue", fromlist=["x"]).CATALOGUE if not registry.is_built(row[1])]
    if not missing:
        pytest.skip("every registry function is built")
    category, type_name, api_name, _ = missing[0]
    with pytest.raises(NotImplementedError, match=type_name):
        getattr(F, api_name)()


def test_grad_builds_a_differentiable_graph():
    x = leaf((4,))
    with nn.auto_forward():
        y = F.sum(F.mul2(F.mul2(x, x), x))  # sum x^3
        (g,) = nn.grad([y], [x])
        np.testing.assert_allclose(g.d, 3 * x.d**2, rtol=1e-5)
        (g2,) = nn.grad([F.sum(g)], [x])
        np.testing.assert_allclose(g2.d, 6 * x.d, rtol=1e-5)


def test_context_scope_and_default():
    ctx = nn.Context(["cpu:half", "cpu:float"])
    default = nn.get_current_context()
    assert nn.Context().backend == ["cpu:float"]
    with nn.context_scope(ctx):
        assert nn.get_current_context() is ctx
        with pytest.raises(RuntimeError):
            nn.set_default_context(ctx)
    assert nn.get_current_context() is default
    from nnl.ext_utils import get_extension_context

    half = get_extension_context("cpu", device_id="0", type_config="half")
    assert half.backend == ["cpu:half", "cpu:float"]
    with pytest.raises(ValueError, match="extension 'nope'"):
        get_extension_context("nope")


def test_seed_reproduces_parameter_initialisation():
    from nnl import initializer as I

    nn.seed(7)
    a = I.NormalInitializer()((3,))
    nn.seed(7)
    b = I.NormalInitializer()((3,))
    np.testing.assert_array_equal(a, b)


def test_parameter_scopes_and_no_grad():
    from nnl.parameter import get_parameter_or_create

    nn.clear_parameters()
    with nn.parameter_scope("net"):
        with nn.parameter_scope("conv1"):
            w = get_parameter_or_create("W", (2, 3))
        b = get_parameter_or_create("bn/mean", (3,), need_grad=False)
        assert get_parameter_or_create("conv1/W") is w
        with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(3, 3\)"):
            get_parameter_or_create("conv1/W", (3, 3))
    assert list(nn.get_parameters()) == ["net/conv1/W"]
    assert list(nn.get_parameters(grad_only=False)) == ["net/conv1/W", "net/bn/mean"]
    with nn.no_grad(), nn.parameter_scope("net"):
        assert not get_parameter_or_create("conv1/W").need_grad
    assert b.need_grad is False
    nn.clear_parameters()
    assert not nn.get_parameters(grad_only=False)
