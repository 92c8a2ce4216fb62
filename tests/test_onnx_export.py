"""ONNX export: every exportable function case, whole networks at two batch sizes, errors, files.

Each exported model runs in onnxruntime (CPUExecutionProvider) on the inputs nnl ran on, and must give nnl's outputs
within 1e-5 (abs) / 1e-4 (rel); no function needs more with the current cases.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nnl  # noqa: E402
import nnl.functions as F  # noqa: E402
import nnl.parametric_functions as PF  # noqa: E402
from nnl.nnp.capture import nnp_from_outputs  # noqa: E402
from nnl.nnp.container import write_nnp  # noqa: E402
from nnl.onnx import EXPORTABLE, export, export_model  # noqa: E402
from nnl.testing.cases import all_cases  # noqa: E402
from nnl.testing.function_tester import call_function, draw_inputs  # noqa: E402

CASES = [c for c in all_cases() if c.function in EXPORTABLE]
# Cases that must fail to export, and the argument the error names.
EXPECTED_ERRORS = {"MaxPooling-empty-windows": "argument pad"}
# Cases whose nnl output the exported (inference, float) graph does not reproduce on purpose: only shapes compare.
SHAPES_ONLY = {
    "LSTM-dropout": "dropout between layers draws a random mask in training; the export is the inference graph",
    "Mod2-int": "Python's remainder of integer data; NNP carries no dtypes, so the export computes on floats (fmod)",
}
# Cases that need a later opset than 17 (3-D GridSample).
OPSET = {"WarpByGrid-3d": 20}
# Functions that are the identity in an inference graph, although nnl's forward (training) is random.
INFERENCE_IDENTITY = {"Dropout"}

REQUIRED = set(
    """
    Affine Convolution Deconvolution DepthwiseConvolution DepthwiseDeconvolution MaxPooling AveragePooling
    SumPooling GlobalAveragePooling Unpooling BatchNormalization LayerNormalization InstanceNormalization
    GroupNormalization ReLU LeakyReLU ELU SELU CELU PReLU Sigmoid Tanh Swish GELU Mish SoftPlus SoftSign
    HardSigmoid HardTanh ReLU6 Softmax LogSoftmax Add2 Sub2 Mul2 Div2 Pow2 AddScalar MulScalar PowScalar
    RSubScalar RDivScalar RPowScalar Abs Exp Log Sum Mean Max Min Prod Reshape Transpose Concatenate Split Stack
    Slice Pad Flip Broadcast Tile BatchMatmul Embed OneHot Where Identity Constant Arange Dropout Interpolate
    LSTM RNN GRU BinaryConnectAffine BinaryConnectConvolution BinaryWeightAffine BinaryWeightConvolution
    BinarySigmoid BinaryTanh FixedPointQuantize Pow2Quantize MinMaxQuantize SquaredError AbsoluteError
    SigmoidCrossEntropy BinaryCrossEntropy SoftmaxCrossEntropy CategoricalCrossEntropy
    """.split()
)


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _feeds(session, arrays):
    """The arrays cast to the types the graph inputs declare (int64 for indices, float32 otherwise)."""
    types = {"tensor(int64)": np.int64, "tensor(float)": np.float32}
    return {i.name: np.asarray(arrays[i.name]).astype(types[i.type]) for i in session.get_inputs()}


def _compare(got, expected, what):
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4, err_msg=what)


# -- every function case ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [17, 21])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_function_case(case, opset):
    arrays = draw_inputs(case)
    variables = [None if a is None else nnl.Variable.from_numpy_array(a) for a in arrays]
    outputs = call_function(case, variables)
    if any(o.parent is None for o in outputs):
        pytest.skip(f"{case.id}: the API returns its input (no function to export)")
    inputs = {f"in{i}": a.copy() for i, a in enumerate(arrays) if a is not None}  # before stateful forwards
    names = {f"in{i}": v for i, v in enumerate(variables) if v is not None}
    nnp = nnp_from_outputs({f"out{i}": o for i, o in enumerate(outputs)}, name="net", names=names)
    if case.id in EXPECTED_ERRORS:
        with pytest.raises(ValueError, match=EXPECTED_ERRORS[case.id]) as error:
            export_model(nnp, opset=opset)
        assert case.function in str(error.value) and "#0" in str(error.value)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cases whose shapes pin the batch export with a fixed batch
        model = export_model(nnp, opset=max(opset, OPSET.get(case.id, opset)))
    nnl.forward_all(outputs)
    session = _session(model)
    got = session.run(None, _feeds(session, inputs))
    for i, (o, g) in enumerate(zip(outputs, got)):
        assert g.shape == tuple(o.shape), f"{case.id}: output {i} shape"
        if case.id in SHAPES_ONLY:
            continue
        expected = inputs["in0"] if case.function in INFERENCE_IDENTITY else o.d
        _compare(g, expected, f"{case.id}: output {i}")


def test_exportable_covers_required_functions():
    assert list(EXPORTABLE) == sorted(EXPORTABLE)
    assert REQUIRED <= set(EXPORTABLE), sorted(REQUIRED - set(EXPORTABLE))
    assert not {"Rand", "Randn", "Randint", "RandomCrop", "RandomFlip", "ImageAugmentation"} & set(EXPORTABLE)


def test_every_exportable_function_has_a_case():
    covered = {c.function for c in CASES}
    assert set(EXPORTABLE) <= covered, sorted(set(EXPORTABLE) - covered)


# -- networks at batch sizes 1 and 5 from one file -----------------------------------------------------------------
def _randomize_parameters(rng):
    for name, p in nnl.get_parameters(grad_only=False).items():
        value = rng.randn(*p.shape).astype(np.float32) * 0.5
        p.d = np.abs(value) + 0.5 if name.endswith("/var") else value


def _check_network(build, input_shapes, tmp_path, rng, names=("x",), int_inputs=(), atol=1e-5):
    """Build at batch 2, export once (dynamic batch), compare ORT with nnl at batch 1 and 5."""
    nnl.clear_parameters()

    def make(batch):
        arrays = {}
        for name, shape in zip(names, input_shapes):
            if name in int_inputs:
                arrays[name] = rng.randint(0, shape[1], size=(batch,) + shape[0]).astype(np.int64)
            else:
                arrays[name] = rng.randn(batch, *shape).astype(np.float32)
        variables = {n: nnl.Variable.from_numpy_array(a) for n, a in arrays.items()}
        return arrays, variables, build(*variables.values())

    _, variables, outputs = make(2)
    _randomize_parameters(rng)
    path = tmp_path / "net.onnx"
    model = export(outputs, path, names=variables)
    assert onnx.load(str(path)) == model
    for inp in model.graph.input:
        assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        arrays, _, outs = make(batch)
        nnl.forward_all(list(outs.values()))
        got = session.run(list(outs), _feeds(session, arrays))
        for (name, o), g in zip(outs.items(), got):
            np.testing.assert_allclose(g, o.d, atol=atol, rtol=1e-4, err_msg=f"{name} at batch {batch}")
    nnl.clear_parameters()
    return model


def _op_types(model):
    return {n.op_type for n in model.graph.node}


def test_mlp(tmp_path):
    def build(x):
        h = F.relu(PF.affine(x, 16, name="fc1"))
        h = F.tanh(PF.affine(h, 8, name="fc2"))
        return {"y": F.softmax(PF.affine(h, 3, name="fc3"))}

    model = _check_network(build, [(12,)], tmp_path, np.random.RandomState(1))
    assert {"Gemm", "Relu", "Tanh", "Softmax"} <= _op_types(model)


def test_lenet(tmp_path):
    def build(x):
        h = F.max_pooling(F.relu(PF.convolution(x, 4, (5, 5), name="conv1")), (2, 2))
        h = F.max_pooling(F.relu(PF.convolution(h, 8, (3, 3), pad=(1, 1), name="conv2")), (2, 2))
        h = F.relu(PF.affine(h, 20, name="fc3"))
        return {"y": PF.affine(h, 10, name="fc4")}

    model = _check_network(build, [(1, 16, 16)], tmp_path, np.random.RandomState(2))
    assert {"Conv", "MaxPool", "Flatten", "Gemm"} <= _op_types(model)


def _resnet20(x):
    def conv_bn(h, maps, stride, name, relu=True):
        h = PF.convolution(h, maps, (3, 3), pad=(1, 1), stride=(stride, stride), with_bias=False, name=name)
        h = PF.batch_normalization(h, batch_stat=False, name=name + "/bn")
        return F.relu(h) if relu else h

    h = conv_bn(x, 8, 1, "conv0")
    for stage, maps in enumerate((8, 16, 32)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            name = f"s{stage}b{block}"
            r = conv_bn(conv_bn(h, maps, stride, name + "/a"), maps, 1, name + "/b", relu=False)
            if stride != 1 or h.shape[1] != maps:
                h = PF.convolution(h, maps, (1, 1), stride=(stride, stride), with_bias=False, name=name + "/proj")
            h = F.relu(F.add2(h, r))
    return {"y": PF.affine(F.global_average_pooling(h), 10, name="fc")}


def test_resnet20(tmp_path):
    model = _check_network(_resnet20, [(3, 16, 16)], tmp_path, np.random.RandomState(3), atol=1e-4)
    assert {"Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool", "Gemm"} <= _op_types(model)
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 21  # 19 3x3 convolutions + 2 projections


def test_lstm_registry_function(tmp_path):
    """F.lstm (two bidirectional layers) with batch-first inputs, and GRU / RNN layers after it."""

    def build(x, h0, c0, r0):
        xt = F.transpose(x, (1, 0, 2))  # (T, B, I)
        h = F.transpose(h0, (1, 2, 0, 3))  # (L, D, B, H)
        c = F.transpose(c0, (1, 2, 0, 3))
        y, hn, cn = PF.lstm(xt, h, c, num_layers=2, bidirectional=True, name="lstm")
        g, _ = PF.gru(y, F.transpose(h0, (1, 2, 0, 3)), num_layers=2, bidirectional=True, name="gru")
        _, rn = PF.rnn(g, F.transpose(r0, (1, 2, 0, 3)), nonlinearity="relu", bidirectional=True, name="rnn")
        last = F.reshape(F.transpose(rn, (2, 0, 1, 3)), (x.shape[0], -1))
        return {
            "y": PF.affine(last, 3, name="fc"),
            "h": F.transpose(hn, (2, 0, 1, 3)),
            "c": F.transpose(cn, (2, 0, 1, 3)),
        }

    model = _check_network(
        build,
        [(4, 3), (2, 2, 5), (2, 2, 5), (1, 2, 5)],
        tmp_path,
        np.random.RandomState(4),
        names=("x", "h0", "c0", "r0"),
    )
    assert {"LSTM", "GRU", "RNN"} <= _op_types(model)


def test_lstm_cell_unrolled(tmp_path):
    def build(x, h, c):
        for xt in F.split(x, axis=1):  # (a slice would write the batch size into the file)
            h, c = PF.lstm_cell(xt, h, c, 6, name="cell")
        return {"y": PF.affine(h, 2, name="fc")}

    _check_network(build, [(4, 3), (6,), (6,)], tmp_path, np.random.RandomState(5), names=("x", "h", "c"))


def test_embed_network(tmp_path):
    def build(words):
        return {"y": PF.affine(F.mean(PF.embed(words, 10, 4, name="embed"), axis=1), 2, name="fc")}

    model = _check_network(
        build, [((3,), 10)], tmp_path, np.random.RandomState(6), names=("words",), int_inputs=("words",)
    )
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_quantized_network(tmp_path):
    def build(x):
        h = PF.binary_connect_convolution(x, 4, (3, 3), pad=(1, 1), name="bconv")
        h = F.binary_sigmoid(h)
        h = F.fixed_point_quantize(PF.binary_weight_affine(h, 6, name="bwa"), n=6, delta=0.125)
        return {"y": F.pow2_quantize(h, n=5, m=2)}

    model = _check_network(build, [(2, 6, 6)], tmp_path, np.random.RandomState(7))
    params = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    binary = [v for n, v in params.items() if "binary_weight" in n and v.ndim == 4]
    assert binary and set(np.unique(binary[0])) <= {-1.0, 1.0}  # binarized at export, as nnabla's exporter does
    assert "bconv/W" not in params  # the float weight is not needed


def test_batch_dependent_shapes(tmp_path):
    """Converters that build shapes at run time: merged batch axes (Affine base_axis=2, pooling on 5-D), Reshape,
    Broadcast, resizing, group normalization, channel_last layouts."""

    def build(x):
        h = PF.convolution(x, 4, (3, 3), pad=(1, 1), name="conv")  # (B, 4, 6, 6)
        h = F.interpolate(h, output_size=(9, 9), mode="nearest")
        h = F.sum_pooling(h, (2, 2), ignore_border=False)  # (B, 4, 5, 5)
        h = F.group_normalization(h, None, None, num_groups=2)
        h = F.max_pooling(F.transpose(h, (0, 2, 3, 1)), (2, 2), channel_last=True)  # (B, 2, 2, 4)
        seq = F.reshape(h, (h.shape[0], 4, 4))
        seq = PF.affine(seq, 3, base_axis=2, name="per_step")  # (B, 4, 3)
        seq = F.average_pooling(
            F.reshape(seq, (seq.shape[0], 1, 2, 2, 3)), (2, 2), including_pad=True, ignore_border=False
        )
        flat = F.reshape(seq, (seq.shape[0], -1))
        centre = F.broadcast(F.mean(flat, axis=0, keepdims=True), (flat.shape[0], 4))  # (1, 4) -> (B, 4)
        y = PF.affine(flat - centre, 2, name="fc")  # the batch size is read here
        return {"y": y, "g": F.global_average_pooling(h)}

    model = _check_network(build, [(3, 6, 6)], tmp_path, np.random.RandomState(11))
    assert {"Resize", "Shape", "Transpose", "AveragePool", "Expand"} <= _op_types(model)


# -- options, errors, files -----------------------------------------------------------------------------------------
def _small_nnp():
    nnl.clear_parameters()
    x = nnl.Variable.from_numpy_array(np.random.RandomState(8).randn(2, 3, 8, 8).astype(np.float32))
    h = F.average_pooling(PF.convolution(x, 4, (3, 3), name="conv"), (2, 2), including_pad=False)
    y = F.interpolate(F.sum(h, axis=1, keepdims=True), output_size=(6, 6), mode="linear", align_corners=True)
    nnp = nnp_from_outputs({"y": F.layer_normalization(y, None, None)}, name="small", names={"x": x})
    nnl.clear_parameters()
    return nnp, x.d


@pytest.mark.parametrize("opset", [17, 18, 19, 20, 21])
def test_opsets(opset):
    nnp, x = _small_nnp()
    model = export_model(nnp, opset=opset)
    assert model.opset_import[0].version == opset
    reference = _session(export_model(nnp)).run(None, {"x": x})[0]
    _compare(_session(model).run(None, {"x": x})[0], reference, f"opset {opset}")


def test_fixed_batch_size():
    nnp, x = _small_nnp()
    model = export_model(nnp, batch_size=2)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [2, 3, 8, 8]
    _compare(_session(model).run(None, {"x": x})[0], _session(export_model(nnp)).run(None, {"x": x})[0], "fixed")


def test_unsupported_opset():
    nnp, _ = _small_nnp()
    with pytest.raises(ValueError, match="opset 16"):
        export_model(nnp, opset=16)


def test_unsupported_function_names_it_and_its_position():
    x = nnl.Variable.from_numpy_array(np.zeros((2, 3), np.float32))
    y = F.relu(F.add2(x, F.rand(shape=(2, 3))))
    nnp = nnp_from_outputs({"y": y}, name="noisy", names={"x": x})
    with pytest.raises(ValueError) as error:
        export_model(nnp)
    message = str(error.value)
    for part in ("network 'noisy'", "#0", "'@noisy/Rand'", "(Rand)", "nnl.onnx.EXPORTABLE"):
        assert part in message, message


def test_3d_warp_needs_opset_20():
    x = nnl.Variable.from_numpy_array(np.zeros((1, 2, 3, 3, 3), np.float32))
    grid = nnl.Variable.from_numpy_array(np.zeros((1, 2, 2, 2, 3), np.float32))
    nnp = nnp_from_outputs({"y": F.warp_by_grid(x, grid)}, names={"x": x, "grid": grid})
    with pytest.raises(ValueError, match=r"\(WarpByGrid\).*opset 20"):
        export_model(nnp)
    assert export_model(nnp, opset=20).opset_import[0].version == 20


def test_unsupported_argument_names_it():
    x = nnl.Variable.from_numpy_array(np.zeros((2, 3, 4), np.float32))
    index = nnl.Variable.from_numpy_array(np.zeros((2, 1), np.int64))
    y = F.gather(x, index, axis=2, batch_dims=1)
    nnp = nnp_from_outputs({"y": y}, names={"x": x, "i": index})
    with pytest.raises(ValueError, match=r"#0 .*\(Gather\).*argument batch_dims=1"):
        export_model(nnp)


def test_batch_pinned_by_a_reshape_falls_back_to_a_fixed_batch():
    nnl.clear_parameters()
    x = nnl.Variable.from_numpy_array(np.random.RandomState(9).randn(2, 6).astype(np.float32))
    y = F.reshape(PF.affine(x, 4, name="fc"), (1, 8))  # merges the batch into another axis: no -1 to write
    nnp = nnp_from_outputs({"y": y}, names={"x": x})
    nnl.clear_parameters()
    with pytest.warns(UserWarning, match="fixed batch size 2"):
        model = export_model(nnp)
    y.forward()
    _compare(_session(model).run(None, {"x": x.d})[0], y.d, "reshape")


def test_export_of_a_saved_file_equals_the_nnp_export(tmp_path):
    nnp, x = _small_nnp()
    for name in ("model.nnp", "model.nntxt"):
        write_nnp(tmp_path / name, nnp)
        from_file = export(str(tmp_path / name), tmp_path / (name + ".onnx"))
        assert from_file == export(nnp, tmp_path / "direct.onnx")
    assert onnx.load(str(tmp_path / "direct.onnx")) == export_model(nnp)


def test_export_of_a_variable_and_of_outputs_by_name(tmp_path):
    nnl.clear_parameters()
    x = nnl.Variable.from_numpy_array(np.random.RandomState(10).randn(2, 5).astype(np.float32))
    y = F.sigmoid(PF.affine(x, 3, name="fc"))
    single = export(y, tmp_path / "single.onnx", names={"x": x})
    named = export({"prob": y}, tmp_path / "named.onnx", names={"x": x})
    y.forward()
    assert [o.name for o in named.graph.output] == ["prob"]
    for model in (single, named):
        _compare(_session(model).run(None, {"x": x.d})[0], y.d, "export")
    nnl.clear_parameters()
