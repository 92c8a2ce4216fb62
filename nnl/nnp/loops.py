"""Unroll Neural Network Console's loop pseudo-functions in NNP ``Network`` messages (as ``nnabla.utils.load`` does).

NNC writes loops with five functions that are not in the registry: ``RepeatStart``/``RepeatEnd`` (``repeat_param``)
and ``RecurrentInput``/``RecurrentOutput``/``Delay`` (``recurrent_param``). Variables and functions inside a loop list
its id in ``repeat_id``; ``Network.repeat_info`` gives each loop's ``times``. ``expand_loops`` follows nnabla's
``ProtoNetwork.expand_loop_control`` followed by the removal of the identities that it creates:

* an item with ``repeat_id`` ``[a, b]`` is copied for every index ``(i, j)``; a function is renamed
  ``<name>_a[i]_b[j]``; a variable replaces each ``{a}`` in its name by ``[i]`` or, without ``{a}``, gets the suffix
  ``_a[i]``. Parameters follow the same rule, so a parameter listed in a loop is per iteration
  (``Convolution_5{RepeatStart}/conv/W`` -> ``Convolution_5[0]/conv/W``, old style ``Convolution_5/conv/W`` ->
  ``Convolution_5/conv/W_RepeatStart[0]``) and one without ``repeat_id`` is shared by all iterations;
* ``RecurrentInput`` becomes one ``Split`` along ``axis``; ``RecurrentOutput`` becomes a ``Stack`` along ``axis`` of
  ``length`` per-step inputs;
* ``RepeatStart`` (``input[0]`` at step 0, else ``input[1]`` of the previous step), ``RepeatEnd`` (its input at the
  last step) and ``Delay`` (``input[1]`` at step 0, else ``input[0]`` of the previous step) become renames: readers of
  the output read the input instead, unless nothing reads the output; then the input takes the output's name.

The functions come out in nnabla's forward order (``ProtoNetwork.forward_sequence``).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nnl.nnp import nnabla_pb2 as pb

__all__ = ["LOOP_FUNCTIONS", "expand_loops", "has_loops"]

LOOP_FUNCTIONS = frozenset({"RepeatStart", "RepeatEnd", "RecurrentInput", "RecurrentOutput", "Delay"})
_RENAMES = frozenset({"RepeatStart", "RepeatEnd", "Delay"})


def has_loops(network: Any) -> bool:
    """Whether ``network`` uses NNC loops (``repeat_info``, ``repeat_id`` or a loop pseudo-function)."""
    return (
        bool(network.repeat_info)
        or any(f.type in LOOP_FUNCTIONS or f.repeat_id for f in network.function)
        or any(v.repeat_id for v in network.variable)
    )


def expand_loops(network: Any) -> Any:
    """A new ``Network`` with every NNC loop unrolled (``network`` is left untouched)."""
    out = pb.Network()
    out.CopyFrom(network)
    if not has_loops(network):
        return out
    times = _repeat_times(network)
    _check_loop_functions(network, times)
    variables = _expand_variables(network, times)
    functions = list(_expand_functions(network, times, set(variables)))
    functions = _remove_renames(network, functions, variables)
    _check_declared(network, functions, variables)
    out.ClearField("repeat_info")
    out.ClearField("variable")
    out.ClearField("function")
    out.variable.extend(variables.values())
    out.function.extend(f.proto for f in _forward_order(network, functions, variables))
    return out


# ---------------------------------------------------------------------------------------------------------------
# checks


def _where(network: Any, function: Any | None = None) -> str:
    where = f"network {network.name!r}"
    return where if function is None else f"{where}: function {function.name!r} ({function.type})"


def _repeat_times(network: Any) -> dict[str, int]:
    times: dict[str, int] = {}
    for info in network.repeat_info:
        if info.id in times:
            raise ValueError(f"{_where(network)}: repeat_info {info.id!r} is given twice.")
        if info.times < 1:
            raise ValueError(f"{_where(network)}: repeat_info {info.id!r} has times={info.times}; it must be >= 1.")
        times[info.id] = int(info.times)
    return times


def _known(network: Any, times: dict[str, int], repeat_id: str, what: str) -> int:
    if repeat_id not in times:
        known = ", ".join(repr(k) for k in times) or "none"
        raise ValueError(f"{what}: repeat_id {repeat_id!r} is not in the network's repeat_info (known: {known}).")
    return times[repeat_id]


def _loop_param(function: Any) -> Any:
    return function.repeat_param if function.type in ("RepeatStart", "RepeatEnd") else function.recurrent_param


def _check_loop_functions(network: Any, times: dict[str, int]) -> None:
    """Arity, ids and counts of the pseudo-functions (nnabla asserts some of these and trips over the rest)."""
    starts = {f.repeat_param.repeat_id for f in network.function if f.type == "RepeatStart"}
    arity = {"RepeatStart": 2, "RepeatEnd": 1, "RecurrentInput": 1, "RecurrentOutput": 1, "Delay": 2}
    for f in network.function:
        where = _where(network, f)
        for rid in f.repeat_id:
            _known(network, times, rid, where)
        if f.type not in LOOP_FUNCTIONS:
            continue
        if len(f.input) != arity[f.type] or len(f.output) != 1:
            raise ValueError(
                f"{where}: takes {arity[f.type]} input(s) and gives 1 output, not {len(f.input)} and {len(f.output)}."
            )
        param = _loop_param(f)
        rid = param.repeat_id
        count = _known(network, times, rid, f"{where}: argument repeat_id")
        if f.type in ("RepeatStart", "Delay", "RecurrentInput") and (not f.repeat_id or f.repeat_id[-1] != rid):
            raise ValueError(
                f"{where}: its repeat_id list {list(f.repeat_id)} must end with its argument repeat_id {rid!r}."
            )
        if f.type == "RepeatEnd" and rid not in starts:
            raise ValueError(f"{where}: RepeatEnd of repeat_id {rid!r} without a RepeatStart of that id.")
        if f.type in ("RepeatStart", "RepeatEnd") and param.times not in (0, count):
            raise ValueError(f"{where}: argument times={param.times} but repeat_info {rid!r} has times={count}.")
        if f.type == "RecurrentOutput" and param.length not in (0, count):
            raise ValueError(f"{where}: argument length={param.length} but repeat_info {rid!r} has times={count}.")


# ---------------------------------------------------------------------------------------------------------------
# unrolling


def _indices(times: dict[str, int], repeat_ids: Any) -> Iterator[tuple[int, ...]]:
    return itertools.product(*(range(times[rid]) for rid in repeat_ids))


def _suffix(repeat_ids: Any, index: tuple[int, ...]) -> str:
    return "".join(f"_{rid}[{i}]" for rid, i in zip(repeat_ids, index))


def _variable_name(name: str, repeat_ids: Any, index: tuple[int, ...]) -> str:
    for rid, i in zip(repeat_ids, index):
        placeholder = "{" + rid + "}"
        name = name.replace(placeholder, f"[{i}]") if placeholder in name else f"{name}_{rid}[{i}]"
    return name


def _expand_variables(network: Any, times: dict[str, int]) -> dict[str, Any]:
    """Every declared variable, copied per loop index (declaration order, copies in place)."""
    variables: dict[str, Any] = {}
    for var in network.variable:
        for rid in var.repeat_id:
            _known(network, times, rid, f"{_where(network)}: variable {var.name!r}")
        for index in _indices(times, var.repeat_id):
            v = pb.Variable()
            v.CopyFrom(var)
            v.name = _variable_name(var.name, var.repeat_id, index)
            v.ClearField("repeat_id")
            variables[v.name] = v
    return variables


@dataclass
class _Unrolled:
    """One function of the unrolled network; ``rename`` marks the identities nnabla removes again."""

    proto: Any
    rename: bool = False
    source: Any = field(default=None, repr=False)


def _expand_functions(network: Any, times: dict[str, int], declared: set[str]) -> Iterator[_Unrolled]:
    for f in network.function:
        for index in _indices(times, f.repeat_id):
            if f.type == "RecurrentInput" and index[-1] > 0:
                continue  # one Split serves every step
            yield _unroll(network, f, index, times, declared)


def _unroll(network: Any, f: Any, index: tuple[int, ...], times: dict[str, int], declared: set[str]) -> _Unrolled:
    """The copy of ``f`` for loop ``index`` (one entry per id in ``f.repeat_id``)."""
    full = _suffix(f.repeat_id, index)
    outer = _suffix(f.repeat_id[:-1], index[:-1])
    proto = pb.Function()
    proto.CopyFrom(f)
    proto.ClearField("repeat_id")
    proto.name = f.name + full
    del proto.input[:]
    del proto.output[:]
    outputs = [o + full if o + full in declared else o for o in f.output]
    if f.type in LOOP_FUNCTIONS:
        param = _loop_param(f)
        rid = param.repeat_id
        proto.ClearField("repeat_param" if f.type in ("RepeatStart", "RepeatEnd") else "recurrent_param")
    if f.type in ("RepeatStart", "Delay"):
        first, later = (f.input[0], f.input[1]) if f.type == "RepeatStart" else (f.input[1], f.input[0])
        step = index[-1]
        inputs = [first if first in declared else first + outer] if step == 0 else [f"{later}{outer}_{rid}[{step - 1}]"]
    elif f.type == "RepeatEnd":
        inputs = [f"{f.input[0]}{full}_{rid}[{times[rid] - 1}]"]
    elif f.type == "RecurrentInput":
        proto.name = f.name + outer
        inputs = [i if i in declared else i + outer for i in f.input]
        outputs = [f"{f.output[0]}{outer}_{rid}[{i}]" for i in range(_split_count(network, f, times))]
        proto.type = "Split"
        proto.split_param.axis = param.axis
    elif f.type == "RecurrentOutput":
        inputs = [f"{f.input[0]}{full}_{rid}[{i}]" for i in range(param.length or times[rid])]
        proto.type = "Stack"
        proto.stack_param.axis = param.axis
    else:
        inputs = [_input_name(_variable_name_in(i, f.repeat_id, index), full, outer, declared) for i in f.input]
    proto.input.extend(inputs)
    proto.output.extend(outputs)
    if f.type in _RENAMES:
        proto.type = "Identity"
    return _Unrolled(proto, rename=f.type in _RENAMES, source=f)


def _variable_name_in(name: str, repeat_ids: Any, index: tuple[int, ...]) -> str:
    """A function input with its ``{id}`` placeholders filled (no suffixes: those depend on what is declared)."""
    for rid, i in zip(repeat_ids, index):
        name = name.replace("{" + rid + "}", f"[{i}]")
    return name


def _input_name(name: str, full: str, outer: str, declared: set[str]) -> str:
    if name in declared:
        return name
    return name + full if name + full in declared else name + outer


def _split_count(network: Any, f: Any, times: dict[str, int]) -> int:
    """nnabla splits into ``shape[axis]`` of the declared input; it must be the loop's ``times``."""
    rid = f.recurrent_param.repeat_id
    axis = f.recurrent_param.axis
    source = next((v for v in network.variable if v.name == f.input[0]), None)
    if source is None:
        raise ValueError(f"{_where(network, f)}: its input {f.input[0]!r} is not declared.")
    dims = list(source.shape.dim)
    if not -len(dims) <= axis < len(dims):
        raise ValueError(f"{_where(network, f)}: argument axis={axis} is out of range for {f.input[0]!r} {dims}.")
    if dims[axis] != times[rid]:
        raise ValueError(
            f"{_where(network, f)}: splits {f.input[0]!r} {dims} along axis {axis} into {dims[axis]} steps but "
            f"repeat_info {rid!r} has times={times[rid]}."
        )
    return times[rid]


