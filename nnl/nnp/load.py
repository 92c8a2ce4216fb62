"""``load(filenames)``: nnabla's ``nnabla.utils.load.load`` — a training/inference configuration as live objects.

Returns an ``Info`` with ``global_config``, ``training_config`` and OrderedDicts ``networks`` (built nnl graphs sharing
parameters through the current parameter scope), ``datasets``, ``optimizers`` (solvers created and given the
parameters they train), ``monitors`` and ``executors``, plus ``proto`` and ``default_context``.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from nnl.core.context import Context, context_scope
from nnl.nnp.container import NnpFile, read_nnp, solver_state_member
from nnl.nnp.graph import NnpNetwork, build_network
from nnl.nnp.loader import publish_parameters
from nnl.parameter_io import _describe

__all__ = ["Info", "load", "solver_from_proto", "scheduler_from_proto", "context_from_proto"]


@dataclass
class TrainingConfig:
    max_epoch: int
    iter_per_epoch: int
    save_best: bool
    monitor_interval: int


@dataclass
class GlobalConfig:
    default_context: Context


@dataclass
class DatasetInfo:
    """A ``Dataset`` entry; ``nnl.utils.data_iterator`` turns it into an iterator."""

    name: str
    uri: str
    cache_dir: str
    batch_size: int
    shuffle: bool
    variables: tuple[str, ...]
    no_image_normalization: bool
    overwrite_cache: bool
    create_cache_explicitly: bool


@dataclass
class OptimizerInfo:
    name: str
    order: int
    network: NnpNetwork
    dataset_names: list[str]
    solver: Any
    update_interval: int
    weight_decay: float
    lr_decay: float
    lr_decay_interval: int
    data_variables: OrderedDict[str, str]
    generator_variables: OrderedDict[str, tuple[str, float]]
    loss_variables: list[str]
    parameter_learning_rate_multipliers: OrderedDict[str, float]
    start_iter: int
    end_iter: int
    scheduler: Any = None
    proto: Any = None


@dataclass
class MonitorInfo:
    name: str
    network: NnpNetwork
    dataset_names: list[str]
    data_variables: OrderedDict[str, str]
    generator_variables: OrderedDict[str, tuple[str, float]]
    monitor_variables: OrderedDict[str, tuple[str, str]]  # variable -> (type, data_name)


@dataclass
class ExecutorInfo:
    name: str
    network: NnpNetwork
    num_evaluations: int
    repeat_evaluation_type: str
    need_back_propagation: bool
    no_image_normalization: bool
    data_variables: OrderedDict[str, str]
    generator_variables: OrderedDict[str, tuple[str, float]]
    loss_variables: list[str]
    output_variables: OrderedDict[str, str]
    parameters: list[str]


@dataclass
class Info:
    proto: Any
    default_context: Context
    global_config: GlobalConfig | None = None
    training_config: TrainingConfig | None = None
    networks: OrderedDict[str, NnpNetwork] = field(default_factory=OrderedDict)
    datasets: OrderedDict[str, DatasetInfo] = field(default_factory=OrderedDict)
    optimizers: OrderedDict[str, OptimizerInfo] = field(default_factory=OrderedDict)
    monitors: OrderedDict[str, MonitorInfo] = field(default_factory=OrderedDict)
    executors: OrderedDict[str, ExecutorInfo] = field(default_factory=OrderedDict)
    nnp: NnpFile | None = None


def context_from_proto(context: Any, override: str | None = None) -> Context:
    """The nnl Context of a ``Context`` message; ``override`` is nnabla_cli's ``-c`` string (``cpu``, ``cudnn:0``)."""
    from nnl.ext_utils import get_extension_context

    backend = context.backends[0] if context is not None and context.backends else "cpu:float"
    name, _, type_config = backend.partition(":")
    if override:  # the extension (and device) from the command line, the precision from the file
        name, _, device = override.partition(":")
        return get_extension_context(name, device_id=device or "0", type_config=type_config or "float")
    device = (context.device_id if context is not None else "") or "0"
    try:
        return get_extension_context(name, device_id=device, type_config=type_config or "float")
    except (ImportError, ValueError, RuntimeError) as e:
        warnings.warn(f"load: the file asks for context {backend!r}, which is not available here ({e}); using cpu.",
                      stacklevel=3)
        return get_extension_context("cpu", type_config=type_config or "float")


