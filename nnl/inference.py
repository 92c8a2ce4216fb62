"""Inference from a model file with nothing but NumPy at run time (no solvers, data, torch or onnx imported).

>>> import nnl as nn, nnl.functions as F, nnl.parametric_functions as PF, numpy as np, tempfile, os
>>> from nnl.utils.save import save
>>> x = nn.Variable((2, 3)); y = F.softmax(PF.affine(x, 4, name="fc"))
>>> path = os.path.join(tempfile.mkdtemp(), "m.nnp")
>>> save(path, {"networks": [{"name": "net", "batch_size": 2, "outputs": {"y": y}, "names": {"x": x}}],
...             "executors": [{"name": "runtime", "network": "net", "data": ["x"], "output": ["y"]}]})
>>> model = Model(path)
>>> model.input_names, model.output_names
(['x'], ['y'])
>>> out = model(np.ones((5, 3), np.float32))
>>> out["y"].shape, bool(np.allclose(out["y"].sum(axis=1), 1))
((5, 4), True)

For C++ deployment export the model to ONNX (``nnl convert model.nnp model.onnx``) and run it with ONNX Runtime's
C/C++ API; see docs/deployment.md.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nnl.core.graph import forward_all
from nnl.nnp.container import NnpFile, read_nnp
from nnl.nnp.graph import NnpNetwork, build_network, network_inputs, network_outputs

__all__ = ["Model", "load"]


class Model:
    """A network of an ``.nnp``/``.nntxt`` file ready to run on NumPy arrays.

    ``network`` (default: the network of ``executor``, else of the file's first executor, else the first network)
    picks what to run; inputs and outputs are the executor's data and output variables, else the network's free
    inputs and outputs. The batch size follows the inputs given (one graph is kept per batch size).
    """

    def __init__(self, source: Any, network: str | None = None, executor: str | None = None) -> None:
        self.nnp: NnpFile = source if isinstance(source, NnpFile) else read_nnp(source)
        chosen = self._executor(executor) if network is None else None
        self.network_name = network or (chosen.network_name if chosen is not None else self.nnp.network().name)
        proto = self.nnp.network(self.network_name)
        if chosen is not None:
            self.input_names = [v.variable_name for v in chosen.data_variable]
            self.output_names = [v.variable_name for v in chosen.output_variable]
        else:
            self.input_names, self.output_names = network_inputs(proto), network_outputs(proto)
        declared = {v.name: tuple(v.shape.dim) for v in proto.variable}
        self.input_shapes = {name: declared[name] for name in self.input_names}
        self._graphs: dict[int, NnpNetwork] = {}

    def _executor(self, name: str | None) -> Any:
        executors = list(self.nnp.proto.executor)
        if name is None:
            return executors[0] if executors else None
        for e in executors:
            if e.name == name:
                return e
        raise ValueError(f"Model: no executor named {name!r}; the file has {[e.name for e in executors]}.")

    def _graph(self, batch_size: int) -> NnpNetwork:
        graph = self._graphs.get(batch_size)
        if graph is None:
            graph = build_network(self.nnp, self.network_name, batch_size, parameter_scope=False)
            self._graphs[batch_size] = graph
        return graph

    def _named(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            unknown = set(inputs) - set(self.input_names)
            if unknown:
                raise ValueError(f"Model: unknown inputs {sorted(unknown)}; the model's inputs are {self.input_names}.")
            named = dict(inputs)
        else:
            arrays = [inputs] if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence) else list(inputs)
            if len(arrays) != len(self.input_names):
                raise ValueError(f"Model: {len(arrays)} inputs given, the model takes {self.input_names}.")
            named = dict(zip(self.input_names, arrays))
        missing = [n for n in self.input_names if n not in named]
        if missing:
            raise ValueError(f"Model: missing inputs {missing}.")
        return {k: np.asarray(v) for k, v in named.items()}

    def __call__(self, inputs: Any = None, **named_inputs: Any) -> OrderedDict[str, np.ndarray]:
        """Run on ``inputs`` (one array, a list in input order, or a dict by name); returns outputs by name."""
        arrays = self._named(named_inputs if inputs is None else inputs)
        first = arrays[self.input_names[0]]
        batch = int(first.shape[0]) if first.ndim else 1
        graph = self._graph(batch)
        for name, array in arrays.items():
            var = graph.variables[name]
            if tuple(array.shape) != tuple(var.shape):
                raise ValueError(f"Model: input {name!r} has shape {tuple(array.shape)}, expected {tuple(var.shape)} "
                                 f"(declared {self.input_shapes[name]}, -1 being the batch).")
            var.d = array
        outputs = [graph.variables[name] for name in self.output_names]
        forward_all(outputs, clear_buffer=True)
        return OrderedDict((name, v.d.copy()) for name, v in zip(self.output_names, outputs))

    run = __call__


def load(path: Any, network: str | None = None, executor: str | None = None) -> Model:
    """``Model(path, network, executor)``."""
    return Model(path, network, executor)
