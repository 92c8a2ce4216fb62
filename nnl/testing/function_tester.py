"""The generic function tester: one ``Case`` per function setting, checked the same way for every function.

A case gives the function's type name, how to draw its inputs, its arguments and an *independent* NumPy
reference (a naive formulation, not a second call of ``forward_impl``). ``check_case`` verifies
- forward, static and dynamic, against the reference, and that outputs have the shapes setup announced;
- backward against float64 central differences (every element for small inputs, random directions otherwise);
- that ``nn.grad`` (``grad_graph`` rules) agrees with backward;
- accumulation into leaf gradients and that inputs without need_grad are left untouched;
- that ``forward(clear_no_need_grad=True)`` + ``backward(clear_buffer=True)`` give the same gradients
  (so the ``grad_depends_*`` flags are right);
- that each error input raises an error naming the function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nnl
from nnl.functions import registry

InputMaker = Callable[[np.random.RandomState], Sequence[Any]]


@dataclass
class Case:
    """One setting of one function.

    ``inputs``: a list of arrays/shapes (a shape draws standard normal float32 data), or a function of an rng
    giving arrays (``None`` for an omitted optional input).
    ``call``: how to call the API when ``F.<api>(*variables, **args)`` is not enough: ``call(F, *variables)``.
    ``reference``: ``reference(*input_arrays, **args)`` returns the expected output(s) (float64 is fine).
    ``grad_inputs``: indices of the inputs whose gradient is checked (default: every float input).
    ``backward``: False for functions without gradients (comparisons, random draws, indices).
    ``errors``: (inputs, args, substring) triples, each of which must raise an error naming the function.
    """

    function: str
    inputs: Sequence[Any] | InputMaker
    reference: Callable[..., Any] | None
    args: dict[str, Any] = field(default_factory=dict)
    call: Callable[..., Any] | None = None
    grad_inputs: Sequence[int] | None = None
    backward: bool = True
    atol_f: float = 1e-5
    rtol_f: float = 1e-4
    atol_b: float = 2e-3
    rtol_b: float = 2e-3
    dstep: float = 1e-3
    check_grad_graph: bool = True
    errors: Sequence[tuple[Any, dict[str, Any], str]] = ()
    name: str = ""
    seed: int = 313

    @property
    def id(self) -> str:
        return f"{self.function}-{self.name}" if self.name else self.function


def draw_inputs(case: Case, rng: np.random.RandomState | None = None) -> list[Any]:
    rng = rng or np.random.RandomState(case.seed)
    raw = case.inputs(rng) if callable(case.inputs) else case.inputs
    arrays: list[Any] = []
    for item in raw:
        if item is None:
            arrays.append(None)
        elif isinstance(item, tuple) and all(isinstance(s, (int, np.integer)) for s in item):
            arrays.append(rng.randn(*item).astype(np.float32))
        else:
            arrays.append(np.asarray(item))
    return arrays


def call_function(case: Case, variables: Sequence[Any]) -> list[Any]:
    """Call the function's public API on ``variables`` and return its outputs as a list."""
    import nnl.functions as F

    if case.call is not None:
        result = case.call(F, *variables)
    else:
        api = getattr(F, registry.api_name(case.function))
        result = api(*variables, **case.args)
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _grad_indices(case: Case, arrays: Sequence[Any]) -> list[int]:
    if not case.backward:
        return []
    if case.grad_inputs is not None:
        return list(case.grad_inputs)
    return [i for i, a in enumerate(arrays) if a is not None and a.dtype.kind == "f"]


def _variables(arrays: Sequence[Any], grad_indices: Sequence[int]) -> list[Any]:
    out = []
    for i, a in enumerate(arrays):
        if a is None:
            out.append(None)
            continue
        data = a.astype(np.float32) if a.dtype.kind == "f" else a
        out.append(nnl.Variable.from_numpy_array(data, need_grad=i in grad_indices))
    return out


def _reference_outputs(case: Case, arrays: Sequence[Any]) -> list[np.ndarray]:
    assert case.reference is not None
    ref = case.reference(*[None if a is None else a.copy() for a in arrays], **case.args)
    return [np.asarray(r) for r in (ref if isinstance(ref, (list, tuple)) else [ref])]


def check_forward(case: Case) -> None:
    arrays = draw_inputs(case)
    variables = _variables(arrays, [])
    outputs = call_function(case, variables)
    nnl.functions.sink(*outputs).forward() if len(outputs) > 1 else outputs[0].forward()
    for i, o in enumerate(outputs):
        assert o.d.shape == tuple(o.shape), f"{case.id}: output {i} has data shape {o.d.shape} but shape {o.shape}"
    with nnl.auto_forward():
        dynamic = call_function(case, _variables(arrays, []))
    if case.reference is None:
        return
    expected = _reference_outputs(case, arrays)
    assert len(expected) <= len(outputs), f"{case.id}: reference gives {len(expected)} outputs, function {len(outputs)}"
    for i, (o, d, e) in enumerate(zip(outputs, dynamic, expected)):
        np.testing.assert_allclose(o.d, e, atol=case.atol_f, rtol=case.rtol_f, err_msg=f"{case.id}: output {i} (static)")
        np.testing.assert_allclose(d.d, e, atol=case.atol_f, rtol=case.rtol_f, err_msg=f"{case.id}: output {i} (dynamic)")


