"""`nnl infer`: nnabla_cli's raw binary inputs and .bin outputs, plus image and .npy inputs and --print."""

from __future__ import annotations

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
from nnl.cli.main import main as cli
from nnl.inference import Model
from nnl.utils.image_utils import imsave
from nnl.utils.save import save


def _save_classifier(path, no_image_normalization=None):
    nn.clear_parameters()
    nn.seed(3)
    x = nn.Variable((2, 1, 8, 8))
    h = F.relu(PF.convolution(x, 3, (3, 3), name="c"))
    y = F.softmax(PF.affine(h, 7, name="fc"))
    executor = {"name": "runtime", "network": "net", "data": ["x"], "output": ["y"]}
    if no_image_normalization is not None:
        executor["no_image_normalization"] = no_image_normalization
    save(str(path), {"networks": [{"name": "net", "batch_size": 2, "outputs": {"y": y}, "names": {"x": x}}],
                     "executors": [executor]})
    return path


@pytest.fixture
def model_path(tmp_path):
    return _save_classifier(tmp_path / "m.nnp")


def test_raw_binary_inputs_and_bin_outputs(model_path, tmp_path):
    data = np.random.RandomState(0).rand(3, 1, 8, 8).astype(np.float32)
    data.tofile(tmp_path / "x.bin")
    prefix = tmp_path / "out" / "result"
    assert cli(["infer", "-c", str(model_path), "-o", str(prefix), str(tmp_path / "x.bin")]) == 0
    expected = Model(str(model_path))(data)["y"]
    got = np.fromfile(f"{prefix}_0.bin", np.float32)
    np.testing.assert_allclose(got, expected.ravel(), rtol=1e-6, atol=1e-7)
    # nnabla_cli's -b: the file holds exactly that many samples
    assert cli(["infer", "-c", str(model_path), "-b", "3", "-o", str(prefix), str(tmp_path / "x.bin")]) == 0


def test_uint8_inputs_are_fed_raw(model_path, tmp_path):
    data = np.arange(64, dtype=np.uint8).reshape(1, 1, 8, 8)
    data.tofile(tmp_path / "x.raw")
    data.tofile(tmp_path / "x_uint8.bin")  # with the default float32 type, the name decides (as in nnabla_cli)
    expected = Model(str(model_path))(data.astype(np.float32))["y"]
    for argv in (["-t", "uint8", str(tmp_path / "x.raw")], [str(tmp_path / "x_uint8.bin")]):
        assert cli(["infer", "-c", str(model_path), "-o", str(tmp_path / "o")] + argv) == 0
        np.testing.assert_allclose(np.fromfile(tmp_path / "o_0.bin", np.float32), expected.ravel(), rtol=1e-6)


def test_wrong_binary_size_says_the_expected_count(model_path, tmp_path, capsys):
    np.zeros(50, np.float32).tofile(tmp_path / "x.bin")
    assert cli(["infer", "-c", str(model_path), str(tmp_path / "x.bin")]) == 2
    err = capsys.readouterr().err
    assert "x.bin: 50 float32 values" in err and "multiple of 64" in err
    np.zeros(64, np.float32).tofile(tmp_path / "y.bin")
    assert cli(["infer", "-c", str(model_path), "-b", "2", str(tmp_path / "y.bin")]) == 2
    assert "needs 128" in capsys.readouterr().err
    assert cli(["infer", "-c", str(model_path), str(tmp_path / "missing.bin")]) == 2
    assert "missing.bin" in capsys.readouterr().err


def _images(tmp_path, n=2):
    rng = np.random.RandomState(1)
    paths, arrays = [], []
    for i in range(n):
        image = rng.randint(0, 256, (8, 8)).astype(np.uint8)
        path = tmp_path / f"digit{i}.png"
        imsave(str(path), image)
        paths.append(str(path))
        arrays.append(image)
    return paths, np.stack(arrays)[:, None].astype(np.float32)


def test_image_inputs_are_normalized_and_printed(model_path, tmp_path, capsys):
    paths, pixels = _images(tmp_path)
    assert cli(["infer", "-c", str(model_path), "--print", "-o", str(tmp_path / "o")] + paths) == 0
    expected = Model(str(model_path))(pixels / 255)["y"]
    np.testing.assert_allclose(np.fromfile(tmp_path / "o_0.bin", np.float32), expected.ravel(), rtol=1e-5)
    out = capsys.readouterr().out
    assert "y: shape (2, 7)" in out
    best = int(np.argmax(expected[1]))
    assert f"[1] {best}: {expected[1, best]:.4f}" in out
    assert out.count("[0]") == 1 and len(out.split("[0]")[1].splitlines()[0].split(",")) == 5  # top-5


def test_no_image_normalization_feeds_raw_pixels(tmp_path, capsys):
    path = _save_classifier(tmp_path / "raw.nnp", no_image_normalization=True)
    paths, pixels = _images(tmp_path, 1)
    assert cli(["infer", "-c", str(path), "-o", str(tmp_path / "o"), paths[0]]) == 0
    expected = Model(str(path))(pixels)["y"]
    np.testing.assert_allclose(np.fromfile(tmp_path / "o_0.bin", np.float32), expected.ravel(), rtol=1e-5)


def test_npy_inputs_and_an_unreadable_image(model_path, tmp_path, capsys):
    data = np.random.RandomState(2).rand(1, 8, 8).astype(np.float32)  # one sample without the batch axis
    np.save(tmp_path / "x.npy", data)
    assert cli(["infer", "-c", str(model_path), str(tmp_path / "x.npy")]) == 0  # no -o: printed
    assert "y: shape (1, 7)" in capsys.readouterr().out
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert cli(["infer", "-c", str(model_path), str(tmp_path / "bad.png")]) == 2
    assert "bad.png: cannot read the image" in capsys.readouterr().err


def test_two_inputs_two_outputs_and_executor_choice(tmp_path, capsys):
    nn.clear_parameters()
    a, b = nn.Variable((1, 3)), nn.Variable((1, 2))
    s = F.concatenate(a, b, axis=1)
    y1, y2 = F.sum(s, axis=1, keepdims=True), s * 2
    path = tmp_path / "two.nnp"
    save(str(path), {"networks": [{"name": "net", "batch_size": 1, "outputs": {"y1": y1, "y2": y2},
                                   "names": {"a": a, "b": b}}],
                     "executors": [{"name": "first", "network": "net", "data": ["a", "b"], "output": ["y1"]},
                                   {"name": "both", "network": "net", "data": ["a", "b"], "output": ["y1", "y2"]}]})
    np.array([1, 2, 3], np.float32).tofile(tmp_path / "a.bin")
    np.array([10, 20], np.float32).tofile(tmp_path / "b.bin")
    files = [str(tmp_path / "a.bin"), str(tmp_path / "b.bin")]
    assert cli(["infer", "-c", str(path), "-e", "both", "-o", str(tmp_path / "r")] + files) == 0
    np.testing.assert_array_equal(np.fromfile(tmp_path / "r_0.bin", np.float32), [36])
    np.testing.assert_array_equal(np.fromfile(tmp_path / "r_1.bin", np.float32), [2, 4, 6, 20, 40])
    assert cli(["infer", "-c", str(path), files[0]]) == 2
    assert "1 input files for the model's 2 inputs ['a', 'b']" in capsys.readouterr().err
    assert cli(["infer", "-c", str(path), "-e", "nope"] + files) == 2
    assert "no executor named 'nope'" in capsys.readouterr().err
