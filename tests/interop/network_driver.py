"""NNP network files with nnl or the real nnabla (``python network_driver.py <backend> <cmd> <dir>``).

save        build every network of ``networks.NETWORKS`` (parameters from ``networks.fill_parameters``), save
            <dir>/<backend>_<net>.nnp and .nntxt (``include_params=True``, executor ``runtime``) and write
            <dir>/<backend>_<net>_ref.npz: the inputs ``in.<batch>.<name>`` and outputs ``out.<batch>.<name>`` of the
            builder's own graph at the saved and at another batch size.
load        load each network file the other backend saved with ``NnpLoader`` and with ``utils.load.load``, at both
            batch sizes; feed the reference inputs whose shapes the loaded inputs have and run forward. Writes
            <dir>/<backend>_loaded.npz (``<net>.<ext>.<loader>.<batch>.<output>``) and <dir>/<backend>_loaded.json
            (per key: input shapes, the batch size fed, output names, executor variables, or the error).
rule_save   save the corner cases ``networks.RULE_NETWORKS`` as <dir>/<backend>_rule_<net>.nntxt (no parameters).
train_save  build ``networks.training_contents``, train 3 steps with both solvers, save <dir>/<backend>_train.nnp
            (solver states as .h5 members), <backend>_train_pbstate.nnp (a .protobuf member) and
            <backend>_train.nntxt (states inside the optimizers); write the states to <backend>_train_states.npz.
train_load  load the three training files of each backend with ``utils.load.load`` and write a summary of the Info
            to <dir>/<backend>_train_info.json and the solver states found to <backend>_train_loaded_states.npz
            (``<writer>_<file>.<how>.<optimizer>.<param>.<state>``; how = ``load`` (restored by load itself) or
            ``explicit`` (nnl: the .nnp member read with ``Solver.load_states`` / ``set_states_from_protobuf``)).
"""

import json
import os
import sys
import tempfile
import traceback
import zipfile
from collections import OrderedDict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import networks  # noqa: E402

BACKEND, CMD, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
if BACKEND == "nnabla":
    import nnabla as nn
    import nnabla.functions as F
    import nnabla.parametric_functions as PF
    import nnabla.solvers as S
    from nnabla.ext_utils import get_extension_context
    from nnabla.utils import nnabla_pb2
    from nnabla.utils.load import load
    from nnabla.utils.nnp_graph import NnpLoader
    from nnabla.utils.save import save
else:
    import nnl as nn
    import nnl.functions as F
    import nnl.parametric_functions as PF
    import nnl.solvers as S
    from nnl.ext_utils import get_extension_context
    from nnl.utils import nnabla_pb2
    from nnl.utils.load import load
    from nnl.utils.nnp_graph import NnpLoader
    from nnl.utils.save import save

OTHER = "nnl" if BACKEND == "nnabla" else "nnabla"
EXTENSIONS = ("nnp", "nntxt")
LOADERS = ("NnpLoader", "load")


def path(name):
    return os.path.join(DIR, name)


