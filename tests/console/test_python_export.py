"""python_export.to_python: the exported code builds the same network as the compiled nntxt (nnl's NnpLoader):
same parameter names and shapes, same output shapes, and equal outputs on random input with the parameters copied."""

from __future__ import annotations

import inspect
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

import nnl as nn
from nnl.console import compile as C
from nnl.console.python_export import to_python
from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.graph import network_inputs
from nnl.utils.nnp_graph import NnpLoader

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nnc-samples"


def _project(name: str) -> dict:
    from nnl.console.sdcproj import read_sdcproj

    if not SAMPLES.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data {SAMPLES} is missing")
        pytest.skip(f"test data {SAMPLES} is missing")
    return read_sdcproj((SAMPLES / name).read_text(encoding="utf-8"))


def _exported(project: dict, network: str):
    """The ``network`` function of the exported code (executed in a fresh namespace)."""
    namespace: dict = {}
    exec(compile(to_python(project, network), f"<{network}>", "exec"), namespace)
    return namespace["network"]


def _bindings(proto, network: str) -> dict[str, str]:
    """Compiled input variable -> dataset variable, from the sections that use the network."""
    found = {}
    for section in (*proto.optimizer, *proto.monitor, *proto.executor):
        if section.network_name == network:
            found.update({d.variable_name: d.data_name for d in section.data_variable})
            # generator inputs (noise) are arguments named after the variable
            found.update({g.variable_name: g.variable_name for g in section.generator_variable})
    return found


def _compare(project: dict, drawn: str, compiled: str, test: bool, targets: bool, values: bool = True,
             batch: int = 2) -> None:
    proto = text_format.Parse(C.to_nntxt(project), pb.NNablaProtoBuf())
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "net.nntxt")
        with open(path, "w") as f:
            f.write(text_format.MessageToString(proto))
        reference = NnpLoader(path, scope=OrderedDict()).get_network(compiled, batch_size=batch)
    bindings = _bindings(proto, compiled)
    rng = np.random.RandomState(1)
    data: dict[str, np.ndarray] = {}  # one array per dataset column, whichever variables read it
    for name, variable in reference.inputs.items():
        column = bindings[name]
        if column not in data:
            sample = rng.rand(*variable.shape) if column == "x" else rng.randint(0, 2, variable.shape)
            data[column] = sample.astype(np.float32)
        variable.d = data[column]
    network = _exported(project, drawn)
    arguments = {}
    for argument in inspect.signature(network).parameters:
        column = argument[: -len("_target")] if argument.endswith("_target") else argument
        if column in data and (targets or not argument.endswith("_target") and column == "x"):
            arguments[argument] = nn.Variable.from_numpy_array(data[column].copy())

    nn.clear_parameters()
    try:
        outputs = network(**arguments, test=test)
        parameters = nn.get_parameters(grad_only=False)
        assert {k: v.shape for k, v in parameters.items()} == \
            {k: tuple(v.shape) for k, v in reference.parameters.items()}
        for name, variable in parameters.items():
            variable.d = reference.parameters[name].d
    finally:
        nn.clear_parameters()
    outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
    expected = list(reference.outputs.values())
    assert [o.shape for o in outputs] == [tuple(o.shape) for o in expected]
    if values:
        for mine, theirs in zip(outputs, expected):
            nn.seed(7)  # random layers (dropout, augmentation) draw the same numbers in both
            mine.forward()
            nn.seed(7)
            theirs.forward()
            np.testing.assert_allclose(mine.d, theirs.d, rtol=1e-4, atol=1e-5)


def test_lenet_code_reads_like_nnl():
    code = to_python(_project("image_recognition_MNIST_LeNet.sdcproj"), "Main")
    assert "def network(x, y=None, test=False):" in code
    assert "PF.convolution(x, outmaps=16, kernel=(7, 7), name='Convolution')" in code
    assert "F.categorical_cross_entropy(softmax, y, axis=1)" in code
    assert "# -> (16, 22, 22)" in code


@pytest.mark.parametrize("compiled,test,targets", [("Main", False, True), ("MainValidation", True, True),
                                                   ("MainRuntime", True, False)])
def test_lenet(compiled, test, targets):
    _compare(_project("image_recognition_MNIST_LeNet.sdcproj"), "Main", compiled, test, targets)


@pytest.mark.parametrize("compiled,test,targets", [("Main", False, True), ("MainValidation", True, True),
                                                   ("MainRuntime", True, False)])
