"""Project document -> nnabla nntxt (what ``nnl train -c`` runs), as Neural Network Console compiles ``.sdcproj``.

Networks: every project network that is not only a unit of another is compiled as drawn; a network named
``<X>Validation`` or ``<X>Runtime`` that optimizers, monitors or executors use but the project does not draw is derived
from ``<X>`` (test mode: ``-test=`` values such as BatchNormalization ``batch_stat: false``, layers with
``SkipAtTest`` removed; runtime: losses and their targets removed too). Variables have a -1 batch; parameters carry
NNC's initializers; loops become ``repeat_info`` with ``repeat_id`` and NNC's loop functions (``nnl.nnp.loops``).

>>> from nnl.console.sdcproj import read_sdcproj  # doctest: +SKIP
>>> text = to_nntxt(project)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
from typing import Any

from google.protobuf import text_format

from nnl.console._graph import LoweredNetwork, NetworkError, lower
from nnl.functions import registry
from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.arguments import arguments_to_proto, parameter_field

__all__ = ["to_nntxt", "to_proto", "check", "lowered_networks"]

# NNC solver name -> (parameter message field, [(NNC parameter name, nnabla field)]).
SOLVERS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "AdaBelief": ("adabelief_param", (("Alpha", "alpha"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "eps"),
                                      ("Weight Decay", "wd"), ("AMSGrad", "amsgrad"),
                                      ("WD Decouple", "weight_decouple"), ("Fixed Decay", "fixed_decay"),
                                      ("Rectify", "rectify"))),
    "Adadelta": ("adadelta_param", (("LearningRate", "lr"), ("Decay", "decay"), ("Epsilon", "eps"))),
    "Adagrad": ("adagrad_param", (("LearningRate", "lr"), ("Epsilon", "eps"))),
    "Adam": ("adam_param", (("Alpha", "alpha"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "eps"))),
    "AdamW": ("adamw_param", (("Alpha", "alpha"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "eps"),
                              ("Weight Decay", "wd"))),
    "Adamax": ("adamax_param", (("Alpha", "alpha"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "eps"))),
    "AdaBound": ("adabound_param", (("Alpha", "alpha"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "eps"),
                                    ("FinalLR", "final_lr"), ("Gamma", "gamma"))),
    "AMSGRAD": ("amsgrad_param", (("Alpha", "alpha"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "eps"))),
    "AMSBound": ("amsbound_param", (("Alpha", "alpha"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "eps"),
                                    ("FinalLR", "final_lr"), ("Gamma", "gamma"))),
    "Lars": ("lars_param", (("LearningRate", "lr"), ("Momentum", "momentum"), ("Coefficient", "coefficient"),
                            ("Epsilon", "eps"))),
    "Momentum": ("momentum_param", (("LearningRate", "lr"), ("Momentum", "momentum"))),
    "Nesterov": ("nesterov_param", (("LearningRate", "lr"), ("Momentum", "momentum"))),
    "RMSprop": ("rmsprop_param", (("LearningRate", "lr"), ("Decay", "decay"), ("Epsilon", "eps"))),
    "Sgd": ("sgd_param", (("LearningRate", "lr"),)),
    "SgdW": ("sgdw_param", (("LearningRate", "lr"), ("Momentum", "momentum"), ("Weight Decay", "wd"))),
}
_DERIVED = {"Validation": "validation", "Runtime": "runtime"}


def _referenced(project: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for key in ("optimizers", "monitors", "executors"):
        for item in project.get(key, []):
            if item.get("network") and item["network"] not in names:
                names.append(item["network"])
    return names


def _network_plan(project: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(output name, source network, mode) for every network the nntxt holds."""
    drawn = [n["name"] for n in project.get("networks", [])]
    units = {layer.get("properties", {}).get("Network") for n in project.get("networks", []) for layer in n["layers"]
             if layer["type"] == "Unit"}
    plan = [(name, name, "train") for name in drawn if name not in units or name in _referenced(project)]
    for name in _referenced(project):
        if name in drawn:
            continue
        for suffix, mode in _DERIVED.items():
            if name.endswith(suffix) and name[: -len(suffix)] in drawn:
                plan.append((name, name[: -len(suffix)], mode))
                break
        else:
            raise NetworkError(f"the configuration uses network {name!r}, which the project neither draws nor can "
                               f"derive (networks: {', '.join(drawn)}).")
    if not plan and drawn:
        plan = [(drawn[0], drawn[0], "train")]
    return plan


def lowered_networks(project: dict[str, Any]) -> dict[str, LoweredNetwork]:
    """Every network of the nntxt, lowered (keyed by its nntxt name)."""
    result = {}
    for name, source, mode in _network_plan(project):
        net = lower(project, source, mode)
        net.name = name
        result[name] = net
    return result