# ---------------------------------------------------------------------------------------------------------------
# identities -> renames, declarations, order


def _remove_renames(network: Any, functions: list[_Unrolled], variables: dict[str, Any]) -> list[_Unrolled]:
    """The functions without the loop identities, renamed as nnabla's ``IdentityRemover`` leaves them.

    nnabla removes them one by one in forward order; an identity's output is read by some function exactly when it is
    read in the unrolled list, so the renames can be collected first and applied once.
    """
    consumed = {i for f in functions for i in f.proto.input}
    alias: dict[str, str] = {}

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    order = _topological(functions, variables)
    if len(order) != len(functions):
        raise ValueError(f"{_where(network)}: the unrolled functions form a cycle.")
    for item in order:
        if not item.rename:
            continue
        source, target = resolve(item.proto.input[0]), item.proto.output[0]
        if target in consumed:  # readers of the output read the input; nnabla keeps the output's variable there
            alias[target] = source
            removed, kept = variables.pop(target, None), variables.get(source)
            if removed is not None and kept is not None and kept.type != "Parameter":
                kept.shape.CopyFrom(removed.shape)
        else:  # nothing reads the output: the input takes its name
            alias[source] = target
            variables.pop(source, None)
    kept_functions = [f for f in functions if not f.rename]
    for f in kept_functions:
        for names in (f.proto.input, f.proto.output):
            names[:] = [resolve(n) for n in names]
    return kept_functions