def write_json(name, data):
    with open(path(name), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


# -- save ------------------------------------------------------------------------------------------------------------
def forward_reference(name, build, batch, ref):
    inputs, outputs = build(nn, F, PF, batch)
    for key, value in networks.input_values(name, batch, inputs).items():
        inputs[key].d = value
        ref[f"in.{batch}.{key}"] = value
    nn.forward_all(list(outputs.values()))
    for key, v in outputs.items():
        ref[f"out.{batch}.{key}"] = np.array(v.d)


def save_network(name, build, batch, other_batch):
    nn.clear_parameters()
    inputs, outputs = build(nn, F, PF, batch)
    networks.fill_parameters(nn)
    contents = {
        "networks": [{"name": name, "batch_size": batch, "outputs": outputs, "names": inputs}],
        "executors": [{"name": "runtime", "network": name, "data": list(inputs), "output": list(outputs)}],
    }
    save(path(f"{BACKEND}_{name}.nnp"), contents)
    save(path(f"{BACKEND}_{name}.nntxt"), contents, include_params=True)
    ref = {}
    forward_reference(name, build, batch, ref)
    forward_reference(name, build, other_batch, ref)
    np.savez(path(f"{BACKEND}_{name}_ref.npz"), **ref)


def save_rule_networks():
    for name, (build, batch) in networks.RULE_NETWORKS.items():
        nn.clear_parameters()
        inputs, outputs = build(nn, F, PF, batch)
        contents = {"networks": [{"name": name, "batch_size": batch, "outputs": outputs, "names": inputs}]}
        save(path(f"{BACKEND}_rule_{name}.nntxt"), contents)


# -- load ------------------------------------------------------------------------------------------------------------
def network_from_nnp_loader(filename, name, batch):
    net = NnpLoader(filename).get_network(name, batch_size=batch)
    return net.inputs, net.outputs, None


def _executor_summary(executor):
    if BACKEND == "nnabla":
        data = [v.name for v in executor.dataset_assign]
        output = [v.name for v in executor.output_assign]
    else:
        data, output = list(executor.data_variables), list(executor.output_variables)
    return {"data": data, "output": output}


def network_from_load(filename, name, batch):
    info = load([filename], prepare_data_iterator=False, batch_size=batch)
    net = info.networks[name]
    if BACKEND == "nnabla":  # a ProtoNetwork: names of inputs/outputs, ProtoVariables holding the Variables
        inputs = OrderedDict((n, net.variables[n].variable_instance) for n in net.inputs)
        outputs = OrderedDict((n, net.variables[n].variable_instance) for n in net.outputs)
    else:
        inputs, outputs = net.inputs, net.outputs
    return inputs, outputs, _executor_summary(info.executors["runtime"])


def matching_batch(inputs, ref, batches):
    """The reference batch size whose input arrays have the loaded inputs' shapes (None if there is none)."""
    for batch in batches:
        if all(f"in.{batch}.{k}" in ref and ref[f"in.{batch}.{k}"].shape == tuple(v.shape) for k, v in inputs.items()):
            return batch
    return None


MAKERS = {"NnpLoader": network_from_nnp_loader, "load": network_from_load}


def run_loaded(job, ref, arrays):
    """Load and run one (network, extension, loader, batch size) job; the outputs go into ``arrays``."""
    name, ext, loader, batch = job
    nn.clear_parameters()
    inputs, outputs, executor = MAKERS[loader](path(f"{OTHER}_{name}.{ext}"), name, batch)
    fed = matching_batch(inputs, ref, (batch,) + networks.NETWORKS[name][1:])
    result = {
        "inputs": {k: list(v.shape) for k, v in inputs.items()},
        "outputs": list(outputs),
        "fed_batch": fed,
        "executor": executor,
    }
    if fed is not None:
        for k, v in inputs.items():
            v.d = ref[f"in.{fed}.{k}"]
        nn.forward_all(list(outputs.values()))
        for k, v in outputs.items():
            arrays[f"{name}.{ext}.{loader}.{batch}.{k}"] = np.array(v.d)
    return result


def load_jobs():
    for name, (_, batch, other_batch) in networks.NETWORKS.items():
        for ext in EXTENSIONS:
            for loader in LOADERS:
                for bs in (batch, other_batch):
                    yield name, ext, loader, bs


def load_networks():
    results, arrays = {}, {}
    refs = {name: dict(np.load(path(f"{OTHER}_{name}_ref.npz"))) for name in networks.NETWORKS}
    for job in load_jobs():
        key = ".".join(str(part) for part in job)
        try:
            results[key] = run_loaded(job, refs[job[0]], arrays)
        except Exception as e:
            results[key] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    np.savez(path(f"{BACKEND}_loaded.npz"), **arrays)
    write_json(f"{BACKEND}_loaded.json", results)


# -- training configuration ------------------------------------------------------------------------------------------
def train(graph, steps=3):
    for step in range(steps):
        x, t = networks.training_data(step)
        graph["x"].d, graph["t"].d = x, t
        for solver in graph["solvers"].values():
            solver.zero_grad()
            graph["loss"].forward()
            graph["loss"].backward()
            solver.update()


def dump_states(solver, arrays, prefix):
    for pname, state in solver.get_states().items():
        arrays[f"{prefix}.{pname}.t"] = np.asarray(int(state.t))
        for sname, var in state.pstate.items():
            arrays[f"{prefix}.{pname}.{sname}"] = np.array(var.d, dtype=np.float32)


def train_save():
    nn.clear_parameters()
    contents, graph = networks.training_contents(nn, F, PF, S, get_extension_context("cpu"))
    train(graph)
    save(path(f"{BACKEND}_train.nnp"), contents, include_solver_state=True)
    save(path(f"{BACKEND}_train_pbstate.nnp"), contents, include_solver_state=True, solver_state_format=".protobuf")
    save(path(f"{BACKEND}_train.nntxt"), contents, include_params=True, include_solver_state=True)
    arrays = {}
    for name, solver in graph["solvers"].items():
        dump_states(solver, arrays, name)
    np.savez(path(f"{BACKEND}_train_states.npz"), **arrays)


def _variable_names(variables):
    """Names of nnabla's ProtoVariables (dict keys or list items) or nnl's name-keyed dicts, in order."""
    return [v if isinstance(v, str) else v.name for v in variables]


def _network_summary(net):
    # nnabla's ProtoNetwork lists input/output names and has a name-keyed parameters dict; nnl's NnpNetwork has
    # name-keyed dicts throughout: list() gives the names in both
    return {
        "batch_size": int(net.batch_size),
        "inputs": list(net.inputs),
        "outputs": list(net.outputs),
        "parameters": list(net.parameters),
    }


def _dataset_summary(info, name):
    # nnabla's Dataset object keeps only uri, cache_dir and normalize: the other fields come from the proto
    d = info.datasets[name]
    proto = [p for p in info.proto.dataset if p.name == name][0]
    summary = {
        "uri": d.uri,
        "cache_dir": d.cache_dir,
        "batch_size": int(proto.batch_size),
        "shuffle": bool(proto.shuffle),
        "variables": list(proto.variable),
    }
    summary["no_image_normalization"] = (not d.normalize) if BACKEND == "nnabla" else d.no_image_normalization
    if BACKEND == "nnl":
        summary.update(batch_size_attr=d.batch_size, shuffle_attr=d.shuffle, variables_attr=list(d.variables))
    return summary


def _solver_summary(solver):
    return {
        "name": solver.name,
        "info": {k: float(v) for k, v in solver.info.items()},
        "learning_rate": float(solver.learning_rate()),
        "parameters": sorted(solver.get_parameters()),
    }


def _optimizer_summary(o):
    summary = {
        "network": o.network.name,
        "solver": _solver_summary(o.solver),
        "update_interval": o.update_interval,
        "weight_decay": float(o.weight_decay),
        "lr_decay": float(o.lr_decay),
        "lr_decay_interval": int(o.lr_decay_interval),
    }
    if BACKEND == "nnabla":
        summary.update(
            datasets=list(o.data_iterators),
            data={v.name: d for v, d in o.dataset_assign.items()},
            loss=_variable_names(o.loss_variables),
            multipliers={v.name: float(m) for v, m in o.parameter_learning_rate_multipliers.items()},
        )
    else:
        summary.update(
            datasets=list(o.dataset_names),
            data=dict(o.data_variables),
            loss=list(o.loss_variables),
            multipliers={k: float(m) for k, m in o.parameter_learning_rate_multipliers.items()},
        )
    return summary


def _monitor_summary(m):
    if BACKEND == "nnabla":
        return {
            "network": m.network.name,
            "datasets": list(m.data_iterators),
            "data": {v.name: d for v, d in m.dataset_assign.items()},
            "monitor": _variable_names(m.monitor_variables),
        }
    return {
        "network": m.network.name,
        "datasets": list(m.dataset_names),
        "data": dict(m.data_variables),
        "monitor": list(m.monitor_variables),
    }


def _executor_info_summary(e):
    summary = {
        "network": e.network.name,
        "num_evaluations": int(e.num_evaluations),
        "repeat_evaluation_type": e.repeat_evaluation_type,
        "need_back_propagation": bool(e.need_back_propagation),
        "no_image_normalization": bool(e.no_image_normalization),
    }
    if BACKEND == "nnabla":
        summary.update(
            data={v.name: d for v, d in e.dataset_assign.items()},
            output={v.name: d for v, (_, d) in e.output_assign.items()},
            parameters=sorted(e.parameters.values()),
        )
    else:
        summary.update(data=dict(e.data_variables), output=dict(e.output_variables), parameters=sorted(e.parameters))
    return summary


def info_summary(info):
    ctx = info.global_config.default_context
    t = info.training_config
    return {
        "global_config": {"backend": list(ctx.backend), "array_class": ctx.array_class, "device_id": ctx.device_id},
        "training_config": {
            "max_epoch": int(t.max_epoch),
            "iter_per_epoch": int(t.iter_per_epoch),
            "save_best": bool(t.save_best),
            "monitor_interval": int(t.monitor_interval),
        },
        "networks": {k: _network_summary(v) for k, v in info.networks.items()},
        "datasets": {k: _dataset_summary(info, k) for k in info.datasets},
        "optimizers": {k: _optimizer_summary(v) for k, v in info.optimizers.items()},
        "monitors": {k: _monitor_summary(v) for k, v in info.monitors.items()},
        "executors": {k: _executor_info_summary(v) for k, v in info.executors.items()},
    }


def explicit_states(filename, info):
    """nnl: restore the solver states by hand: the .nnp's .optimizer members or the optimizers' in-proto states."""
    optimizers = info.optimizers
    if filename.endswith(".nntxt"):
        for o in optimizers.values():
            o.solver.set_states_from_protobuf(o.proto)
        return
    with zipfile.ZipFile(filename) as archive, tempfile.TemporaryDirectory() as tmp:
        for member in archive.namelist():
            if member.endswith(".protobuf.optimizer"):
                proto = nnabla_pb2.NNablaProtoBuf()
                proto.ParseFromString(archive.read(member))
                for op in proto.optimizer:
                    optimizers[op.name].solver.set_states_from_protobuf(op)
            elif member.endswith(".h5.optimizer"):
                o = [o for o in optimizers.values() if member == f"{o.name}_{o.solver.name}_optimizer.h5.optimizer"][0]
                extracted = os.path.join(tmp, "states.h5")
                with open(extracted, "wb") as f:
                    f.write(archive.read(member))
                o.solver.load_states(extracted)


def train_load():
    summaries, arrays = {}, {}
    for writer, stem in [(w, s) for w in (OTHER, BACKEND) for s in ("train.nnp", "train_pbstate.nnp", "train.nntxt")]:
        filename, stem = path(f"{writer}_{stem}"), f"{writer}_{stem}"
        nn.clear_parameters()
        try:
            info = load([filename], prepare_data_iterator=False)
            summaries[stem] = info_summary(info)
            for name, o in info.optimizers.items():
                dump_states(o.solver, arrays, f"{stem}.load.{name}")
            if BACKEND == "nnl":
                explicit_states(filename, info)
                for name, o in info.optimizers.items():
                    dump_states(o.solver, arrays, f"{stem}.explicit.{name}")
        except Exception as e:
            summaries[stem] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    write_json(f"{BACKEND}_train_info.json", summaries)
    np.savez(path(f"{BACKEND}_train_loaded_states.npz"), **arrays)


if CMD == "save":
    for net_name, (builder, saved_batch, another_batch) in networks.NETWORKS.items():
        save_network(net_name, builder, saved_batch, another_batch)
elif CMD == "rule_save":
    save_rule_networks()
elif CMD == "load":
    load_networks()
elif CMD == "train_save":
    train_save()
elif CMD == "train_load":
    train_load()
else:
    raise SystemExit("unknown command " + CMD)
print("ok")