def solver_from_proto(solver: Any, where: str) -> Any:
    """A solver instance from a ``Solver`` message (type and hyper-parameters)."""
    import nnl.solvers as S

    cls = getattr(S, solver.type, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, S.Solver):
        raise ValueError(f"{where}: unknown solver type {solver.type!r}.")
    oneof = solver.WhichOneof("parameter")
    kwargs = {}
    if oneof is not None:
        message = getattr(solver, oneof)
        kwargs = {f.name: getattr(message, f.name) for f in message.DESCRIPTOR.fields}
    return cls(**kwargs)


def scheduler_from_proto(solver: Any, init_lr: float, where: str, comm_size: int = 1) -> Any:
    """The learning-rate scheduler a ``Solver`` message describes (nnabla_cli's rules; iteration counts are divided
    by the number of data-parallel processes). Without one, the legacy ``lr_decay`` every ``lr_decay_interval``."""
    from nnl.utils import learning_rate_scheduler as L

    kind = solver.lr_scheduler_type
    scheduler: Any = L.ExponentialScheduler(init_lr, 1.0, 1)
    if kind == "Polynomial":
        p = solver.polynomial_scheduler_param
        if p.power != 0.0:
            scheduler = L.PolynomialScheduler(init_lr, p.max_iter // comm_size, p.power)
    elif kind == "Cosine":
        scheduler = L.CosineScheduler(init_lr, solver.cosine_scheduler_param.max_iter // comm_size)
    elif kind == "Exponential":
        p = solver.exponential_scheduler_param
        if p.gamma != 1.0:
            scheduler = L.ExponentialScheduler(init_lr, p.gamma, max(p.iter_interval // comm_size, 1))
    elif kind == "Step":
        p = solver.step_scheduler_param
        if p.gamma != 1.0 and p.iter_steps:
            scheduler = L.StepScheduler(init_lr, p.gamma, [s // comm_size for s in p.iter_steps])
    elif kind == "":
        if solver.lr_decay_interval != 0 or solver.lr_decay != 0.0:
            decay = solver.lr_decay if solver.lr_decay > 0.0 else 1.0
            scheduler = L.ExponentialScheduler(init_lr, decay, max(solver.lr_decay_interval // comm_size, 1))
    else:
        raise ValueError(f"{where}: learning-rate scheduler {kind!r} is not supported (Polynomial, Cosine, "
                         "Exponential, Step, or none).")
    if solver.lr_warmup_scheduler_type == "Linear":
        warmup = solver.linear_warmup_scheduler_param.warmup_iter
        if warmup >= comm_size:
            scheduler = L.LinearWarmupScheduler(scheduler, warmup // comm_size)
    return scheduler


def _data(entries: Any) -> OrderedDict[str, str]:
    return OrderedDict((d.variable_name, d.data_name) for d in entries)


def _generators(entries: Any) -> OrderedDict[str, tuple[str, float]]:
    return OrderedDict((g.variable_name, (g.type, g.multiplier)) for g in entries)


def _network(info: Info, name: str, owner: str, where: str) -> NnpNetwork:
    if name not in info.networks:
        raise ValueError(f"{where}: {owner} refers to network {name!r}, which the file does not define.")
    return info.networks[name]


def _restore_states(solver: Any, o: Any, nnp: NnpFile | None, where: str) -> None:
    """Solver states saved with the configuration: in the Optimizer message or as ``.optimizer`` members."""
    if o.solver.states:
        solver.set_states_from_protobuf(o)
    if nnp is None:
        return
    h5_member = solver_state_member(o.name, solver)
    for member, payload in nnp.solver_states.items():
        if member == h5_member:
            solver.set_states(solver._read_h5(payload, f"{where} (member {member!r})"))
        elif member.endswith(".protobuf.optimizer"):
            from nnl.nnp import nnabla_pb2 as pb

            proto = pb.NNablaProtoBuf.FromString(payload)
            for entry in proto.optimizer:
                if entry.name == o.name:
                    solver.set_states_from_protobuf(entry)


def _optimizer(info: Info, o: Any, where: str, comm_size: int) -> OptimizerInfo:
    network = _network(info, o.network_name, f"optimizer {o.name!r}", where)
    solver = solver_from_proto(o.solver, f"{where}: optimizer {o.name!r}")
    scheduler = scheduler_from_proto(o.solver, solver.learning_rate(), f"{where}: optimizer {o.name!r}", comm_size)
    multipliers = OrderedDict((p.variable_name, p.learning_rate_multiplier) for p in o.parameter_variable)
    trained = OrderedDict(
        (name, v) for name, v in network.parameters.items() if multipliers.get(name, 1.0 if not multipliers else 0) > 0
    )
    solver.set_parameters(trained)
    _restore_states(solver, o, info.nnp, where)
    return OptimizerInfo(
        name=o.name,
        order=int(o.order),
        network=network,
        dataset_names=list(o.dataset_name),
        solver=solver,
        update_interval=int(o.update_interval) or 1,
        weight_decay=float(o.solver.weight_decay),
        lr_decay=float(o.solver.lr_decay) or 1.0,
        lr_decay_interval=int(o.solver.lr_decay_interval) or 1,
        data_variables=_data(o.data_variable),
        generator_variables=_generators(o.generator_variable),
        loss_variables=[v.variable_name for v in o.loss_variable],
        parameter_learning_rate_multipliers=multipliers,
        start_iter=(int(o.start_iter) - 1) // comm_size + 1 if o.start_iter > 0 else 0,
        end_iter=(int(o.end_iter) - 1) // comm_size + 1 if o.end_iter > 0 else 0,
        scheduler=scheduler,
        proto=o,
    )


def load(
    filenames: Any,
    prepare_data_iterator: bool = True,
    batch_size: int | None = None,
    exclude_parameter: bool = False,
    parameter_only: bool = False,
    extension: str = ".nntxt",
    context: str | None = None,
    comm_size: int = 1,
) -> Info:
    """Load the configuration in ``filenames`` (one or several .nnp/.nntxt/.protobuf/.h5 files, merged).

    Parameters go into the current parameter scope (unless ``exclude_parameter``); ``parameter_only`` stops there.
    Networks are built with ``batch_size`` (default: each network's own). Data iterators for the datasets are made
    by the training workflow (``nnl.utils.data_iterator``), not here. ``comm_size`` (data-parallel processes)
    divides the schedulers' iteration counts, as nnabla_cli does.
    """
    del prepare_data_iterator  # datasets are described here; iterators are created by the training workflow
    if isinstance(filenames, (str, bytes)) or hasattr(filenames, "read") or hasattr(filenames, "__fspath__"):
        filenames = [filenames]
    where = ", ".join(_describe(f) for f in filenames)
    nnp = read_nnp(filenames, extension=extension)
    if not exclude_parameter:
        publish_parameters(nnp, where)
    proto = nnp.proto
    has_config = proto.HasField("global_config")
    info = Info(proto=proto, nnp=nnp, default_context=context_from_proto(
        proto.global_config.default_context if has_config else None, context))
    if parameter_only:
        return info
    if has_config:
        info.global_config = GlobalConfig(info.default_context)
    if proto.HasField("training_config"):
        t = proto.training_config
        info.training_config = TrainingConfig(int(t.max_epoch), int(t.iter_per_epoch), bool(t.save_best),
                                              int(t.monitor_interval) or 10)
    if exclude_parameter:  # nnabla's meaning: the file's parameters are not used; networks take the scope's
        nnp = NnpFile(proto)
    with context_scope(info.default_context):  # functions bind their kernels and solvers their updates here
        _build(info, nnp, proto, batch_size, where, comm_size)
    return info


def _build(info: Info, nnp: NnpFile, proto: Any, batch_size: int | None, where: str, comm_size: int) -> None:
    for network in proto.network:
        info.networks[network.name] = build_network(nnp, network.name, batch_size, parameter_scope=True, where=where)
    for d in proto.dataset:
        info.datasets[d.name] = DatasetInfo(
            d.name, d.uri, d.cache_dir, int(d.batch_size), bool(d.shuffle), tuple(d.variable),
            bool(d.no_image_normalization), bool(d.overwrite_cache), bool(d.create_cache_explicitly),
        )
    for o in proto.optimizer:
        info.optimizers[o.name] = _optimizer(info, o, where, comm_size)
    for m in proto.monitor:
        info.monitors[m.name] = MonitorInfo(
            m.name, _network(info, m.network_name, f"monitor {m.name!r}", where), list(m.dataset_name),
            _data(m.data_variable), _generators(m.generator_variable),
            OrderedDict((v.variable_name, (v.type, v.data_name)) for v in m.monitor_variable),
        )
    for e in proto.executor:
        info.executors[e.name] = ExecutorInfo(
            e.name, _network(info, e.network_name, f"executor {e.name!r}", where), int(e.num_evaluations) or 1,
            e.repeat_evaluation_type, bool(e.need_back_propagation), bool(e.no_image_normalization),
            _data(e.data_variable), _generators(e.generator_variable), [v.variable_name for v in e.loss_variable],
            OrderedDict((v.variable_name, v.data_name) for v in e.output_variable),
            [p.variable_name for p in e.parameter_variable],
        )