def _check_declared(network: Any, functions: list[_Unrolled], variables: dict[str, Any]) -> None:
    for f in functions:
        for name in [*f.proto.input, *f.proto.output]:
            if name not in variables:
                raise ValueError(
                    f"{_where(network, f.source)}: its unrolled copy {f.proto.name!r} uses {name!r}, which the "
                    "network does not declare."
                )


def _producers(functions: list[_Unrolled], network: Any | None = None) -> dict[str, _Unrolled]:
    producer: dict[str, _Unrolled] = {}
    for f in functions:
        for o in f.proto.output:
            if o in producer and network is not None:
                raise ValueError(
                    f"{_where(network, f.source)}: its unrolled copy {f.proto.name!r} writes {o!r}, which "
                    f"{producer[o].proto.name!r} writes too."
                )
            producer[o] = f
    return producer


def _topological(functions: list[_Unrolled], variables: dict[str, Any]) -> list[_Unrolled]:
    """Kahn's order; shorter than ``functions`` when they form a cycle."""
    producer = _producers(functions)
    readers: dict[str, list[int]] = {}
    waiting = []
    for k, f in enumerate(functions):
        needs = {i for i in f.proto.input if i in producer}
        waiting.append(len(needs))
        for name in needs:
            readers.setdefault(name, []).append(k)
    ready = deque(k for k, n in enumerate(waiting) if n == 0)
    order: list[_Unrolled] = []
    while ready:
        k = ready.popleft()
        order.append(functions[k])
        for name in functions[k].proto.output:
            for r in readers.get(name, ()):
                waiting[r] -= 1
                if waiting[r] == 0:
                    ready.append(r)
    return order


def _forward_order(network: Any, functions: list[_Unrolled], variables: dict[str, Any]) -> list[_Unrolled]:
    """nnabla's ``forward_sequence``: depth-first from the outputs (last declared first), inputs resolved in order.

    The functions form no cycle (``_remove_renames`` checked), so this ends.
    """
    producer = _producers(functions, network)
    consumed = {i for f in functions for i in f.proto.input}
    outputs = [n for n in variables if n in producer and n not in consumed]
    evaluated = {n for n in variables if n not in producer}
    stack = [producer[o] for o in outputs]
    order: list[_Unrolled] = []
    while stack:
        f = stack.pop()
        unresolved = [i for i in f.proto.input if i not in evaluated]
        if unresolved:
            stack.append(f)
            stack.extend(producer[i] for i in unresolved)
        elif not all(o in evaluated for o in f.proto.output):
            order.append(f)
            evaluated.update(f.proto.output)
    seen = {id(f) for f in order}
    return order + [f for f in functions if id(f) not in seen]
