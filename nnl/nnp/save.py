"""``save(filename, contents)``: nnabla's ``nnabla.utils.save.save``, writing what nnabla 1.39 writes.

``contents`` is nnabla's dict: ``global_config``, ``training_config``, ``networks`` (each ``name``, ``batch_size``,
``outputs`` and ``names`` dicts of Variables), ``datasets``, ``optimizers`` (with a solver instance), ``monitors`` and
``executors``. Hyper-parameters of every solver type are written (nnabla writes ten of them). Writes are atomic.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.capture import capture_network
from nnl.nnp.container import NnpFile, solver_state_members, write_nnp
from nnl.nnp.graph import network_inputs, network_outputs
from nnl.parameter import get_parameters
from nnl.parameter_io import file_extension

__all__ = ["create_proto", "save"]

_SOLVER_FIELDS: dict[str, str] = {
    field.message_type.name[: -len("Parameter")]: field.name
    for field in pb.Solver.DESCRIPTOR.oneofs_by_name["parameter"].fields
}


def _global_config(proto: Any, config: Mapping[str, Any]) -> None:
    ctx = config["default_context"]
    context = proto.global_config.default_context
    context.backends.extend(ctx.backend)
    context.array_class = ctx.array_class
    context.device_id = str(ctx.device_id)


def _training_config(proto: Any, config: Mapping[str, Any]) -> None:
    t = proto.training_config
    t.max_epoch = int(config["max_epoch"])
    t.iter_per_epoch = int(config["iter_per_epoch"])
    t.save_best = bool(config["save_best"])
    if "monitor_interval" in config:
        t.monitor_interval = int(config["monitor_interval"])


def _dataset(proto: Any, d: Mapping[str, Any]) -> None:
    ds = proto.dataset.add()
    ds.name = d["name"]
    ds.uri = d["uri"]
    if d.get("cache_dir") is not None:
        ds.cache_dir = d["cache_dir"]
    ds.shuffle = bool(d["shuffle"])
    ds.batch_size = int(d["batch_size"])
    ds.variable.extend(d["variables"])
    ds.no_image_normalization = bool(d["no_image_normalization"])


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _solver_parameters(solver_proto: Any, solver: Any) -> None:
    solver_type = solver.name.removesuffix("Cuda")
    solver_proto.type = solver_type
    field = _SOLVER_FIELDS.get(solver_type)
    if field is None:
        return
    message = getattr(solver_proto, field)
    message.SetInParent()
    for f in message.DESCRIPTOR.fields:
        if f.name in solver.info:
            setattr(message, f.name, solver.info[f.name])


class _Written:
    """What was captured so far: networks by name with their inputs, outputs and parameters."""

    def __init__(self) -> None:
        self.networks: dict[str, Any] = {}
        self.parameters: dict[str, OrderedDict[str, Any]] = {}
        self.datasets: set[str] = set()

    def network(self, name: str, owner: str) -> Any:
        if name not in self.networks:
            raise ValueError(f"save: {owner} refers to network {name!r}, which is not in contents['networks'].")
        return self.networks[name]

    def check_datasets(self, names: list[str], owner: str) -> None:
        for name in names:
            if name not in self.datasets:
                raise ValueError(f"save: {owner} refers to dataset {name!r}, which is not in contents['datasets'].")


def _optimizer(proto: Any, o: Mapping[str, Any], written: _Written, with_states: bool) -> None:
    op = proto.optimizer.add()
    op.name = o["name"]
    solver = o["solver"]
    net = written.network(o["network"], f"optimizer {o['name']!r}") if o.get("network") else None
    op.network_name = o.get("network") or "None"
    datasets = _names(o.get("dataset"))
    written.check_datasets(datasets, f"optimizer {o['name']!r}")
    op.dataset_name.extend(datasets)
    _solver_parameters(op.solver, solver)
    op.solver.weight_decay = float(o.get("weight_decay", 0))
    op.solver.lr_decay = float(o.get("lr_decay", 1))
    op.solver.lr_decay_interval = int(o.get("lr_decay_interval", 1))
    op.update_interval = int(o.get("update_interval", 1))
    for var_name, data_name in o.get("data_variables", {}).items():
        dv = op.data_variable.add()
        dv.variable_name, dv.data_name = var_name, data_name
    if net is not None:
        for loss in o.get("loss_variables", network_outputs(net)):
            op.loss_variable.add().variable_name = loss
    trained = solver.get_parameters()
    names = written.parameters[o["network"]].keys() if net is not None else get_parameters().keys()
    for name in names:
        pv = op.parameter_variable.add()
        pv.variable_name = name
        pv.learning_rate_multiplier = 1.0 if name in trained else 0.0
    for g in o.get("generator_variables", []):
        gv = op.generator_variable.add()
        gv.variable_name, gv.type, gv.multiplier = g, "Constant", 0
    if with_states:
        solver.set_states_to_protobuf(op)


def _monitor(proto: Any, m: Mapping[str, Any], written: _Written) -> None:
    net = written.network(m["network"], f"monitor {m['name']!r}")
    mp = proto.monitor.add()
    mp.name = m["name"]
    mp.network_name = m["network"]
    datasets = _names(m.get("dataset"))
    if not datasets:
        raise ValueError(f"save: monitor {m['name']!r} names no dataset.")
    written.check_datasets(datasets, f"monitor {m['name']!r}")
    mp.dataset_name.extend(datasets)
    for var_name, data_name in m.get("data_variables", {}).items():
        dv = mp.data_variable.add()
        dv.variable_name, dv.data_name = var_name, data_name
    for out in m.get("monitor_variables", network_outputs(net)):
        mv = mp.monitor_variable.add()
        mv.type, mv.variable_name = "Error", out
    for g in m.get("generator_variables", []):
        gv = mp.generator_variable.add()
        gv.variable_name, gv.type, gv.multiplier = g, "Constant", 0


def _executor(proto: Any, e: Mapping[str, Any], written: _Written) -> None:
    net = written.network(e["network"], f"executor {e['name']!r}")
    declared = {v.name for v in net.variable}
    remap = e.get("remp", {})
    ep = proto.executor.add()
    ep.name = e["name"]
    ep.network_name = e["network"]
    for key in ("no_image_normalization", "num_evaluations", "repeat_evaluation_type", "need_back_propagation"):
        if e.get(key) is not None:
            setattr(ep, key, e[key])
    for kind, names in (("data", e.get("data", network_inputs(net))), ("output", e.get("output", network_outputs(net)))):
        for vname in names:
            if vname not in declared:
                raise ValueError(f"save: executor {e['name']!r}: {kind} variable {vname!r} is not in network "
                                 f"{e['network']!r}.")
            v = (ep.data_variable if kind == "data" else ep.output_variable).add()
            v.variable_name, v.data_name = vname, remap.get(vname, vname)
    for name in written.parameters[e["network"]]:
        ep.parameter_variable.add().variable_name = name
    for g in e.get("generator_variables", []):
        gv = ep.generator_variable.add()
        gv.variable_name, gv.type, gv.multiplier = g, "Constant", 0


def create_proto(
    contents: Mapping[str, Any], variable_batch_size: bool = True, solver_states: bool = False
) -> tuple[Any, OrderedDict[str, Any]]:
    """The ``NNablaProtoBuf`` of ``contents`` (no parameter entries) and the parameters its networks use."""
    proto = pb.NNablaProtoBuf()
    if "global_config" in contents:
        _global_config(proto, contents["global_config"])
    if "training_config" in contents:
        _training_config(proto, contents["training_config"])
    written = _Written()
    used: OrderedDict[str, Any] = OrderedDict()
    for n in contents.get("networks", []):
        net, params = capture_network(
            n["outputs"], n["name"], n.get("batch_size"), n.get("names"), variable_batch_size
        )
        proto.network.add().CopyFrom(net)
        written.networks[n["name"]] = net
        written.parameters[n["name"]] = params
        used.update(params)
    for d in contents.get("datasets", []):
        _dataset(proto, d)
        written.datasets.add(d["name"])
    for o in contents.get("optimizers", []):
        _optimizer(proto, o, written, solver_states)
    for m in contents.get("monitors", []):
        _monitor(proto, m, written)
    for e in contents.get("executors", []):
        _executor(proto, e, written)
    return proto, used


def _solver_state_members(contents: Mapping[str, Any], state_format: str) -> dict[str, bytes]:
    """``<optimizer>_<Solver>_optimizer.h5.optimizer`` members (or one ``.protobuf.optimizer``), as nnabla names them."""
    if "optimizers" not in contents:
        raise KeyError("save: include_solver_state=True needs contents['optimizers'].")
    members: dict[str, bytes] = {}
    if state_format == ".protobuf":
        proto = pb.NNablaProtoBuf()
        for o in contents["optimizers"]:
            op = proto.optimizer.add()
            op.name = o["name"]
            o["solver"].set_states_to_protobuf(op)
        members["optimizer.protobuf.optimizer"] = proto.SerializeToString()
        return members
    if state_format != ".h5":
        raise ValueError(f"save: solver_state_format must be '.h5' or '.protobuf', got {state_format!r}.")
    return solver_state_members((o["name"], o["solver"]) for o in contents["optimizers"])


def save(
    filename: Any,
    contents: Mapping[str, Any],
    include_params: bool = False,
    variable_batch_size: bool = True,
    extension: str = ".nnp",
    parameters: Mapping[str, Any] | None = None,
    parameter_format: str = ".h5",
    include_solver_state: bool = False,
    solver_state_format: str = ".h5",
) -> None:
    """Save networks and training/inference configuration (nnabla's ``save``; see the module docstring).

    ``.nnp`` always includes the parameters (all of the current scope, or ``parameters``); ``.nntxt`` and
    ``.protobuf`` only with ``include_params``.
    """
    ext = file_extension(filename, None if isinstance(filename, (str, os.PathLike)) else extension)
    in_proto_states = include_solver_state and ext != ".nnp"
    proto, _ = create_proto(contents, variable_batch_size, in_proto_states)
    nnp = NnpFile(proto)
    params = get_parameters(grad_only=False) if parameters is None else OrderedDict(parameters)
    for name, v in params.items():
        nnp.add_parameter(name, v.d, v.need_grad)
    members = _solver_state_members(contents, solver_state_format) if include_solver_state and ext == ".nnp" else None
    write_nnp(
        filename,
        nnp,
        extension=ext,
        include_params=include_params or ext == ".nnp",
        parameter_format=parameter_format,
        extra_members=members,
    )
