"""Function arguments <-> their ``<Type>Parameter`` messages in ``Function`` protos.

Every registry function with arguments has a oneof field ``<snake>_param`` in ``Function`` whose message has one field
per argument (nnabla's numbering). The argument types of the function classes (``Int64``, ``Shape``, ``Ints`` ...) are
the field types, so the conversion is generic.
"""

from __future__ import annotations

from typing import Any

from nnl.core.function import Function
from nnl.functions import registry
from nnl.nnp import nnabla_pb2 as pb

_PARAMETER_FIELDS: dict[str, str] = {
    field.message_type.name[: -len("Parameter")]: field.name
    for field in pb.Function.DESCRIPTOR.oneofs_by_name["parameter"].fields
}

__all__ = ["parameter_field", "arguments_from_proto", "arguments_to_proto", "create_function"]


def parameter_field(type_name: str) -> str | None:
    """The ``Function`` oneof field holding ``type_name``'s arguments (``'affine_param'``), None if it has none."""
    return _PARAMETER_FIELDS.get(type_name)


def _function_class(proto: Any, where: str) -> type[Function]:
    try:
        return registry.function_class(proto.type)
    except KeyError:
        raise ValueError(
            f"{where}: function {proto.name!r} has type {proto.type!r}, which is not a function nnl knows."
        ) from None
    except NotImplementedError as e:
        raise ValueError(f"{where}: function {proto.name!r}: {e}") from None


def _means_default(type_name: str, name: str, value: Any) -> bool:
    """An empty field of an argument whose default is computed (``None``) stands for that default, except where
    empty is a real value (``axes=()`` reduces nothing, ``shape=()`` is a scalar)."""
    if type_name == "string":
        return value == ""
    return type_name == "Shape" and name != "shape" and value == ()


def arguments_from_proto(proto: Any, where: str = "NNP") -> dict[str, Any]:
    """The keyword arguments of the function a ``Function`` message describes.

    Shape and repeated fields become tuples; an empty Shape/repeated field stands for an argument whose default is
    computed from the inputs (``None``) when the function declares such a default.
    """
    cls = _function_class(proto, where)
    if not cls.args_spec:
        return {}
    field_name = _PARAMETER_FIELDS.get(cls.name)
    message = getattr(proto, field_name) if field_name else None
    args: dict[str, Any] = {}
    for name, spec in cls.args_spec.items():
        if spec.type == "Communicator":
            continue
        value = getattr(message, name)
        if spec.type == "Shape":
            value = tuple(int(d) for d in value.dim)
        elif spec.type.startswith("repeated"):
            value = tuple(value)
        if spec.default is None and _means_default(spec.type, name, value):
            value = None
        args[name] = value
    return args


def arguments_to_proto(function: Function, proto: Any) -> None:
    """Write ``function``'s argument values into ``proto`` (a ``Function`` message)."""
    field_name = _PARAMETER_FIELDS.get(function.name)
    if field_name is None:
        return
    message = getattr(proto, field_name)
    message.SetInParent()
    for name, spec in function.args_spec.items():
        value = getattr(function, name)
        if value is None or spec.type == "Communicator":
            continue
        if spec.type == "Shape":
            getattr(message, name).dim.extend(int(d) for d in value)
            getattr(message, name).SetInParent()
        elif spec.type.startswith("repeated"):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)


def create_function(proto: Any, where: str = "NNP", **overrides: Any) -> Function:
    """A new function instance for a ``Function`` message (``overrides`` replace argument values)."""
    cls = _function_class(proto, where)
    args = arguments_from_proto(proto, where)
    args.update(overrides)
    try:
        return cls(**args)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: function {proto.name!r} ({proto.type}): {e}") from e