def check(project: dict[str, Any]) -> list[str]:
    """Per-layer errors of every network the project trains with, plus configuration errors; empty when trainable."""
    try:
        nets = lowered_networks(project)
    except NetworkError as e:
        return [str(e)]
    errors = [e for net in nets.values() for e in net.errors]
    dataset_names = {d["name"] for d in project.get("datasets", [])}
    for key in ("optimizers", "monitors", "executors"):
        for item in project.get(key, []):
            if item.get("dataset") and item["dataset"] not in dataset_names:
                errors.append(f"{key[:-1]} {item.get('name')!r}: dataset {item['dataset']!r} is not in the project "
                              f"(datasets: {', '.join(sorted(dataset_names))}).")
    for opt in project.get("optimizers", []):
        net = nets.get(opt.get("network", ""))
        if net is not None and not net.errors and not _losses(net):
            errors.append(f"optimizer {opt.get('name')!r}: network {opt['network']!r} has no loss layer to train.")
        if opt.get("solver") not in SOLVERS:
            errors.append(f"optimizer {opt.get('name')!r}: solver {opt.get('solver')!r} is not one of "
                          f"{', '.join(SOLVERS)}.")
    return errors


def to_nntxt(project: dict[str, Any], base_dir: str | None = None) -> str:
    """The nntxt text of ``project`` (``base_dir``: where relative dataset URIs are, to count their rows)."""
    return text_format.MessageToString(to_proto(project, base_dir))


def to_proto(project: dict[str, Any], base_dir: str | None = None) -> Any:
    """The ``NNablaProtoBuf`` message of ``project``; raises ValueError listing the errors if it cannot train."""
    errors = check(project)
    if errors:
        raise ValueError("the project cannot be compiled:\n" + "\n".join(errors))
    nets = lowered_networks(project)
    config = project.get("config", {})
    batch = int(config.get("batch_size", 64))
    msg = pb.NNablaProtoBuf()  # type: ignore[attr-defined]
    ctx = msg.global_config.default_context
    ctx.backends.extend(["cpu:float"] if config.get("type_config", "float") == "float" else ["cpu:half", "cpu:float"])
    ctx.array_class = "CpuCachedArray"
    tc = msg.training_config
    tc.max_epoch = int(config.get("max_epoch", 100))
    tc.save_best = bool(config.get("save_best", True))
    tc.monitor_interval = int(config.get("monitor_interval", 10))
    tc.iter_per_epoch = _iter_per_epoch(project, batch, base_dir)
    for net in nets.values():
        _network(msg.network.add(), net, batch)
    for dataset in project.get("datasets", []):
        _dataset(msg.dataset.add(), dataset, batch)
    for opt in project.get("optimizers", []):
        _optimizer(msg.optimizer.add(), opt, nets[opt["network"]], tc.iter_per_epoch)
    for mon in project.get("monitors", []):
        _monitor(msg.monitor.add(), mon, nets[mon["network"]])
    for ex in project.get("executors", []):
        _executor(msg.executor.add(), ex, nets[ex["network"]])
    return msg


# ---------------------------------------------------------------------------------------------------------------


def _dims(shape: Any, dims: tuple[int, ...]) -> None:
    shape.dim.extend(int(d) for d in dims)