def test_residual_learning_repeat_blocks_become_loops(compiled, test, targets):
    project = _project("tutorial_basics_12_residual_learning.sdcproj")
    code = to_python(project, "Main")
    assert "for i in range(2):" in code and "name=f'Convolution_5[{i}]'" in code
    _compare(project, "Main", compiled, test, targets)


def test_squeezenet_units_become_functions():
    project = _project("image_recognition_ILSVRC2012_squeezenet_squeezenet11.sdcproj")
    code = to_python(project, "Runtime")
    assert "def fire_module(input_, squeeze_maps=16, expand_maps=64, test=False):" in code
    assert "PF.convolution(input_, outmaps=squeeze_maps, kernel=(1, 1), name='Squeeze')" in code
    assert "fire_module_3 = fire_module(max_pooling_2, squeeze_maps=32, expand_maps=128, test=test)" in code
    assert "with nn.parameter_scope('FireModule_3'):" in code


@pytest.mark.parametrize("network", ["Training", "Top1Error", "Runtime"])
def test_squeezenet(network):
    _compare(_project("image_recognition_ILSVRC2012_squeezenet_squeezenet11.sdcproj"), network, network,
             test=False, targets=True)


@pytest.mark.parametrize("network", ["Training", "Validation", "Runtime"])
def test_resnet18(network):
    _compare(_project("image_recognition_ILSVRC2012_residual_networks_resnet-18.sdcproj"), network, network,
             test=False, targets=True, batch=1)


def test_unit_arguments_written_as_expressions():
    """The Squeeze-and-Excitation unit: OutMaps=Input[0]/SqueezeRatio becomes code on the input's shape."""
    project = _project("unit_SqueezeAndExcitation.sdcproj")
    main = project["networks"][0]
    unit = {"name": "SE", "layers": [dict(layer) for layer in main["layers"]], "links": main["links"],
            "comments": []}
    size = next(layer for layer in unit["layers"] if layer["type"] == "Input")["properties"]["Size"]
    top = {"name": "Main", "comments": [], "layers": [
        {"id": 0, "type": "Input", "name": "Input", "x": 0, "y": 0, "width": 240, "height": 48,
         "properties": {"Size": size, "Dataset": "x"}},
        {"id": 1, "type": "Unit", "name": "SE", "x": 0, "y": 72, "width": 240, "height": 48,
         "properties": {"Network": "SE", "ParameterScope": "*Name"}},
    ], "links": [{"id": 0, "source": 0, "source_pin": 0, "dest": 1, "dest_pin": 0}]}
    project = dict(project, networks=[top, unit], optimizers=[], monitors=[],
                   executors=[{"name": "Executor", "network": "Main", "dataset": "Validation"}])
    code = to_python(project, "Main")
    assert ".shape[1]" in code and "squeeze_ratio" in code
    _compare(project, "Main", "Main", test=False, targets=False)


def test_errors_name_the_network_and_layer():
    project = _project("image_recognition_MNIST_LeNet.sdcproj")
    with pytest.raises(ValueError, match="'Elsewhere' is not in the project"):
        to_python(project, "Elsewhere")
    layer = next(x for x in project["networks"][0]["layers"] if x["type"] == "Convolution")
    layer["properties"]["KernelShape"] = "40,40"
    with pytest.raises(ValueError, match="layer 'Convolution'"):
        to_python(project, "Main")


@pytest.mark.parametrize("sample", ["classification_iris_iris", "tutorial_basics_06_auto_encoder",
                                    "tutorial_basics_11_deconvolution", "tutorial_binary_networks_binary_connect_mnist_LeNet",
                                    "tutorial_binary_networks_binary_weight_mnist_MLP"])
def test_more_samples(sample):
    project = _project(sample + ".sdcproj")
    for compiled, test, targets in (("Main", False, True), ("MainValidation", True, True),
                                    ("MainRuntime", True, False)):
        _compare(project, "Main", compiled, test, targets)


def test_unit_inputs_are_what_the_caller_connects():
    """Compiler fix: a unit's Input layer passes its caller's variable through (it is no dataset input)."""
    project = _project("image_recognition_ILSVRC2012_squeezenet_squeezenet11.sdcproj")
    proto = text_format.Parse(C.to_nntxt(project), pb.NNablaProtoBuf())
    runtime = next(n for n in proto.network if n.name == "Runtime")
    assert network_inputs(runtime) == ["Input"]
    assert [d.variable_name for d in proto.executor[0].data_variable] == ["Input"]


def test_recurrent_loops_are_refused_clearly():
    project = _project("tutorial_recurrent_neural_networks_elman_net.sdcproj")
    with pytest.raises(ValueError, match="layer 'Delay' .*recurrent loops"):
        to_python(project, "Main")
