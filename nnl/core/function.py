"""The Function contract: one small class per catalogue function; an instance is one node of a graph.

A function class declares
- ``input_names`` / ``output_names`` (``'bias?'`` optional, ``'*x'`` variadic),
- its arguments as annotated class attributes with nnabla's names, types and defaults
  (``base_axis: Int64 = 1``; ``None`` stands for a default computed in ``setup_impl`` from the inputs),
- ``setup_impl(inputs)``: validation and shape inference, returns the output shapes,
- ``forward_impl(xp, x)``: arrays in, arrays out (``xp`` is the array namespace),
- ``backward_impl(xp, x, y, dy, need)``: the gradient of each input whose ``need`` flag is set, as arrays
  (``None`` elsewhere); the engine owns accumulation, pruning and freeing,
- optionally ``grad_graph(x, y, dy, need)``: the same gradient written with ``F`` on Variables, which
  ``nn.grad`` uses so that the gradient can itself be differentiated,
- ``grad_depends_input`` / ``grad_depends_output``: which buffers ``backward_impl`` reads, so the graph can free
  the others (``clear_no_need_grad``).

Kernels must return new arrays (never an input itself) unless sharing memory is the function's meaning.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np

from nnl.core import dispatch
from nnl.core.context import Context, get_current_context
from nnl.core.errors import FunctionArgumentError

# Argument types: the vocabulary of nnabla's functions.yaml (the names are the NNP schema's types).
Int64 = Annotated[int, "int64"]
Float = Annotated[float, "float"]
Double = Annotated[float, "double"]
Bool = Annotated[bool, "bool"]
String = Annotated[str, "string"]
Shape = Annotated[tuple, "Shape"]
ShapeArg = Shape
Ints = Annotated[tuple, "repeated int64"]
Floats = Annotated[tuple, "repeated float"]
CommunicatorArg = Annotated[object, "Communicator"]

_ARGUMENT_TYPES = {
    "Int64": "int64",
    "Float": "float",
    "Double": "double",
    "Bool": "bool",
    "String": "string",
    "Shape": "Shape",
    "ShapeArg": "Shape",  # for modules that define a function named Shape
    "Ints": "repeated int64",
    "Floats": "repeated float",
    "CommunicatorArg": "Communicator",
}

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


@dataclass(frozen=True)
class ArgumentSpec:
    """One argument of a function: its schema type (``'int64'``, ``'Shape'``, ...) and default."""

    name: str
    type: str
    default: Any


class FunctionInfo:
    """What ``function.info`` gives in nnabla: ``type_name``, ``args`` and ``tags``."""

    __slots__ = ("type_name", "args", "tags")

    def __init__(self, type_name: str, args: dict[str, Any]) -> None:
        self.type_name = type_name
        self.args = args
        self.tags: dict[str, Any] = {}


class Function:
    """Base class of every function of the catalogue (see the module docstring for the contract)."""

    name: ClassVar[str] = "Function"
    category: ClassVar[str] = ""
    input_names: ClassVar[tuple[str, ...]] = ("x",)
    output_names: ClassVar[tuple[str, ...]] = ("y",)
    grad_depends_input: ClassVar[bool | tuple[int, ...]] = True
    grad_depends_output: ClassVar[bool] = False
    data_dependent_shape: ClassVar[bool] = False  # output shapes follow input *values* (NonZero, Unique...)
    args_spec: ClassVar[dict[str, ArgumentSpec]] = {}
    _argument_names: ClassVar[tuple[str, ...]] = ()
    _argument_defaults: ClassVar[dict[str, Any]] = {}
    _required_arguments: ClassVar[tuple[str, ...]] = ()
    _float_arguments: ClassVar[tuple[str, ...]] = ()

    # per-instance engine state (class defaults until set)
    context: Context | None = None
    implementation = ""  # the backend whose kernels were bound, e.g. "cpu:float"
    xp: Any = np
    _forward: Any = None
    _backward: Any = None
    _fetch: Any = None  # reads an input NdArray as the bound kernel's array type (None: host NumPy)
    _saved: Any = None  # what a device kernel keeps from forward for backward (dropped by clear_buffer)
    _need_backward = True
    _in_shapes: list[tuple[int, ...]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        spec: dict[str, ArgumentSpec] = {}
        for klass in reversed(cls.__mro__[: cls.__mro__.index(Function)]):
            for arg_name, annotation in klass.__dict__.get("__annotations__", {}).items():
                type_name = _argument_type(cls, arg_name, annotation)
                if type_name is None:
                    continue
                default = klass.__dict__.get(arg_name, REQUIRED)
                spec[arg_name] = ArgumentSpec(arg_name, type_name, default)
        cls.args_spec = spec
        cls._argument_names = tuple(spec)
        cls._argument_defaults = {a.name: a.default for a in spec.values() if a.default is not REQUIRED}
        cls._required_arguments = tuple(a.name for a in spec.values() if a.default is REQUIRED)
        cls._float_arguments = tuple(a.name for a in spec.values() if a.type == "float")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and type(args[0]) is Context:  # nnabla's F.Affine(ctx, base_axis) form
            self.context = args[0]
            args = args[1:]
        names = self._argument_names
        state = self.__dict__
        state.update(self._argument_defaults)
        if args:
            if len(args) > len(names):
                raise TypeError(f"{self.name}: takes {len(names)} arguments ({', '.join(names)}), got {len(args)}.")
            state.update(zip(names, args))
        if kwargs:
            for key in kwargs:
                if key not in self.args_spec:
                    raise TypeError(f"{self.name}: unexpected argument {key!r}; its arguments are ({', '.join(names)}).")
            state.update(kwargs)
        for name in self._float_arguments:  # nnabla stores `float` arguments in single precision (as NNP files do)
            value = state.get(name)
            if value is not None and type(value) is not bool:
                state[name] = float(np.float32(value))
        if self._required_arguments:
            for required in self._required_arguments:
                if required not in state:
                    raise TypeError(f"{self.name}: missing required argument {required!r}.")
        self.inputs: list[Any] = []
        self._outputs: list[weakref.ref] = []
        self._out_data: list[Any] = []
        self._out_grad: list[Any] = []

    # -- the author's contract ----------------------------------------------------------------------------
    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        raise NotImplementedError(f"{self.name}.setup_impl")

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        raise NotImplementedError(f"{self.name}.forward_impl")

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        raise NotImplementedError(f"{self.name}: back-propagation is not defined for this function.")

    # -- helpers for authors ---------------------------------------------------------------------------------
    def fail(self, argument: str, expected: str, received: Any, hint: str = "") -> FunctionArgumentError:
        """An error naming this function and ``argument`` (``raise self.fail(...)``)."""
        return FunctionArgumentError(self.name, argument, expected, received, hint)

    def rng(self) -> np.random.RandomState:
        """This function's random generator: seeded by its ``seed`` argument, else the global one (``nn.seed``)."""
        generator = self.__dict__.get("_rng")
        if generator is None:
            from nnl.core import random

            seed = getattr(self, "seed", -1)
            generator = random.function_rng() if seed is None or seed < 0 else np.random.RandomState(seed)
            self._rng = generator
        return generator

    # -- nnabla's Function API ---------------------------------------------------------------------------------
    def __call__(self, *inputs: Any, n_outputs: int = -1, outputs: Any = None, auto_forward: bool | None = None) -> Any:
        from nnl.core import graph

        return graph.apply(self, inputs, n_outputs, outputs, auto_forward)

    @property
    def args(self) -> dict[str, Any]:
        """Argument values by name (repeated arguments as lists, as nnabla gives them)."""
        return {name: list(v) if isinstance(v := getattr(self, name), tuple) else v for name in self.args_spec}

    arguments = args

    @property
    def info(self) -> FunctionInfo:
        return FunctionInfo(self.name, self.args)

    @property
    def outputs(self) -> list[Any]:
        from nnl.core.variable import Variable

        result = []
        for i, ref in enumerate(self._outputs):
            v = ref()
            if v is None:  # the user dropped this output; give a fresh handle on the same buffers
                v = Variable._output_of(self, self._out_data[i]._shape, False)
                v._data, v._grad = self._out_data[i], self._out_grad[i]
                self._outputs[i] = weakref.ref(v)
            result.append(v)
        return result

    @property
    def need_grad(self) -> bool:
        return any(v.need_grad for v in self.inputs)

    @property
    def rank(self) -> int:
        return max((v.rank for v in self.inputs), default=-1) + 1

    def min_inputs(self) -> int:
        return sum(1 for n in self.input_names if not n.endswith("?") and not n.startswith("*"))

    def min_outputs(self) -> int:
        return sum(1 for n in self.output_names if not n.startswith("*"))

    def grad_depends_output_data(self, i: int, o: int) -> bool:
        return bool(self.grad_depends_output)

    def grad_depends_input_data(self, i: int, j: int) -> bool:
        depends = self.grad_depends_input
        return j in depends if isinstance(depends, tuple) else bool(depends)

    def inplace_data(self, i: int) -> int:
        return 0

    def inplace_data_with(self, i: int) -> int:
        return 0

    def prohibit_clear_input_buffers(self) -> bool:
        """True for functions whose inputs must survive clear_buffer (Sink: they are what the user asked for)."""
        return False

    def need_setup_recompute(self, o: int) -> bool:
        return False

    def setup_recompute(self, inputs: list[Any], outputs: list[Any]) -> None:
        """Random functions remember their state so that ``recompute`` replays it (nothing to do here)."""

    def recompute(self, inputs: list[Any], outputs: list[Any]) -> None:
        self.forward(inputs, outputs)

    def set_active_input_mask(self, mask: list[bool]) -> None:
        self._active_input_mask = list(mask)

    def setup(self, inputs: list[Any], outputs: list[Any]) -> None:
        """Validate ``inputs`` and reshape ``outputs`` (nnabla's explicit-list API)."""
        self._bind_kernels()
        shapes = self.setup_impl(list(inputs))
        for v, shape in zip(outputs, shapes):
            v.reset_shape(shape, force=True)
        self._in_shapes = [v.shape for v in inputs]

    def forward(self, inputs: list[Any], outputs: list[Any]) -> None:
        """Compute ``outputs``' data from ``inputs``' data."""
        if self._forward is None or [v.shape for v in inputs] != self._in_shapes:
            self.setup(inputs, outputs)
        fetch = self._fetch
        results = self._forward(self.xp, [v._data.data if fetch is None else fetch(v._data) for v in inputs])
        for v, array in zip(outputs, results):
            v._data._adopt(np.asarray(array) if fetch is None else array)

    def backward(self, inputs: list[Any], outputs: list[Any], accum: list[bool] | None = None) -> None:
        """Write (or, where ``accum[i]``, add) the gradient of each input with ``need_grad``."""
        need = [v.need_grad for v in inputs]
        if not any(need):
            return
        if self._backward is None:
            self.setup(inputs, outputs)
        fetch = self._fetch
        if fetch is None:
            grads = self._backward(
                self.xp, [v._data.data for v in inputs], [v._data.data for v in outputs], [v._grad.data for v in outputs], need
            )
        else:  # device kernels: NdArrays of x and y, dy as arrays (see nnl.core.dispatch.Kernel)
            grads = self._backward(self.xp, [v._data for v in inputs], [v._data for v in outputs], [fetch(v._grad) for v in outputs], need)
        for i, (v, g) in enumerate(zip(inputs, grads)):
            if need[i] and g is not None:
                store_grad(v._grad, g, accum is None or accum[i], master=v._parent is None)

    def _bind_kernels(self) -> None:
        if self.context is None:  # a function keeps the context current at its creation (as in nnabla)
            self.context = get_current_context()
        dispatch.bind(self, self.context)

    # -- engine support -----------------------------------------------------------------------------------------
    def _adopt_output(self, v: Any) -> None:
        v._parent = self
        self._outputs.append(weakref.ref(v))
        self._out_data.append(v._data)
        self._out_grad.append(v._grad)

    def _replace_output(self, old: Any, new: Any) -> None:
        for i, ref in enumerate(self._outputs):
            if ref() is old:
                self._outputs[i] = weakref.ref(new)
                self._out_data[i], self._out_grad[i] = new._data, new._grad
                new._parent = self

    def _replace_output_buffers(self, v: Any) -> None:
        data, grad = v._data, v._grad
        for i, ref in enumerate(self._outputs):
            if ref() is v:
                self._out_data[i], self._out_grad[i] = data, grad

    def __repr__(self) -> str:
        return f"<Function {self.name}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})>"