def _network(proto: Any, net: LoweredNetwork, batch: int) -> None:
    proto.name = net.name
    proto.batch_size = batch
    for loop_id, times in net.repeat_times.items():
        if any(layer.type == "RepeatStart" and layer.arguments.get("repeat_id") == loop_id for layer in net.layers):
            info = proto.repeat_info.add()
            info.id, info.times = loop_id, times
    # Recurrent loops are listed too: nnabla expands them by repeat_id.
    for layer in net.layers:
        if layer.type == "RecurrentInput":
            info = proto.repeat_info.add()
            info.id, info.times = layer.arguments["repeat_id"], net.repeat_times[layer.arguments["repeat_id"]]
    seen: set[str] = set()

    def variable(name: str, kind: str, shape: tuple[int, ...], repeat: tuple[str, ...] = ()) -> Any:
        seen.add(name)
        v = proto.variable.add()
        v.name, v.type = name, kind
        v.repeat_id.extend(repeat)
        _dims(v.shape, ((-1,) if kind == "Buffer" else ()) + tuple(shape))
        return v

    for layer in net.layers:
        for data in layer.data:
            if data.variable not in seen:
                variable(data.variable, "Buffer", data.shape)
        for p in layer.parameters:
            if p.name not in seen:
                v = variable(p.name, "Parameter", p.shape, p.repeat)
                v.initializer.type, v.initializer.multiplier = p.initializer, p.multiplier
    for layer in net.layers:
        if layer.function is None or layer.type in ("Input", "Parameter"):
            continue
        for name, shape in zip(layer.outputs, layer.output_shapes or []):
            if name not in seen:
                variable(name, "Buffer", shape, layer.repeat if layer.type != "RecurrentOutput" else ())
        f = proto.function.add()
        f.name, f.type = layer.name, layer.function
        f.repeat_id.extend(layer.repeat if layer.type not in ("RecurrentOutput", "RepeatEnd") else ())
        f.input.extend(layer.inputs)
        f.output.extend(layer.outputs)
        if layer.type in ("RepeatStart", "RepeatEnd"):
            f.repeat_param.repeat_id = layer.arguments["repeat_id"]
            if "times" in layer.arguments:
                f.repeat_param.times = layer.arguments["times"]
        elif layer.type in ("RecurrentInput", "RecurrentOutput", "Delay"):
            rp = f.recurrent_param
            rp.repeat_id = layer.arguments["repeat_id"]
            if "axis" in layer.arguments:
                rp.axis = layer.arguments["axis"]
            if "length" in layer.arguments:
                rp.length = layer.arguments["length"]
        elif layer.instance is not None and parameter_field(layer.function):
            arguments_to_proto(registry.function_class(layer.function)(**layer.arguments), f)
            if layer.type == "Reshape":  # the batch of the shape argument is the network's (-1)
                del f.reshape_param.shape.dim[0]
                f.reshape_param.shape.dim.insert(0, -1)


def _losses(net: LoweredNetwork) -> list[str]:
    return [layer.outputs[0] for layer in net.layers
            if layer.spec is not None and layer.spec.category == "Loss" and layer.function and layer.error is None]


def _monitored(net: LoweredNetwork) -> list[str]:
    return [layer.outputs[0] for layer in net.layers
            if layer.spec is not None and layer.spec.is_loss and layer.function and layer.error is None]


def _data_variables(proto: Any, net: LoweredNetwork) -> None:
    for layer in net.layers:
        if layer.function is None and layer.type != "Input":
            continue
        for data in layer.data:
            if data.generator and data.generator != "None":
                g = proto.generator_variable.add()
                g.variable_name, g.type, g.multiplier = data.variable, data.generator, data.multiplier
            else:
                d = proto.data_variable.add()
                d.variable_name, d.data_name = data.variable, data.dataset


def _parameters(net: LoweredNetwork) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for layer in net.layers:
        for p in layer.parameters:
            seen.setdefault(p.name, p.lr_multiplier)
    return list(seen.items())


def _count_rows(uri: str, base_dir: str | None) -> int:
    path = uri if os.path.isabs(uri) or base_dir is None else os.path.join(base_dir, uri)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return max(sum(1 for _ in csv.reader(f)) - 1, 0)
    except OSError:
        return 0


