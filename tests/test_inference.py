"""nnl.inference: run a saved model with NumPy only, and `nnl convert` between NNP formats."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
from nnl.cli.main import main as cli
from nnl.inference import Model
from nnl.nnp.container import read_nnp
from nnl.utils.save import save


@pytest.fixture
def model_file(tmp_path):
    nn.clear_parameters()
    nn.seed(3)
    x = nn.Variable((2, 1, 8, 8))
    h = F.relu(PF.batch_normalization(PF.convolution(x, 3, (3, 3), name="c"), batch_stat=False, name="bn"))
    y = F.softmax(PF.affine(h, 5, name="fc"))
    path = tmp_path / "m.nnp"
    save(str(path), {"networks": [{"name": "net", "batch_size": 2, "outputs": {"y": y}, "names": {"x": x}}],
                     "executors": [{"name": "runtime", "network": "net", "data": ["x"], "output": ["y"]}]})
    return path, x, y


def test_model_matches_the_graph(model_file):
    path, x, y = model_file
    data = np.random.RandomState(0).randn(4, 1, 8, 8).astype(np.float32)
    model = Model(str(path))
    assert model.input_names == ["x"] and model.output_names == ["y"]
    assert model.input_shapes == {"x": (-1, 1, 8, 8)}
    out = model(data)["y"]
    from nnl.utils.nnp_graph import NnpLoader

    net = NnpLoader(str(path)).get_network("net", batch_size=4)
    net.inputs["x"].d = data
    net.outputs["y"].forward()
    np.testing.assert_array_equal(out, net.outputs["y"].d)
    # another batch size, another graph (BLAS may round differently for another shape)
    np.testing.assert_allclose(model({"x": data[:1]})["y"], out[:1], rtol=1e-5, atol=1e-7)


def test_model_errors(model_file):
    model = Model(str(model_file[0]))
    with pytest.raises(ValueError, match=r"input 'x' has shape \(2, 8, 8\)"):
        model(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="unknown inputs"):
        model({"z": np.zeros((1, 1, 8, 8))})


def test_inference_imports_no_training_machinery(model_file):
    code = (
        "import sys, numpy as np, nnl.inference as I;"
        f"I.Model({str(model_file[0])!r})(np.zeros((1, 1, 8, 8), np.float32));"
        "bad = [m for m in sys.modules if m.startswith(('nnl.solver', 'nnl.parametric', 'nnl.utils.data', 'torch',"
        " 'onnx', 'nnl.onnx'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("ext", [".nntxt", ".protobuf", ".nnp"])
def test_convert_between_nnp_formats(model_file, tmp_path, ext):
    path = model_file[0]
    out = tmp_path / f"out{ext}"
    assert cli(["convert", str(path), str(out)]) == 0
    a, b = read_nnp(str(path)), read_nnp(str(out))
    assert a.proto == b.proto
    assert list(a.parameters) == list(b.parameters)
    for k in a.parameters:
        np.testing.assert_array_equal(a.parameters[k], b.parameters[k])


def test_convert_errors(model_file, tmp_path, capsys):
    assert cli(["convert", str(model_file[0]), str(tmp_path / "x.foo")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert cli(["convert", str(tmp_path / "missing.nnp"), str(tmp_path / "x.nnp")]) == 2


def test_convert_to_onnx_runs_in_onnxruntime(model_file, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = model_file[0]
    out = tmp_path / "m.onnx"
    assert cli(["convert", str(path), str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    data = np.random.RandomState(2).randn(3, 1, 8, 8).astype(np.float32)
    (y,) = session.run(None, {"x": data})
    np.testing.assert_allclose(y, Model(str(path))(data)["y"], rtol=1e-4, atol=1e-6)


def test_convert_onnx_back_to_nnp(model_file, tmp_path):
    pytest.importorskip("onnx")
    path = model_file[0]
    assert cli(["convert", str(path), str(tmp_path / "m.onnx")]) == 0
    assert cli(["convert", str(tmp_path / "m.onnx"), str(tmp_path / "back.nnp")]) == 0
    data = np.random.RandomState(4).randn(2, 1, 8, 8).astype(np.float32)
    (expected,) = Model(str(path))(data).values()
    (again,) = Model(str(tmp_path / "back.nnp"))(data).values()
    np.testing.assert_allclose(again, expected, rtol=1e-5, atol=1e-6)
