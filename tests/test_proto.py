"""The NNP schema: generated files are fresh and field numbers follow nnabla's rule."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, text_format

from nnl.nnp import nnabla_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent


def _gen_module():
    spec = importlib.util.spec_from_file_location("_gen_proto", ROOT / "tools" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_proto_text_is_fresh():
    gen = _gen_module()
    expected = gen.proto_text(gen.load_table())
    assert (ROOT / "nnl" / "nnp" / "nnabla.proto").read_text(encoding="utf-8") == expected, (
        "nnl/nnp/nnabla.proto is stale: run python tools/gen_proto.py"
    )


def test_pb2_matches_proto(tmp_path):
    """The committed nnabla_pb2.py holds exactly the descriptor protoc makes from the committed nnabla.proto."""
    pytest.importorskip("grpc_tools")
    out = tmp_path / "set.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'nnl' / 'nnp'}",
            f"--descriptor_set_out={out}",
            "nnabla.proto",
        ],
        check=True,
    )
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (compiled,) = fds.file
    committed = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)

    def strip_json_names(messages):
        for message in messages:
            for field in message.field:
                field.ClearField("json_name")
            strip_json_names(message.nested_type)

    strip_json_names(compiled.message_type)
    strip_json_names(committed.message_type)
    assert compiled == committed


def test_utils_reexport():
    from nnl.utils import nnabla_pb2 as upb

    assert upb.NNablaProtoBuf is pb.NNablaProtoBuf
    assert upb.DESCRIPTOR is pb.DESCRIPTOR


def test_file_shape():
    assert pb.DESCRIPTOR.name == "nnabla.proto"
    assert pb.DESCRIPTOR.package == ""
    # 207 top-level messages as in nnabla 1.39: fixed ones + 18 solvers + functions with arguments
    assert len(pb.DESCRIPTOR.message_types_by_name) == 207


def _fields(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


@pytest.mark.parametrize(
    "message, expected",
    [
        ("Shape", {"dim": 1}),
        ("Context", {"backends": 1, "array_class": 2, "device_id": 3, "backend": 4, "compute_backend": 5}),
        (
            "NNablaProtoBuf",
            {
                "version": 1,
                "global_config": 2,
                "training_config": 10,
                "network": 100,
                "parameter": 200,
                "dataset": 300,
                "optimizer": 400,
                "monitor": 500,
                "executor": 600,
            },
        ),
        ("Parameter", {"variable_name": 1, "shape": 20, "data": 100, "need_grad": 101}),
        ("Variable", {"name": 1, "type": 2, "repeat_id": 3, "shape": 20, "initializer": 100}),
        ("SolverState", {"t": 1, "state_parameter": 2}),
        ("SolverStateParameter", {"shape": 20, "data": 100}),
        ("ConvolutionParameter", {"base_axis": 1, "pad": 2, "stride": 3, "dilation": 4, "group": 5, "channel_last": 6}),
        (
            "BatchNormalizationParameter",
            {"axes": 1, "decay_rate": 2, "eps": 3, "batch_stat": 4, "no_scale": 5, "no_bias": 6},
        ),
        ("MaxPoolingParameter", {"kernel": 1, "stride": 2, "ignore_border": 3, "pad": 4, "channel_last": 5}),
        ("ReshapeParameter", {"shape": 1, "inplace": 2}),
        ("DropoutParameter", {"p": 1, "seed": 2}),
        ("SgdParameter", {"lr": 1}),
        ("AdamParameter", {"alpha": 1, "beta1": 2, "beta2": 3, "eps": 4}),
        (
            "LambParameter",
            {"eta": 1, "beta1": 2, "beta2": 3, "gamma_l": 4, "gamma_u": 5, "eps": 6, "bias_correction": 7},
        ),
        ("RepeatParameter", {"repeat_id": 1, "times": 2}),
        ("RecurrentParameter", {"repeat_id": 1, "length": 2, "axis": 3}),
    ],
)
def test_message_fields(message, expected):
    assert _fields(getattr(pb, message)) == expected


def test_field_types():
    fd = descriptor_pb2.FieldDescriptorProto
    conv = {f.name: f for f in pb.ConvolutionParameter.DESCRIPTOR.fields}
    assert conv["pad"].message_type.name == "Shape"
    assert conv["base_axis"].type == fd.TYPE_INT64
    bn = {f.name: f for f in pb.BatchNormalizationParameter.DESCRIPTOR.fields}
    axes = bn["axes"]
    repeated = axes.is_repeated if hasattr(axes, "is_repeated") else axes.label == fd.LABEL_REPEATED
    assert axes.type == fd.TYPE_INT64 and repeated
    assert bn["decay_rate"].type == fd.TYPE_FLOAT
    assert pb.DropoutParameter.DESCRIPTOR.fields_by_name["p"].type == fd.TYPE_DOUBLE
    assert pb.SolverState.DESCRIPTOR.fields_by_name["t"].type == fd.TYPE_UINT32


def test_function_oneof_numbers():
    fields = pb.Function.DESCRIPTOR.fields_by_name
    oneof = {f.name for f in pb.Function.DESCRIPTOR.oneofs_by_name["parameter"].fields}
    assert fields["affine_param"].number == 1001
    assert fields["max_pooling_param"].number == 1012
    assert fields["einsum_param"].number == 1228
    assert "adaptive_separable_convolution_param" not in fields  # k=11 has no arguments: number skipped
    assert 1011 not in {f.number for f in pb.Function.DESCRIPTOR.fields}
    assert fields["round_param"].message_type.name == "RoundParameter"  # `arguments: {}` still gets a message
    assert fields["repeat_param"].number == 100 and "repeat_param" not in oneof
    assert fields["recurrent_param"].number == 101 and "recurrent_param" not in oneof
    assert {"affine_param", "convolution_param", "einsum_param"} <= oneof


def test_solver_oneof_numbers():
    fields = pb.Solver.DESCRIPTOR.fields_by_name
    names = [
        "sgd",
        "sgdw",
        "momentum",
        "lars",
        "nesterov",
        "adadelta",
        "adagrad",
        "adabelief",
        "rmsprop",
        "rmsprop_graves",
        "adam",
        "adamw",
        "adabound",
        "adamax",
        "amsgrad",
        "amsbound",
        "lamb",
        "lion",
    ]
    assert [fields[f"{n}_param"].number for n in names] == list(range(100, 118))
    assert fields["states"].message_type.GetOptions().map_entry
    assert fields["weight_decay"].number == 20 and fields["lr_decay"].number == 30
    assert fields["lr_warmup_scheduler_type"].number == 300


def test_round_trip_binary_and_text():
    msg = pb.NNablaProtoBuf(version="0.1")
    p = msg.parameter.add(variable_name="fc/affine/W", need_grad=True)
    p.shape.dim.extend([2, 3])
    p.data.extend([0.5, 1, 2, 3, 4, 5])
    f = msg.network.add(name="net").function.add(name="c", type="Convolution")
    f.convolution_param.pad.dim.extend([1, 1])
    f.convolution_param.group = 1
    opt = msg.optimizer.add(name="o")
    opt.solver.adam_param.alpha = 0.5
    st = opt.solver.states["w"]
    st.t = 3
    st.state_parameter["mean"].data.extend([1.0, 2.0])
    again = pb.NNablaProtoBuf.FromString(msg.SerializeToString())
    assert again == msg
    assert text_format.Parse(text_format.MessageToString(msg), pb.NNablaProtoBuf()) == msg
    assert again.network[0].function[0].WhichOneof("parameter") == "convolution_param"
    # packed repeated int64 on the wire (field 1, wire type 2)
    assert pb.Shape(dim=[2, 3]).SerializeToString() == b"\x0a\x02\x02\x03"


_PROTO_TYPES = {
    "int64": "TYPE_INT64",
    "float": "TYPE_FLOAT",
    "double": "TYPE_DOUBLE",
    "bool": "TYPE_BOOL",
    "string": "TYPE_STRING",
    "repeated int64": "TYPE_INT64",
    "repeated float": "TYPE_FLOAT",
    "Shape": "TYPE_MESSAGE",
    "Communicator": "TYPE_MESSAGE",
}


def test_every_registered_function_maps_to_the_schema():
    """Each function class's arguments are exactly its parameter message's fields: names, order and types."""
    from nnl.functions import registry
    from nnl.functions.catalogue import CATALOGUE
    from nnl.nnp.arguments import parameter_field

    fd = descriptor_pb2.FieldDescriptorProto
    for _, type_name, _, _ in CATALOGUE:
        cls = registry.function_class(type_name)
        field = parameter_field(type_name)
        message = pb.Function.DESCRIPTOR.fields_by_name[field].message_type if field else None
        fields = list(message.fields) if message is not None else []
        assert [f.name for f in fields] == list(cls.args_spec), type_name
        for f, spec in zip(fields, cls.args_spec.values()):
            assert f.type == getattr(fd, _PROTO_TYPES[spec.type]), f"{type_name}.{f.name}"
            repeated = f.is_repeated if hasattr(f, "is_repeated") else f.label == fd.LABEL_REPEATED
            assert repeated == spec.type.startswith("repeated"), f"{type_name}.{f.name}"
            if spec.type in ("Shape", "Communicator"):
                assert f.message_type.name == spec.type, f"{type_name}.{f.name}"