def _iter_per_epoch(project: dict[str, Any], batch: int, base_dir: str | None) -> int:
    """NNC's rule: rows of the first optimizer's dataset // batch size (at least 1)."""
    optimizers = project.get("optimizers", [])
    datasets = {d["name"]: d for d in project.get("datasets", [])}
    dataset = datasets.get(optimizers[0].get("dataset", "")) if optimizers else None
    if dataset is None:
        return 1
    rows = int(dataset.get("num_data") or 0) or _count_rows(dataset.get("uri", ""), base_dir)
    return max(rows // batch, 1)


def _dataset(proto: Any, dataset: dict[str, Any], batch: int) -> None:
    proto.name = dataset["name"]
    proto.type = "Dataset"
    proto.uri = dataset.get("uri", "")
    proto.batch_size = batch
    proto.cache_dir = os.path.splitext(proto.uri)[0] + ".cache" if proto.uri else ""
    proto.overwrite_cache = True
    proto.create_cache_explicitly = True
    proto.shuffle = bool(dataset.get("shuffle", False))
    proto.no_image_normalization = not bool(dataset.get("image_normalization", True))


def _solver(proto: Any, opt: dict[str, Any], iter_per_epoch: int) -> None:
    name = opt.get("solver", "Adam")
    field, params = SOLVERS[name]
    proto.type = name
    proto.weight_decay = float(opt.get("weight_decay", 0))
    message = getattr(proto, field)
    values = opt.get("solver_parameters", {})
    for nnc_name, proto_name in params:
        if nnc_name in values:
            kind = message.DESCRIPTOR.fields_by_name[proto_name].type
            value = float(values[nnc_name])
            setattr(message, proto_name, bool(value) if kind == 8 else value)
    message.SetInParent()

    def iterations(count: float, unit: str) -> int:
        return int(count * iter_per_epoch) if unit == "epoch" else int(count)

    scheduler = opt.get("lr_scheduler") or {}
    kind = scheduler.get("type", "Exponential")
    interval = iterations(float(scheduler.get("update_interval", 1)), scheduler.get("update_interval_unit", "epoch"))
    max_iter = _max_iter(opt, iter_per_epoch)
    if kind == "Exponential":
        proto.lr_scheduler_type = "Exponential"
        proto.exponential_scheduler_param.gamma = float(scheduler.get("multiplier", 1))
        proto.exponential_scheduler_param.iter_interval = max(interval, 1)
    elif kind == "Step":
        proto.lr_scheduler_type = "Step"
        proto.step_scheduler_param.gamma = float(scheduler.get("multiplier", 0.1))
        unit = scheduler.get("update_interval_unit", "epoch")
        proto.step_scheduler_param.iter_steps.extend(iterations(float(s), unit) for s in scheduler.get("steps", []))
    elif kind == "Cosine":
        proto.lr_scheduler_type = "Cosine"
        proto.cosine_scheduler_param.max_iter = max_iter
    elif kind == "Polynomial":
        proto.lr_scheduler_type = "Polynomial"
        proto.polynomial_scheduler_param.max_iter = max_iter
        proto.polynomial_scheduler_param.power = float(scheduler.get("power", 1))
    warmup = opt.get("warmup") or {}
    if warmup.get("type", "None") == "Linear":
        proto.lr_warmup_scheduler_type = "Linear"
        proto.linear_warmup_scheduler_param.warmup_iter = iterations(float(warmup.get("length", 0)),
                                                                    warmup.get("unit", "epoch"))


def _max_iter(opt: dict[str, Any], iter_per_epoch: int) -> float:
    return float(opt.get("max_epoch", 0)) * iter_per_epoch if opt.get("max_epoch") else 0.0


def _optimizer(proto: Any, opt: dict[str, Any], net: LoweredNetwork, iter_per_epoch: int) -> None:
    proto.name = opt["name"]
    proto.network_name = net.name
    proto.dataset_name.append(opt.get("dataset", ""))
    proto.update_interval = int(opt.get("update_interval", 1))
    _solver(proto.solver, opt, iter_per_epoch)
    _data_variables(proto, net)
    for name in _losses(net):
        proto.loss_variable.add().variable_name = name
    for name, lr in _parameters(net):
        p = proto.parameter_variable.add()
        p.variable_name, p.learning_rate_multiplier = name, lr
    # Effective range (alternating optimizers): epochs or iterations, -1 = the whole run; nnabla counts from 1.
    unit = opt.get("range_unit", "epoch")
    scale = iter_per_epoch if unit == "epoch" else 1
    start, end = int(opt.get("range_from", -1)), int(opt.get("range_to", -1))
    if start >= 0:
        proto.start_iter = start * scale + 1 if unit == "epoch" else start
    if end >= 0:
        proto.end_iter = end * scale


def _monitor(proto: Any, mon: dict[str, Any], net: LoweredNetwork) -> None:
    proto.name = mon["name"]
    proto.network_name = net.name
    proto.dataset_name.append(mon.get("dataset", ""))
    _data_variables(proto, net)
    for name in _monitored(net):
        v = proto.monitor_variable.add()
        v.type, v.variable_name = "Error", name


def _executor(proto: Any, ex: dict[str, Any], net: LoweredNetwork) -> None:
    proto.name = ex["name"]
    proto.network_name = net.name
    proto.num_evaluations = int(ex.get("num_evaluations", 1))
    proto.repeat_evaluation_type = str(ex.get("repeat_evaluation_type", "mean"))
    proto.need_back_propagation = bool(ex.get("need_back_propagation", False))
    _data_variables(proto, net)
    if net.removed_outputs:
        outputs = [(var, f"{target}'") for var, target in net.removed_outputs]
    else:
        consumed = {i for layer in net.layers for i in layer.inputs}
        outputs = [(layer.outputs[0], layer.outputs[0]) for layer in net.layers
                   if layer.function and layer.outputs and layer.outputs[0] not in consumed
                   and layer.outputs[0] not in net.aliases and layer.type != "Parameter"]
    for var, data_name in outputs:
        while var in net.aliases:
            var = net.aliases[var]
        o = proto.output_variable.add()
        o.variable_name, o.data_name = var, data_name
    for name, _ in _parameters(net):
        proto.parameter_variable.add().variable_name = name

