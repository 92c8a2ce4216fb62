"""How the real nnabla unrolls NNC loops (``python loops_driver.py <out.json> <file.nntxt>...``).

Each file is loaded with ``nnabla.utils.load.load([path], prepare_data_iterator=False, batch_size=2)`` (which expands
the loops and removes the identities they leave); for every network the JSON gets its forward sequence (name, type,
inputs, outputs, axis of Split/Stack), its variables and parameters (declared shape, built shape) and its
inputs/outputs.
"""

import json
import logging
import sys

import nnabla as nn
import nnabla.utils.load as nnabla_load
from nnabla.logger import logger

logger.setLevel(logging.ERROR)


def _function(pf):
    axis = pf.args.get("axis") if pf.type in ("Split", "Stack") and pf.args else None
    return [pf.name, pf.type, list(pf.inputs), list(pf.outputs), axis]


def _variable(pv):
    instance = getattr(pv, "variable_instance", None)
    return [list(pv.shape), list(instance.shape) if instance is not None else None]


def _network(net):
    return {
        "forward": [_function(pf) for pf in net.forward_sequence()],
        "functions": [[pf.name, pf.type] for pf in net.functions.values()],
        "variables": {k: _variable(pv) for k, pv in net.variables.items()},
        "parameters": {k: _variable(pv) for k, pv in net.parameters.items()},
        "inputs": list(net.inputs),
        "outputs": list(net.outputs),
    }


def main(out, paths):
    result = {}
    for path in paths:
        nn.clear_parameters()
        info = nnabla_load.load([path], prepare_data_iterator=False, batch_size=2)
        result[path] = {name: _network(net) for name, net in info.networks.items()}
    with open(out, "w") as f:
        json.dump(result, f)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
