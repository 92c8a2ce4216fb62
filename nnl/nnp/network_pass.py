"""``NnpNetworkPass``: nnabla's graph surgery while an NNP network is built (``NnpLoader.get_network(callback=)``).

The pass edits the network message before it is built: callbacks see light handles of the functions and variables
(``f.name``, ``f.proto``, ``f.inputs``/``f.outputs`` with ``.name`` and ``.proto``, ``f.disable()``,
``v.rewire_on(other)``) exactly as nnabla's callbacks do, so transfer-learning scripts keep working:

>>> p = NnpNetworkPass()
>>> p.remove_and_rewire("@net/Softmax")          # drop a layer, feed its input to its consumers
>>> p.set_batch_normalization_batch_stat_all(False)
>>> p.fix_parameters()                            # the built network does not train the loaded parameters
>>> p.use_up_to("features")                       # the network ends at this variable
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["NnpNetworkPass", "PreparedNetwork"]


class _VariableHandle:
    def __init__(self, proto: Any, graph: _Graph) -> None:
        self.proto, self._graph = proto, graph
        self.variable: Any = None  # set by set_variable: the Variable to use instead
        self.need_grad = proto.type == "Parameter"
        self.stop = False

    @property
    def name(self) -> str:
        return str(self.proto.name)

    def rewire_on(self, other: _VariableHandle) -> None:
        """Every function reading this variable reads ``other`` instead."""
        self._graph.rewire(self.name, other.name)


class _FunctionHandle:
    def __init__(self, proto: Any, graph: _Graph) -> None:
        self.proto, self._graph = proto, graph
        self.disabled = False

    @property
    def name(self) -> str:
        return str(self.proto.name)

    @property
    def inputs(self) -> list[_VariableHandle]:
        return [self._graph.variable(n) for n in self.proto.input]

    @property
    def outputs(self) -> list[_VariableHandle]:
        return [self._graph.variable(n) for n in self.proto.output]

    def disable(self) -> None:
        """Remove the function; its outputs become free inputs of the network."""
        self.disabled = True


class _Graph:
    def __init__(self, network: Any, batch_size: int) -> None:
        self.network = network
        self.handles = {v.name: _VariableHandle(v, self) for v in network.variable}
        for handle in self.handles.values():  # callbacks see the shapes the network is built with
            dims = handle.proto.shape.dim
            for i, d in enumerate(dims):
                if d < 0:
                    dims[i] = batch_size

    def variable(self, name: str) -> _VariableHandle:
        return self.handles[name]

    def rewire(self, old: str, new: str) -> None:
        for f in self.network.function:
            for i, name in enumerate(f.input):
                if name == old:
                    f.input[i] = new


class PreparedNetwork:
    """What a pass gives the builder: the edited network, Variables to use by name, outputs, parameter policy."""

    def __init__(self, network: Any, replacements: dict[str, Any], outputs: list[str] | None, fix: bool) -> None:
        self.network, self.replacements, self.outputs, self.fix_parameters = network, replacements, outputs, fix


Callback = Callable[..., Any]


class NnpNetworkPass:
    """Collects edits (see the module docstring); ``NnpLoader.get_network(name, callback=pass)`` applies them."""

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self._variable_callbacks: dict[str, Callback] = {}
        self._generate_by_name: dict[str, Callback] = {}
        self._generate_by_type: dict[str, Callback] = {}
        self._passes_by_name: dict[str, Callback] = {}
        self._passes_by_type: dict[str, Callback] = {}
        self._fix_parameters = False
        self._use_up_to: list[str] = []

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message)

    # -- registration (decorators, as in nnabla) ---------------------------------------------------------------
    def on_function_pass_by_name(self, name: str) -> Callable[[Callback], Callback]:
        return lambda callback: self._passes_by_name.__setitem__(name, callback) or callback

    def on_function_pass_by_type(self, name: str) -> Callable[[Callback], Callback]:
        return lambda callback: self._passes_by_type.__setitem__(name, callback) or callback

    def on_generate_variable(self, name: str) -> Callable[[Callback], Callback]:
        return lambda callback: self._variable_callbacks.__setitem__(name, callback) or callback

    def on_generate_function_by_name(self, name: str) -> Callable[[Callback], Callback]:
        return lambda callback: self._generate_by_name.__setitem__(name, callback) or callback

    def on_generate_function_by_type(self, name: str) -> Callable[[Callback], Callback]:
        return lambda callback: self._generate_by_type.__setitem__(name, callback) or callback

    # -- ready-made edits ----------------------------------------------------------------------------------------
    def drop_function(self, *names: str) -> None:
        for name in names:
            self.on_function_pass_by_name(name)(lambda f, variables, scope: f.disable())

    def fix_parameters(self) -> None:
        self._fix_parameters = True

    def use_up_to(self, *names: str) -> None:
        self._use_up_to.extend(n for n in names if n not in self._use_up_to)

    def remove_and_rewire(self, name: str, i: int = 0, o: int = 0) -> None:
        def rewire(f: _FunctionHandle, variables: Any, scope: Any) -> None:
            self._say(f"Removing {f.name}: its output {f.outputs[o].name} is replaced by {f.inputs[i].name}.")
            f.outputs[o].rewire_on(f.inputs[i])
            f.disable()

        self.on_function_pass_by_name(name)(rewire)

    def set_variable(self, name: str, input_var: Any) -> None:
        def replace(v: _VariableHandle) -> _VariableHandle:
            v.proto.shape.dim[:] = input_var.shape
            v.variable = input_var
            return v

        self.on_generate_variable(name)(replace)

    def force_average_pooling_global(self, name: str, by_type: bool = False) -> None:
        def make_global(f: _FunctionHandle) -> _FunctionHandle:
            pool_shape = list(f.inputs[0].proto.shape.dim[2:])
            f.proto.average_pooling_param.kernel.dim[:] = pool_shape
            f.proto.average_pooling_param.stride.dim[:] = pool_shape
            return f

        (self.on_generate_function_by_type if by_type else self.on_generate_function_by_name)(name)(make_global)

    def check_average_pooling_global(self, name: str, by_type: bool = False) -> None:
        def check(f: _FunctionHandle) -> _FunctionHandle:
            pool_shape = list(f.inputs[0].proto.shape.dim[2:])
            p = f.proto.average_pooling_param
            if list(p.kernel.dim) != pool_shape or list(p.stride.dim) != pool_shape:
                raise ValueError(
                    f"{f.name}: average pooling is not global: the input's spatial shape is {pool_shape}, the kernel "
                    f"{list(p.kernel.dim)} and the stride {list(p.stride.dim)}; use force_average_pooling_global."
                )
            return f

        (self.on_generate_function_by_type if by_type else self.on_generate_function_by_name)(name)(check)

    def set_batch_normalization_batch_stat_all(self, batch_stat: bool) -> None:
        def set_stat(f: _FunctionHandle) -> _FunctionHandle:
            f.proto.batch_normalization_param.batch_stat = batch_stat
            return f

        self.on_generate_function_by_type("BatchNormalization")(set_stat)

    # -- application --------------------------------------------------------------------------------------------
    def prepare(self, network: Any, batch_size: int) -> PreparedNetwork:
        """Apply the edits to a copy of ``network`` (built with ``batch_size``)."""
        edited = type(network)()
        edited.CopyFrom(network)
        graph = _Graph(edited, batch_size)
        replacements = {}
        for name, callback in self._variable_callbacks.items():
            if name in graph.handles:
                handle = callback(graph.handles[name])
                if handle is not None and handle.variable is not None:
                    replacements[name] = handle.variable
        kept = []
        for proto in edited.function:
            f = _FunctionHandle(proto, graph)
            for table, key in ((self._generate_by_name, f.name), (self._generate_by_type, proto.type)):
                if key in table:
                    table[key](f)
            for table, key in ((self._passes_by_name, f.name), (self._passes_by_type, proto.type)):
                if key in table:
                    table[key](f, graph.handles, None)
            if not f.disabled:
                kept.append(proto)
        if len(kept) != len(edited.function):
            functions = [type(p)() for p in kept]
            for copy, original in zip(functions, kept):
                copy.CopyFrom(original)
            del edited.function[:]
            edited.function.extend(functions)
        return PreparedNetwork(edited, replacements, list(self._use_up_to) or None, self._fix_parameters)