@functools.cache
def _store_device_grad() -> Callable[[Any, Any, bool, bool], None]:
    from nnl.backends.torch.grads import store_tensor_grad  # imported on first use: torch is optional

    return store_tensor_grad


def store_grad(nd: Any, grad: Any, accumulate: bool, master: bool = True) -> None:
    """Write ``grad`` into the NdArray ``nd``, adding to its content when ``accumulate`` (and not pending zero).

    Device arrays stay on their device; ``master`` (leaf variables: parameters) keeps them in float32 whatever the
    compute precision, as the solvers update float32 master weights.
    """
    if not isinstance(grad, (np.ndarray, np.generic, float, int)):  # a device array (torch tensor)
        _store_device_grad()(nd, grad, accumulate, master)
        return
    if accumulate and nd._array is not None and not nd._zeroing:
        array = nd._array if type(nd._array) is np.ndarray else nd.data
        if array.shape != nd._shape:
            nd._array = np.asarray(grad, dtype=np.float32).reshape(nd._shape).copy()
        else:
            array += grad
        return
    grad = np.asarray(grad)
    if grad.base is None and grad.flags.writeable and grad.shape == nd._shape and grad.dtype == np.float32:
        nd._adopt(grad)
    else:
        nd._adopt(np.array(np.broadcast_to(grad, nd._shape), dtype=np.float32))


def _argument_type(cls: type, arg_name: str, annotation: Any) -> str | None:
    """The schema type of an annotated class attribute, or None when it is not an argument."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__metadata__", [None])[0]
    if text is None or "ClassVar" in str(text):
        return None
    text = str(text).replace("| None", "").replace("None |", "").strip()
    if text in _ARGUMENT_TYPES:
        return _ARGUMENT_TYPES[text]
    if text in _ARGUMENT_TYPES.values():
        return text
    raise TypeError(f"{cls.__name__}.{arg_name}: unknown argument type {annotation!r}; use one of {list(_ARGUMENT_TYPES)}.")
