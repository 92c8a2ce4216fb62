"""analysis.analyze: shapes and NNC's statistics, checked by independent arithmetic; errors name the broken layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nnl.console import analysis

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nnc-samples"


def _project(name: str) -> dict:
    from nnl.console.sdcproj import read_sdcproj

    if not SAMPLES.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data {SAMPLES} is missing")
        pytest.skip(f"test data {SAMPLES} is missing")
    return read_sdcproj((SAMPLES / name).read_text(encoding="utf-8"))


def _by_name(project: dict, result: dict) -> dict:
    names = {str(layer["id"]): layer["name"] for layer in project["networks"][0]["layers"]}
    return {names[k]: v for k, v in result["layers"].items()}


def test_lenet_shapes_and_costs_by_hand():
    project = _project("image_recognition_MNIST_LeNet.sdcproj")
    result = analysis.analyze(project, "Main")
    layers = _by_name(project, result)
    assert result["errors"] == []
    # 28 - 7 + 1 = 22 (valid 7x7), pool 2 -> 11, 11 - 3 + 1 = 9 (valid 3x3), pool 2 (ignore border) -> 4
    assert layers["Convolution"]["output_shape"] == [16, 22, 22]
    assert layers["MaxPooling"]["output_shape"] == [16, 11, 11]
    assert layers["Convolution_2"]["output_shape"] == [30, 9, 9]
    assert layers["MaxPooling_2"]["output_shape"] == [30, 4, 4]
    assert layers["Affine"]["output_shape"] == [150] and layers["Affine_2"]["output_shape"] == [10]
    conv1, conv2 = layers["Convolution"]["statistics"], layers["Convolution_2"]["statistics"]
    assert conv1["CostParameter"] == 16 * 1 * 7 * 7 + 16
    assert conv2["CostParameter"] == 30 * 16 * 3 * 3 + 30
    assert conv1["CostMultiplyAdd"] == (16 * 22 * 22) * (1 * 7 * 7)
    assert conv2["CostMultiplyAdd"] == (30 * 9 * 9) * (16 * 3 * 3)
    assert conv1["CostAdd"] == 16 * 22 * 22  # the bias
    affine = layers["Affine"]["statistics"]
    assert affine["CostParameter"] == 480 * 150 + 150 and affine["CostMultiplyAdd"] == 480 * 150
    assert layers["MaxPooling"]["statistics"]["CostIf"] == 16 * 11 * 11 * 4
    assert layers["Softmax"]["statistics"]["CostExp"] == 10
    params = 16 * 49 + 16 + 30 * 144 + 30 + 480 * 150 + 150 + 150 * 10 + 10
    assert result["total"]["CostParameter"] == params


def test_macs_match_an_independent_count():
    """Count multiply-adds of a convolution by looping over output positions (independent of the formula)."""
    project = _project("tutorial_basics_02_binary_cnn.sdcproj")
    layers = _by_name(project, analysis.analyze(project, "Main"))
    c, h, w = layers["Convolution"]["output_shape"]
    count = 0
    for _ in range(c):
        for _ in range(h * w):
            count += 1 * 5 * 5  # one input channel, 5x5 kernel
    assert layers["Convolution"]["statistics"]["CostMultiplyAdd"] == count
    assert layers["Affine"]["statistics"]["CostMultiplyAdd"] == (8 * 4 * 4) * 10


def test_repeat_blocks_count_every_repetition():
    project = _project("tutorial_basics_12_residual_learning.sdcproj")
    result = analysis.analyze(project, "Main")
    layers = _by_name(project, result)
    once = (64 * 16 * 16) * 64  # 1x1 convolution 64 -> 64 maps on 16x16
    assert layers["Convolution_5"]["statistics"]["CostMultiplyAdd"] == 2 * once  # Times=2


def test_every_sample_analyses_without_error():
    for path in sorted(SAMPLES.glob("*.sdcproj")) if SAMPLES.is_dir() else []:
        if path.name == "unit_LSTM.sdcproj":
            continue  # refers to properties of the unit that calls it
        project = _project(path.name)
        for net in project["networks"]:
            result = analysis.analyze(project, net["name"])
            assert result["errors"] == [], (path.name, net["name"])
            assert result["total"]["CostParameter"] >= 0


def test_wrong_reshape_names_the_layer_and_downstream_is_unknown():
    project = _project("image_recognition_MNIST_LeNet.sdcproj")
    net = project["networks"][0]
    affine = next(x for x in net["layers"] if x["name"] == "Affine")
    affine["type"], affine["properties"] = "Reshape", {"OutShape": "7,7,7"}  # 480 elements cannot become 343
    result = analysis.analyze(project, "Main")
    layers = _by_name(project, result)
    assert layers["Affine"]["error"] and "'Affine' (Reshape)" in layers["Affine"]["error"]
    assert layers["Affine"]["output_shape"] is None
    assert layers["ReLU_2"]["output_shape"] is None and layers["ReLU_2"]["error"] is None
    assert layers["Convolution"]["output_shape"] == [16, 22, 22]


def test_mismatched_add2_names_the_layer():
    project = _project("image_recognition_MNIST_LeNet.sdcproj")
    net = project["networks"][0]
    ids = {x["name"]: x["id"] for x in net["layers"]}
    net["layers"].append({"id": 900, "type": "Add2", "name": "Add2", "x": 0, "y": 0, "width": 240, "height": 48,
                          "properties": {}})
    net["links"] += [{"id": 901, "source": ids["Convolution"], "source_pin": 0, "dest": 900, "dest_pin": 0},
                     {"id": 902, "source": ids["Convolution_2"], "source_pin": 0, "dest": 900, "dest_pin": 0}]
    layers = _by_name(project, analysis.analyze(project, "Main"))
    assert "'Add2' (Add2)" in layers["Add2"]["error"]
    assert "(16, 22, 22)" in layers["Add2"]["error"] or "16, 22, 22" in layers["Add2"]["error"]
