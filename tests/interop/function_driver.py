"""Run one-function NNP files with nnl or the real nnabla (``python function_driver.py <backend> <dir> [start]``).

<dir>/manifest.json lists the cases: ``{"id", "file", "inputs": [names], "outputs": [names]}``; <dir>/inputs.npz holds
the input arrays as ``<file>.<input>``. From case number ``start`` (default 0) on, each file is loaded with
``NnpLoader`` (network ``net``, its saved batch size), fed and run forward; the outputs go to
<dir>/<file>.<backend>.npz. A case that fails (load, build, shapes or forward) is appended to
<dir>/<backend>_errors.jsonl as ``{"id", "stage", "error"}`` and the run goes on. Cases marked ``"dynamic"``
(functions whose output shapes depend on input values) are built in dynamic mode instead: the inputs, holding the
data, are put in with ``NnpNetworkPass.set_variable`` and the network is built under ``nn.auto_forward()`` (a
static graph fixes such shapes when it is built, before any data is there). Before each case its number is
written to <dir>/<backend>_progress.txt, so that whoever runs this can tell which case killed the process (nnabla's
C++ code can die of a signal) and start again after it.
"""

import json
import os
import sys

import numpy as np

BACKEND, DIR = sys.argv[1], sys.argv[2]
if BACKEND == "nnabla":
    import nnabla as nn
    from nnabla.utils.nnp_graph import NnpLoader, NnpNetworkPass
else:
    import nnl as nn
    from nnl.utils.nnp_graph import NnpLoader, NnpNetworkPass


def _error(stage, e):
    lines = str(e).strip().splitlines()
    message = lines[-1] if lines else ""
    return {"stage": stage, "error": f"{type(e).__name__}: {message}"[:600]}


def _feed(net, case, inputs):
    for name in case["inputs"]:
        array = inputs[f"{case['file']}.{name}"]
        v = net.variables[name]
        if tuple(v.shape) != array.shape:
            raise ValueError(f"input {name} has shape {tuple(v.shape)} in the loaded network, the data {array.shape}")
        v.d = array


def _dynamic_network(loader, case, inputs):
    callback = NnpNetworkPass()
    for name in case["inputs"]:
        callback.set_variable(name, nn.Variable.from_numpy_array(inputs[f"{case['file']}.{name}"]))
    with nn.auto_forward():
        return loader.get_network("net", callback=callback)


def run_case(case, inputs):
    """Returns None, or the error as ``{"stage", "error"}``."""
    stage = "load"
    try:
        nn.clear_parameters()
        loader = NnpLoader(os.path.join(DIR, case["file"]))
        if case["dynamic"]:
            net = _dynamic_network(loader, case, inputs)
            outputs = [net.variables[name] for name in case["outputs"]]
        else:
            net = loader.get_network("net")
            stage = "feed"
            _feed(net, case, inputs)
            stage = "forward"
            outputs = [net.variables[name] for name in case["outputs"]]
            nn.forward_all(outputs)
        arrays = {name: np.array(v.d) for name, v in zip(case["outputs"], outputs)}
        np.savez(os.path.join(DIR, f"{case['file']}.{BACKEND}.npz"), **arrays)
    except Exception as e:  # every failure is data here: the test reports it per case
        return _error(stage, e)
    return None


def _write(name, text, mode="w"):
    with open(os.path.join(DIR, name), mode) as f:
        f.write(text)


def main():
    start = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    with open(os.path.join(DIR, "manifest.json")) as f:
        cases = json.load(f)
    inputs = np.load(os.path.join(DIR, "inputs.npz"))
    failed = 0
    for index in range(start, len(cases)):
        _write(f"{BACKEND}_progress.txt", str(index))
        error = run_case(cases[index], inputs)
        if error is not None:
            failed += 1
            _write(f"{BACKEND}_errors.jsonl", json.dumps({"id": cases[index]["id"], **error}) + "\n", "a")
    print(f"ok: {len(cases) - start - failed} run, {failed} failed")


main()
