"""Variable: a node of the computation graph holding ``data`` and ``grad`` NdArrays and its ``parent``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from nnl.core import graph, operators
from nnl.core.ndarray import NdArray, _as_shape

if TYPE_CHECKING:
    from nnl.core.function import Function


class Variable:
    """A graph variable, as nnabla's ``nn.Variable``.

    >>> import nnl.functions as F
    >>> x = Variable((2, 3), need_grad=True)
    >>> x.d = 1.0
    >>> y = F.sum(x * 2.0)
    >>> y.forward(); float(y.d)
    12.0
    >>> y.backward(); x.g.tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """

    __slots__ = (
        "_data",
        "_grad",
        "_parent",
        "_need_grad",
        "_derived_need_grad",
        "_persistent",
        "name",
        "recompute",
        "info",
        "_order_cache",
        "_plans",
        "__weakref__",
    )

    def __init__(self, shape: Any = (), need_grad: bool = False, info: Any = None) -> None:
        shape = _as_shape(shape)
        self._data = NdArray(shape)
        self._grad = NdArray(shape)
        self._parent: Function | None = None
        self._need_grad: bool | None = bool(need_grad)
        self._derived_need_grad = False
        self._persistent = False
        self.name = ""
        self.recompute = False
        self.info = info
        self._order_cache: Any = None
        self._plans: Any = None

    @classmethod
    def _output_of(cls, function: Function, shape: tuple[int, ...], need_grad: bool) -> Variable:
        """A new output variable of ``function`` (engine use; skips argument normalisation)."""
        v = cls.__new__(cls)
        v._data = NdArray.__new__(NdArray)
        v._data._shape, v._data._dtype, v._data._array, v._data._zeroing, v._data._copy = shape, _FLOAT32, None, False, None
        v._grad = NdArray.__new__(NdArray)
        v._grad._shape, v._grad._dtype, v._grad._array, v._grad._zeroing, v._grad._copy = shape, _FLOAT32, None, False, None
        v._parent = function
        v._need_grad = None
        v._derived_need_grad = need_grad
        v._persistent = False
        v.name = ""
        v.recompute = False
        v.info = None
        v._order_cache = None
        v._plans = None
        return v

    @classmethod
    def from_numpy_array(cls, data: Any, grad: Any = None, need_grad: bool | None = None) -> Variable:
        """A leaf Variable holding a copy of ``data`` (and ``grad`` if given); dtype is kept."""
        array = np.array(data)
        v = cls(array.shape, need_grad=bool(need_grad))
        v._data._adopt(array)
        v._data._dtype = array.dtype
        if grad is not None:
            v._grad._adopt(np.array(grad, dtype=np.float32).reshape(array.shape))
        return v

    # -- buffers -----------------------------------------------------------------------------------------
    @property
    def d(self) -> np.ndarray:
        """The data as a NumPy view (writes go to the buffer)."""
        return self._data.data

    @d.setter
    def d(self, value: Any) -> None:
        self._data.data = value

    @property
    def g(self) -> np.ndarray:
        """The gradient as a NumPy view."""
        return self._grad.data

    @g.setter
    def g(self, value: Any) -> None:
        self._grad.data = value

    @property
    def data(self) -> NdArray:
        return self._data

    @data.setter
    def data(self, value: NdArray) -> None:
        self._data = _checked_ndarray(self, value, "data")
        if self._parent is not None:
            self._parent._replace_output_buffers(self)
        graph.flags_changed()

    @property
    def grad(self) -> NdArray:
        return self._grad

    @grad.setter
    def grad(self, value: NdArray) -> None:
        self._grad = _checked_ndarray(self, value, "grad")
        if self._parent is not None:
            self._parent._replace_output_buffers(self)
        graph.flags_changed()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data._shape

    @property
    def ndim(self) -> int:
        return len(self._data._shape)

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def size_from_axis(self, axis: int = -1) -> int:
        """Product of the dimensions from ``axis`` on (nnabla's size_from_axis; -1 means the whole size)."""
        if axis == -1:
            return self.size
        return int(np.prod(self.shape[axis:], dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d Variable")
        return self.shape[0]

    def __bool__(self) -> bool:
        return True  # a Variable is a graph node, never a truth value (as in nnabla)

    __array_ufunc__ = None  # `numpy_value op variable` defers to the Variable's operators

    # -- graph ------------------------------------------------------------------------------------------
    @property
    def parent(self) -> Function | None:
        return self._parent

    @parent.setter
    def parent(self, function: Function | None) -> None:
        if function is None:
            self._parent = None
        else:
            function._adopt_output(self)
        graph.graph_changed()

    @property
    def need_grad(self) -> bool:
        if self._need_grad is not None:
            return self._need_grad
        return self._derived_need_grad

    @need_grad.setter
    def need_grad(self, value: bool) -> None:
        self._need_grad = bool(value)
        graph.flags_changed()

    @property
    def persistent(self) -> bool:
        """A persistent variable's data is never freed by ``clear_buffer``/``clear_no_need_grad``."""
        return self._persistent

    @persistent.setter
    def persistent(self, value: bool) -> None:
        self._persistent = bool(value)
        graph.flags_changed()

    @property
    def rank(self) -> int:
        return 0 if self._parent is None else self._parent.rank + 1

    def forward(
        self,
        clear_buffer: bool = False,
        clear_no_need_grad: bool = False,
        function_pre_hook: Callable[[Any], Any] | None = None,
        function_post_hook: Callable[[Any], Any] | None = None,
    ) -> None:
        """Run every function this variable depends on, in topological order."""
        graph.forward([self], clear_buffer, clear_no_need_grad, function_pre_hook, function_post_hook)

    def backward(
        self,
        grad: Any = 1,
        clear_buffer: bool = False,
        communicator_callbacks: Any = None,
        function_pre_hook: Callable[[Any], Any] | None = None,
        function_post_hook: Callable[[Any], Any] | None = None,
    ) -> None:
        """Back-propagate from this variable; gradients accumulate into leaves' ``g``.

        ``grad`` is the initial gradient (scalar, array or NdArray); ``None`` uses the current ``g``.
        """
        graph.backward(self, grad, clear_buffer, communicator_callbacks, function_pre_hook, function_post_hook)

    def visit(self, f: Callable[[Any], Any]) -> None:
        """Call ``f(function)`` for every function of the graph, in forward order."""
        for function in graph.topological_order([self]):
            f(function)

    def visit_check(self, f: Callable[[Any], Any]) -> bool:
        """Like ``visit`` but stops (and returns True) as soon as ``f`` returns True."""
        for function in graph.topological_order([self]):
            if f(function):
                return True
        return False

    def get_unlinked_variable(self, need_grad: bool | None = None) -> Variable:
        """A new Variable sharing this one's buffers, with no parent (a cut in the graph)."""
        v = Variable.__new__(Variable)
        v._data, v._grad, v._parent = self._data, self._grad, None
        v._need_grad = self.need_grad if need_grad is None else bool(need_grad)
        v._derived_need_grad = False
        v._persistent, v.name, v.recompute, v.info = self._persistent, self.name, False, None
        v._order_cache = v._plans = None
        return v

    def unlinked(self, need_grad: bool | None = None) -> Variable:
        """Deprecated alias of ``get_unlinked_variable``."""
        return self.get_unlinked_variable(need_grad)

    def rewire_on(self, var: Variable) -> None:
        """Take over ``var``'s parent and buffers, so the graph below ``var`` feeds the graph above ``self``."""
        parent = var._parent
        self._data, self._grad = var._data, var._grad
        self._parent = None
        if parent is not None:
            parent._replace_output(var, self)
            var._parent = None
        self._need_grad = None if parent is not None else var._need_grad
        self._derived_need_grad = var.need_grad
        graph.graph_changed()

    def clear_all_graph_links(self) -> None:
        """Cut every link above this variable (truncated back-propagation in dynamic mode)."""
        for function in graph.topological_order([self]):
            for v in function.outputs:
                v._parent = None
        self._parent = None
        graph.graph_changed()

    def reset_shape(self, shape: Any, force: bool = False) -> None:
        """Change the shape of the buffers; the graph re-runs setup on the next forward."""
        self._data.reshape(shape, force)
        self._grad.reshape(shape, force)

    def reshape(self, shape: Any, unlink: bool = False) -> Variable:
        """A reshaped view: linked through ``F.reshape`` unless ``unlink`` (then a parent-less view)."""
        if not unlink:
            from nnl import functions as F

            return F.reshape(self, shape)
        v = Variable(shape)
        v._data = self._data.view(shape)
        v._grad = self._grad.view(shape)
        return v

    def apply(self, **kwargs: Any) -> Variable:
        """Set attributes and return self: ``v.apply(need_grad=True, persistent=True)``."""
        for key, value in kwargs.items():
            setattr(self, key, value)
        return self

    def bool_fill_(self, mask: Any, value: float) -> Variable:
        """Fill data where ``mask`` is true (in place)."""
        mask_array = mask.d if isinstance(mask, Variable) else np.asarray(mask)
        self.d[np.broadcast_to(mask_array != 0, self.shape)] = value
        return self

    masked_fill_ = bool_fill_

    def no_grad(self) -> Variable:
        """This variable with need_grad=False (a view that stops back-propagation)."""
        return self.get_unlinked_variable(need_grad=False)

    # -- identity, operators -------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variable) and other._data is self._data

    def __hash__(self) -> int:
        return id(self._data)

    def __repr__(self) -> str:
        return f"<Variable({self.shape}, need_grad={self.need_grad}) at {hex(id(self))}>"

    __add__ = operators.add
    __radd__ = operators.radd
    __sub__ = operators.sub
    __rsub__ = operators.rsub
    __mul__ = operators.mul
    __rmul__ = operators.rmul
    __truediv__ = operators.truediv
    __rtruediv__ = operators.rtruediv
    __pow__ = operators.pow_
    __rpow__ = operators.rpow
    __matmul__ = operators.matmul
    __neg__ = operators.neg
    __pos__ = operators.pos
    __abs__ = operators.abs_
    __getitem__ = operators.getitem

    def __setitem__(self, key: Any, value: Any) -> None:
        operators.setitem(self, key, value)


_FLOAT32 = np.dtype(np.float32)
graph.Variable = Variable


def _checked_ndarray(v: Variable, value: NdArray, what: str) -> NdArray:
    if not isinstance(value, NdArray):
        raise TypeError(f"Variable.{what}: expected an NdArray, got {type(value).__name__}.")
    if value.size != v.size:
        raise ValueError(f"Variable.{what}: NdArray of shape {value.shape} does not fit a Variable of shape {v.shape}.")
    if value.shape != v.shape:
        value.reshape(v.shape)
    return value
