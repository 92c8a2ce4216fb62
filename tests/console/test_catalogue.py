"""The palette: NNC's categories and order, supported layers only, properties as the layer table has them."""

from __future__ import annotations

from nnl.console import catalogue
from nnl.console.layers import LAYERS, is_supported, parse_value
from nnl.functions import registry

SAMPLE_LAYERS = {"Input", "Affine", "Convolution", "Deconvolution", "MaxPooling", "AveragePooling",
                 "GlobalAveragePooling", "Unpooling", "Tanh", "Sigmoid", "ReLU", "ELU", "PReLU", "LeakyReLU", "Softmax",
                 "BatchNormalization", "Dropout", "Concatenate", "Reshape", "Slice", "Identity", "Add2", "Mul2",
                 "AddScalar", "MulScalar", "PowScalar", "GreaterEqualScalar", "Exp", "Sum", "BinaryCrossEntropy",
                 "SigmoidCrossEntropy", "CategoricalCrossEntropy", "SoftmaxCrossEntropy", "SquaredError", "TopNError",
                 "RepeatStart", "RepeatEnd", "RecurrentInput", "RecurrentOutput", "Delay", "Unit", "Argument",
                 "BinaryConnectAffine", "BinaryConnectConvolution", "BinaryWeightAffine", "BinarySigmoid",
                 "ImageAugmentation", "RandomShift", "RandomFlip"}


def test_categories_in_nnc_order():
    names = [c["name"] for c in catalogue.palette()]
    assert names[:6] == ["IO", "Loss", "Parameter", "Basic", "Pooling", "Activation"]
    assert names.index("Normalization") < names.index("Others") < names.index("Others(Pre Process)")


def test_every_sample_layer_is_in_the_palette():
    listed = {layer["type"] for c in catalogue.palette() for layer in c["layers"]}
    assert SAMPLE_LAYERS <= listed
    assert not listed & set(catalogue.unsupported())
    assert len(listed) + len(catalogue.unsupported()) == len(LAYERS) - 2  # Output and Unsupported are NNC-internal


def test_supported_layers_run_a_registry_function():
    for c in catalogue.palette():
        for layer in c["layers"]:
            spec = LAYERS[layer["type"]]
            assert spec.function is None or registry.is_built(spec.function)
            assert layer["category"] == c["name"] and layer["description"]


def test_properties_as_nnc_defines_them():
    conv = next(layer for c in catalogue.palette() for layer in c["layers"] if layer["type"] == "Convolution")
    props = {p["name"]: p for p in conv["properties"]}
    assert props["OutMaps"]["default"] == "16" and props["KernelShape"]["default"] == "3,3"
    assert props["BorderMode"]["choices"] == ["valid", "full", "same"]
    assert "NormalConvolutionGlorot" in props["W.Initializer"]["choices"]
    assert conv["inputs"] == ["x", "W", "b"]
    assert not is_supported("LSTM") and "LSTM" in catalogue.unsupported()


def test_parse_value():
    assert parse_value("1,28,28", "PIntArray") == (1, 28, 28)
    assert parse_value("True", "Boolean") is True and parse_value("0.5", "Float") == 0.5
    try:
        parse_value("x", "PInt", "Affine.OutShape")
    except ValueError as e:
        assert "Affine.OutShape" in str(e)
    else:
        raise AssertionError("no error")