def _float64_objective(function: Any, arrays: list[Any], grad_indices: list[int], weights: list[np.ndarray]) -> Callable[[list[np.ndarray]], float]:
    """sum_i <y_i(x), w_i> computed in float64 by the function's own kernel, as a function of the checked inputs."""

    def objective(values: list[np.ndarray]) -> float:
        xs = [None if a is None else (a.astype(np.float64) if a.dtype.kind == "f" else a.copy()) for a in arrays]
        for i, v in zip(grad_indices, values):
            xs[i] = v
        ys = function.forward_impl(np, [x for x in xs if x is not None])
        return float(sum(np.sum(np.asarray(y, np.float64) * w) for y, w in zip(ys, weights)))

    return objective


def numerical_gradients(objective: Callable[[list[np.ndarray]], float], values: list[np.ndarray], dstep: float) -> list[np.ndarray]:
    """Central differences of ``objective`` in float64, element by element."""
    grads = []
    for v in values:
        g = np.zeros(v.shape, np.float64)
        for index in np.ndindex(*v.shape):
            saved = v[index]
            v[index] = saved + dstep
            plus = objective(values)
            v[index] = saved - dstep
            minus = objective(values)
            v[index] = saved
            g[index] = (plus - minus) / (2 * dstep)
        grads.append(g)
    return grads


def check_backward(case: Case) -> None:
    arrays = draw_inputs(case)
    grad_indices = _grad_indices(case, arrays)
    if not grad_indices:
        return
    rng = np.random.RandomState(case.seed + 1)
    variables = _variables(arrays, grad_indices)
    outputs = call_function(case, variables)
    nnl.forward_all(outputs)
    weights = [np.asarray(rng.randn(*o.shape)) for o in outputs]
    initial = {i: np.asarray(rng.randn(*arrays[i].shape), np.float32) for i in grad_indices}
    for i in grad_indices:
        variables[i].g = initial[i]
    _backward_with_weights(outputs, weights)
    analytic = [variables[i].g - initial[i] for i in grad_indices]

    function = outputs[0].parent
    values = [arrays[i].astype(np.float64) for i in grad_indices]
    objective = _float64_objective(function, list(arrays), grad_indices, weights)
    numeric = numerical_gradients(objective, values, case.dstep)
    for i, a, n in zip(grad_indices, analytic, numeric):
        np.testing.assert_allclose(a, n, atol=case.atol_b, rtol=case.rtol_b, err_msg=f"{case.id}: gradient of input {i}")

    # inputs without need_grad keep their gradient untouched
    for skipped in grad_indices:
        variables = _variables(arrays, [i for i in grad_indices if i != skipped])
        variables[skipped].g = 7.0
        outputs = call_function(case, variables)
        nnl.forward_all(outputs)
        _backward_with_weights(outputs, weights)
        assert np.all(variables[skipped].g == 7.0), f"{case.id}: input {skipped} has need_grad=False but its grad changed"

    _check_clear_buffers(case, arrays, grad_indices, weights, analytic)
    if case.check_grad_graph:
        _check_grad_graph(case, arrays, grad_indices, weights, analytic)


def _backward_with_weights(outputs: list[Any], weights: list[np.ndarray]) -> None:
    import nnl.functions as F

    if len(outputs) == 1:
        outputs[0].backward(weights[0])
        return
    total = F.sink(*[F.sum(o * nnl.Variable.from_numpy_array(w.astype(np.float32))) for o, w in zip(outputs, weights)])
    total.forward()
    total.backward()


def _check_clear_buffers(case: Case, arrays: list[Any], grad_indices: list[int], weights: list[np.ndarray], expected: list[np.ndarray]) -> None:
    """Inputs as intermediates (behind identity) so that clear_no_need_grad may free them."""
    import nnl.functions as F

    leaves = _variables(arrays, grad_indices)
    inner = [None if v is None else (F.identity(v) if i in grad_indices or v.dtype.kind == "f" else v) for i, v in enumerate(leaves)]
    outputs = call_function(case, inner)
    terms = [F.sum(F.identity(o) * nnl.Variable.from_numpy_array(w.astype(np.float32))) for o, w in zip(outputs, weights)]
    total = terms[0] if len(terms) == 1 else F.sink(*terms)
    total.forward(clear_no_need_grad=True)
    total.backward(clear_buffer=True)
    for i, e in zip(grad_indices, expected):
        np.testing.assert_allclose(leaves[i].g, e, atol=1e-5, rtol=1e-4, err_msg=f"{case.id}: input {i} after clear_no_need_grad/clear_buffer")


def _check_grad_graph(case: Case, arrays: list[Any], grad_indices: list[int], weights: list[np.ndarray], expected: list[np.ndarray]) -> None:
    variables = _variables(arrays, grad_indices)
    with nnl.auto_forward():
        outputs = call_function(case, variables)
        grad_outputs = [nnl.Variable.from_numpy_array(w.astype(np.float32)) for w in weights]
        grads = nnl.grad(outputs, [variables[i] for i in grad_indices], grad_outputs=grad_outputs)
    for i, g, e in zip(grad_indices, grads, expected):
        assert g is not None, f"{case.id}: nn.grad gave no gradient for input {i}"
        np.testing.assert_allclose(g.d, e, atol=1e-4, rtol=1e-3, err_msg=f"{case.id}: nn.grad of input {i}")


def check_errors(case: Case) -> None:
    type_name = case.function
    for inputs, args, fragment in case.errors:
        error_case = Case(case.function, inputs, None, args=args, call=case.call)
        variables = _variables(draw_inputs(error_case), [])
        try:
            call_function(error_case, variables)
        except (ValueError, TypeError, IndexError) as error:
            message = str(error)
            assert type_name in message, f"{case.id}: error does not name {type_name}: {message}"
            assert fragment in message, f"{case.id}: error lacks {fragment!r}: {message}"
        else:
            raise AssertionError(f"{case.id}: inputs {inputs} with {args} did not raise")
