"""Neural Network Console's loop pseudo-functions unrolled as nnabla does (``nnl.nnp.loops``).

Hand-written networks (one per construct) with their expansion written out, the 31 NNC-written configurations of the
corpus (structure and shapes), and the unrolled networks built and run. ``tests/interop/test_loops_nnabla.py``
checks the same networks against the real nnabla.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

import nnl as nn
from nnl.functions import registry
from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.container import NnpFile
from nnl.nnp.loops import LOOP_FUNCTIONS, expand_loops, has_loops

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nnc-nntxt"
FILES = sorted(CORPUS.glob("*.nntxt")) if CORPUS.is_dir() else []

# ---------------------------------------------------------------------------------------------------------------
# hand-written networks (also loaded by the real nnabla in tests/interop/test_loops_nnabla.py)

ELMAN = """
network {
  name: "Elman"
  batch_size: 2
  repeat_info { id: "T" times: 3 }
  variable { name: "x" type: "Buffer" shape { dim: -1 dim: 3 dim: 2 } }
  variable { name: "h0" type: "Buffer" shape { dim: -1 dim: 4 } }
  variable { name: "fc/W" type: "Parameter" shape { dim: 6 dim: 4 } initializer { type: "Uniform" multiplier: 1 } }
  variable { name: "x_t" type: "Buffer" repeat_id: "T" shape { dim: -1 dim: 2 } }
  variable { name: "h_prev" type: "Buffer" repeat_id: "T" shape { dim: -1 dim: 4 } }
  variable { name: "xh" type: "Buffer" repeat_id: "T" shape { dim: -1 dim: 6 } }
  variable { name: "a" type: "Buffer" repeat_id: "T" shape { dim: -1 dim: 4 } }
  variable { name: "h" type: "Buffer" repeat_id: "T" shape { dim: -1 dim: 4 } }
  variable { name: "hs" type: "Buffer" shape { dim: -1 dim: 3 dim: 4 } }
  function { name: "split" type: "RecurrentInput" repeat_id: "T" input: "x" output: "x_t"
             recurrent_param { repeat_id: "T" axis: 1 } }
  function { name: "delay" type: "Delay" repeat_id: "T" input: "h" input: "h0" output: "h_prev"
             recurrent_param { repeat_id: "T" } }
  function { name: "cat" type: "Concatenate" repeat_id: "T" input: "x_t" input: "h_prev" output: "xh"
             concatenate_param { axis: 1 } }
  function { name: "fc" type: "Affine" repeat_id: "T" input: "xh" input: "fc/W" output: "a"
             affine_param { base_axis: 1 } }
  function { name: "tanh" type: "Tanh" repeat_id: "T" input: "a" output: "h" }
  function { name: "stack" type: "RecurrentOutput" input: "h" output: "hs"
             recurrent_param { repeat_id: "T" length: 3 axis: 1 } }
}
"""

ELMAN_FUNCTIONS = [
    ("split", "Split", ["x"], ["x_t_T[0]", "x_t_T[1]", "x_t_T[2]"]),
    ("cat_T[0]", "Concatenate", ["x_t_T[0]", "h0"], ["xh_T[0]"]),  # Delay at step 0: its input[1]
    ("fc_T[0]", "Affine", ["xh_T[0]", "fc/W"], ["a_T[0]"]),  # a parameter outside the loop: shared
    ("tanh_T[0]", "Tanh", ["a_T[0]"], ["h_T[0]"]),
    ("cat_T[1]", "Concatenate", ["x_t_T[1]", "h_T[0]"], ["xh_T[1]"]),  # later: its input[0] one step back
    ("fc_T[1]", "Affine", ["xh_T[1]", "fc/W"], ["a_T[1]"]),
    ("tanh_T[1]", "Tanh", ["a_T[1]"], ["h_T[1]"]),
    ("cat_T[2]", "Concatenate", ["x_t_T[2]", "h_T[1]"], ["xh_T[2]"]),
    ("fc_T[2]", "Affine", ["xh_T[2]", "fc/W"], ["a_T[2]"]),
    ("tanh_T[2]", "Tanh", ["a_T[2]"], ["h_T[2]"]),
    ("stack", "Stack", ["h_T[0]", "h_T[1]", "h_T[2]"], ["hs"]),
]
ELMAN_VARIABLES = {
    "x": [-1, 3, 2],
    "h0": [-1, 4],
    "fc/W": [6, 4],
    **{f"x_t_T[{i}]": [-1, 2] for i in range(3)},
    **{f"xh_T[{i}]": [-1, 6] for i in range(3)},
    **{f"a_T[{i}]": [-1, 4] for i in range(3)},
    **{f"h_T[{i}]": [-1, 4] for i in range(3)},
    "hs": [-1, 3, 4],
}

RESIDUAL = """
network {
  name: "Residual"
  batch_size: 2
  repeat_info { id: "R" times: 3 }
  variable { name: "x" type: "Buffer" shape { dim: -1 dim: 4 } }
  variable { name: "shared/W" type: "Parameter" shape { dim: 4 dim: 4 } initializer { type: "Uniform" multiplier: 1 } }
  variable { name: "fc{R}/W" type: "Parameter" repeat_id: "R" shape { dim: 4 dim: 4 }
             initializer { type: "Uniform" multiplier: 1 } }
  variable { name: "fc/b" type: "Parameter" repeat_id: "R" shape { dim: 4 } initializer { type: "Uniform" multiplier: 1 } }
  variable { name: "start" type: "Buffer" repeat_id: "R" shape { dim: -1 dim: 4 } }
  variable { name: "u" type: "Buffer" repeat_id: "R" shape { dim: -1 dim: 4 } }
  variable { name: "v" type: "Buffer" repeat_id: "R" shape { dim: -1 dim: 4 } }
  variable { name: "y" type: "Buffer" repeat_id: "R" shape { dim: -1 dim: 4 } }
  variable { name: "end" type: "Buffer" shape { dim: -1 dim: 4 } }
  variable { name: "out" type: "Buffer" shape { dim: -1 dim: 4 } }
  function { name: "RepeatStart" type: "RepeatStart" repeat_id: "R" input: "x" input: "y" output: "start"
             repeat_param { repeat_id: "R" } }
  function { name: "shared" type: "Affine" repeat_id: "R" input: "start" input: "shared/W" output: "u"
             affine_param { base_axis: 1 } }
  function { name: "fc" type: "Affine" repeat_id: "R" input: "u" input: "fc{R}/W" input: "fc/b" output: "v"
             affine_param { base_axis: 1 } }
  function { name: "add" type: "Add2" repeat_id: "R" input: "v" input: "start" output: "y" }
  function { name: "RepeatEnd" type: "RepeatEnd" input: "y" output: "end" repeat_param { repeat_id: "R" times: 3 } }
  function { name: "relu" type: "ReLU" input: "end" output: "out" }
}
"""

RESIDUAL_FUNCTIONS = [
    ("shared_R[0]", "Affine", ["x", "shared/W"], ["u_R[0]"]),  # RepeatStart at step 0: its input[0]
    ("fc_R[0]", "Affine", ["u_R[0]", "fc[0]/W", "fc/b_R[0]"], ["v_R[0]"]),  # parameters listed in the loop
    ("add_R[0]", "Add2", ["v_R[0]", "x"], ["y_R[0]"]),
    ("shared_R[1]", "Affine", ["y_R[0]", "shared/W"], ["u_R[1]"]),  # later: its input[1] one step back
    ("fc_R[1]", "Affine", ["u_R[1]", "fc[1]/W", "fc/b_R[1]"], ["v_R[1]"]),
    ("add_R[1]", "Add2", ["v_R[1]", "y_R[0]"], ["y_R[1]"]),
    ("shared_R[2]", "Affine", ["y_R[1]", "shared/W"], ["u_R[2]"]),
    ("fc_R[2]", "Affine", ["u_R[2]", "fc[2]/W", "fc/b_R[2]"], ["v_R[2]"]),
    ("add_R[2]", "Add2", ["v_R[2]", "y_R[1]"], ["y_R[2]"]),
    ("relu", "ReLU", ["y_R[2]"], ["out"]),  # RepeatEnd: the last step
]
RESIDUAL_PARAMETERS = ["shared/W", "fc[0]/W", "fc[1]/W", "fc[2]/W", "fc/b_R[0]", "fc/b_R[1]", "fc/b_R[2]"]

# The loop's result is the network's output: nothing reads RepeatEnd's output, so the last step's variable is renamed.
RESIDUAL_OUT = (
    RESIDUAL.replace('  function { name: "relu" type: "ReLU" input: "end" output: "out" }\n', "")
    .replace('  variable { name: "out" type: "Buffer" shape { dim: -1 dim: 4 } }\n', "")
    .replace('name: "Residual"', 'name: "ResidualOut"')
)

NESTED = """
network {
  name: "Nested"
  batch_size: 2
  repeat_info { id: "A" times: 2 }
  repeat_info { id: "B" times: 2 }
  variable { name: "x" type: "Buffer" shape { dim: -1 dim: 3 } }
  variable { name: "a" type: "Buffer" repeat_id: "A" shape { dim: -1 dim: 3 } }
  variable { name: "b" type: "Buffer" repeat_id: "A" repeat_id: "B" shape { dim: -1 dim: 3 } }
  variable { name: "W{A}{B}" type: "Parameter" repeat_id: "A" repeat_id: "B" shape { dim: 3 dim: 3 }
             initializer { type: "Uniform" multiplier: 1 } }
  variable { name: "bias" type: "Parameter" repeat_id: "A" shape { dim: 3 } initializer { type: "Uniform" multiplier: 1 } }
  variable { name: "c" type: "Buffer" repeat_id: "A" repeat_id: "B" shape { dim: -1 dim: 3 } }
  variable { name: "c_end" type: "Buffer" repeat_id: "A" shape { dim: -1 dim: 3 } }
  variable { name: "d" type: "Buffer" repeat_id: "A" shape { dim: -1 dim: 3 } }
  variable { name: "e" type: "Buffer" shape { dim: -1 dim: 3 } }
  variable { name: "y" type: "Buffer" shape { dim: -1 dim: 3 } }
  function { name: "startA" type: "RepeatStart" repeat_id: "A" input: "x" input: "d" output: "a"
             repeat_param { repeat_id: "A" } }
  function { name: "startB" type: "RepeatStart" repeat_id: "A" repeat_id: "B" input: "a" input: "c" output: "b"
             repeat_param { repeat_id: "B" } }
  function { name: "fc" type: "Affine" repeat_id: "A" repeat_id: "B" input: "b" input: "W{A}{B}" input: "bias"
             output: "c" affine_param { base_axis: 1 } }
  function { name: "endB" type: "RepeatEnd" repeat_id: "A" input: "c" output: "c_end"
             repeat_param { repeat_id: "B" times: 2 } }
  function { name: "tanh" type: "Tanh" repeat_id: "A" input: "c_end" output: "d" }
  function { name: "endA" type: "RepeatEnd" input: "d" output: "e" repeat_param { repeat_id: "A" times: 2 } }
  function { name: "relu" type: "ReLU" input: "e" output: "y" }
}
"""

NESTED_FUNCTIONS = [
    ("fc_A[0]_B[0]", "Affine", ["x", "W[0][0]", "bias_A[0]"], ["c_A[0]_B[0]"]),
    ("fc_A[0]_B[1]", "Affine", ["c_A[0]_B[0]", "W[0][1]", "bias_A[0]"], ["c_A[0]_B[1]"]),
    ("tanh_A[0]", "Tanh", ["c_A[0]_B[1]"], ["d_A[0]"]),
    ("fc_A[1]_B[0]", "Affine", ["d_A[0]", "W[1][0]", "bias_A[1]"], ["c_A[1]_B[0]"]),
    ("fc_A[1]_B[1]", "Affine", ["c_A[1]_B[0]", "W[1][1]", "bias_A[1]"], ["c_A[1]_B[1]"]),
    ("tanh_A[1]", "Tanh", ["c_A[1]_B[1]"], ["d_A[1]"]),
    ("relu", "ReLU", ["d_A[1]"], ["y"]),
]

EXAMPLES = {"Elman": ELMAN, "Residual": RESIDUAL, "ResidualOut": RESIDUAL_OUT, "Nested": NESTED}


def _network(text: str) -> pb.Network:
    return text_format.Merge(text, pb.NNablaProtoBuf()).network[0]


def _functions(network: pb.Network) -> list[tuple[str, str, list[str], list[str]]]:
    return [(f.name, f.type, list(f.input), list(f.output)) for f in network.function]


def _shapes(network: pb.Network) -> dict[str, list[int]]:
    return {v.name: list(v.shape.dim) for v in network.variable}


# ---------------------------------------------------------------------------------------------------------------
# hand-written expansions


def test_recurrent_input_delay_recurrent_output():
    original = _network(ELMAN)
    before = original.SerializeToString()
    net = expand_loops(original)
    assert original.SerializeToString() == before  # the input is left alone
    assert _functions(net) == ELMAN_FUNCTIONS
    assert _shapes(net) == ELMAN_VARIABLES
    split, stack = net.function[0], net.function[-1]
    assert split.WhichOneof("parameter") == "split_param" and split.split_param.axis == 1
    assert stack.WhichOneof("parameter") == "stack_param" and stack.stack_param.axis == 1
    assert net.function[2].affine_param.base_axis == 1  # arguments travel with the copies
    assert (
        not net.repeat_info
        and not any(f.repeat_id for f in net.function)
        and not any(v.repeat_id for v in net.variable)
    )
    assert net.name == "Elman" and net.batch_size == 2


def test_repeat_parameters_per_iteration_or_shared():
    net = expand_loops(_network(RESIDUAL))
    assert _functions(net) == RESIDUAL_FUNCTIONS
    assert [v.name for v in net.variable if v.type == "Parameter"] == RESIDUAL_PARAMETERS
    declared = {v.name: v for v in net.variable}
    assert declared["fc[1]/W"].initializer.type == "Uniform" and list(declared["fc/b_R[2]"].shape.dim) == [4]
    assert "start_R[0]" not in declared and "end" not in declared  # the identities' outputs are gone


def test_repeat_end_as_network_output_takes_the_last_step():
    net = expand_loops(_network(RESIDUAL_OUT))
    assert _functions(net)[-1] == ("add_R[2]", "Add2", ["v_R[2]", "y_R[1]"], ["end"])
    assert "end" in _shapes(net) and "y_R[2]" not in _shapes(net)


def test_nested_loops():
    net = expand_loops(_network(NESTED))
    assert _functions(net) == NESTED_FUNCTIONS
    params = [v.name for v in net.variable if v.type == "Parameter"]
    assert params == ["W[0][0]", "W[0][1]", "W[1][0]", "W[1][1]", "bias_A[0]", "bias_A[1]"]


def test_old_style_parameter_names_get_a_suffix():
    text = RESIDUAL.replace("fc{R}/W", "fc/W")
    net = expand_loops(_network(text))
    params = [v.name for v in net.variable if v.type == "Parameter"]
    assert params == ["shared/W", "fc/W_R[0]", "fc/W_R[1]", "fc/W_R[2]", "fc/b_R[0]", "fc/b_R[1]", "fc/b_R[2]"]


def test_network_without_loops_is_an_equal_copy():
    text = """network { name: "plain" batch_size: 1
      variable { name: "x" type: "Buffer" shape { dim: -1 dim: 2 } }
      variable { name: "y" type: "Buffer" shape { dim: -1 dim: 2 } }
      function { name: "f" type: "ReLU" input: "x" output: "y" } }"""
    original = _network(text)
    net = expand_loops(original)
    assert net == original and net is not original
    assert not has_loops(original)
    assert all(has_loops(_network(t)) for t in EXAMPLES.values())


@pytest.mark.parametrize(
    "edit, message",
    [
        (('repeat_id: "T" axis: 1', 'repeat_id: "U" axis: 1'), ["'Elman'", "'split'", "'U'"]),
        (
            ('name: "cat" type: "Concatenate" repeat_id: "T"', 'name: "cat" type: "Concatenate" repeat_id: "V"'),
            ["'Elman'", "'cat'", "'V'"],
        ),
        (
            ('name: "h" type: "Buffer" repeat_id: "T"', 'name: "h" type: "Buffer" repeat_id: "W"'),
            ["'Elman'", "'h'", "'W'"],
        ),
        (("length: 3", "length: 4"), ["'Elman'", "'stack'", "'T'", "length=4", "times=3"]),
        (
            ("times: 3 }\n  variable", "times: 4 }\n  variable", "length: 3", "length: 4"),
            ["'Elman'", "'split'", "'T'", "times=4"],
        ),
    ],
)
def test_errors_recurrent(edit, message):
    text = ELMAN
    for old, new in zip(edit[::2], edit[1::2]):
        text = text.replace(old, new)
    with pytest.raises(ValueError) as e:
        expand_loops(_network(text))
    for part in message:
        assert part in str(e.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            ('repeat_param { repeat_id: "R" times: 3 }', 'repeat_param { repeat_id: "R" times: 2 }'),
            ["'Residual'", "'RepeatEnd'", "'R'", "times=2", "times=3"],
        ),
        (
            ('repeat_param { repeat_id: "R" times: 3 }', 'repeat_param { repeat_id: "Q" times: 3 }'),
            ["'Residual'", "'RepeatEnd'", "'Q'"],
        ),
        (
            (
                'type: "RepeatStart" repeat_id: "R" input: "x" input: "y"',
                'type: "RepeatStart" repeat_id: "R" input: "x"',
            ),
            ["'Residual'", "'RepeatStart'", "2 input"],
        ),
    ],
)
def test_errors_repeat(edit, message):
    with pytest.raises(ValueError) as e:
        expand_loops(_network(RESIDUAL.replace(*edit)))
    for part in message:
        assert part in str(e.value)


def test_error_repeat_end_without_repeat_start():
    text = RESIDUAL.replace(
        'repeat_info { id: "R" times: 3 }', 'repeat_info { id: "R" times: 3 }\n  repeat_info { id: "S" times: 3 }'
    )
    text = text.replace('repeat_param { repeat_id: "R" times: 3 }', 'repeat_param { repeat_id: "S" times: 3 }')
    with pytest.raises(
        ValueError, match=r"network 'Residual': function 'RepeatEnd' .*repeat_id 'S' without a RepeatStart"
    ):
        expand_loops(_network(text))


# ---------------------------------------------------------------------------------------------------------------
# the NNC corpus


@pytest.fixture(scope="module")
def corpus_files() -> list[tuple[str, pb.NNablaProtoBuf]]:
    if not FILES:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the NNC nntxt corpus is missing: {CORPUS}")
        pytest.skip(f"the NNC nntxt corpus is not here: {CORPUS}")
    return [(path.name, text_format.Merge(path.read_text(), pb.NNablaProtoBuf())) for path in FILES]


@pytest.fixture(scope="module")
def corpus(corpus_files) -> list[tuple[str, pb.Network, pb.Network]]:
    """(file name, network, unrolled network) for every network of every file."""
    return [(name, net, expand_loops(net)) for name, proto in corpus_files for net in proto.network]


def _check_unrolled(where: str, original: pb.Network, net: pb.Network) -> None:
    times = {r.id: r.times for r in original.repeat_info}
    declared = _shapes(net)
    assert len(declared) == len(net.variable), f"{where}: a variable is declared twice"
    outputs = {o for f in net.function for o in f.output}
    assert not net.repeat_info and not any(v.repeat_id for v in net.variable), where
    produced: set[str] = set()
    for f in net.function:
        assert f.type not in LOOP_FUNCTIONS and not f.repeat_id, f"{where}: {f.name}"
        registry.function_class(f.type)  # a registry function
        for name in f.input:
            assert name in declared, f"{where}: {f.name} reads {name!r}, which is not declared"
            assert name in produced or name not in outputs, f"{where}: {f.name} runs before {name!r} is computed"
        for name in f.output:
            assert name in declared and name not in produced, f"{where}: {f.name} writes {name!r}"
            assert declared[name][0] == -1, f"{where}: {name} lost its batch dim"
        produced.update(f.output)
        if f.type == "Split":
            x, axis = declared[f.input[0]], f.split_param.axis
            assert len(f.output) == x[axis] and x[axis] in times.values(), f"{where}: {f.name}"
            assert all(declared[o] == x[:axis] + x[axis + 1 :] for o in f.output), f"{where}: {f.name}"
        if f.type == "Stack":
            axis, shapes = f.stack_param.axis, [declared[i] for i in f.input]
            assert len(f.input) in times.values() and all(s == shapes[0] for s in shapes), f"{where}: {f.name}"
            assert declared[f.output[0]] == shapes[0][:axis] + [len(shapes)] + shapes[0][axis:], f"{where}: {f.name}"


def test_corpus_unrolls(corpus):
    assert len({name for name, _, _ in corpus}) == 31
    looped = 0
    for name, original, net in corpus:
        where = f"{name} {original.name}"
        if not has_loops(original):
            assert net == original, where
            continue
        looped += 1
        _check_unrolled(where, original, net)
        split_counts = [len(f.output) for f in net.function if f.type == "Split"]
        recurrent_inputs = [f for f in original.function if f.type == "RecurrentInput"]
        assert len(split_counts) == len(recurrent_inputs), where
        assert sum(f.type == "Stack" for f in net.function) == sum(
            f.type == "RecurrentOutput" for f in original.function
        )
    assert looped == 40  # 16 files, 2 or 3 networks each


def test_corpus_residual_parameter_names(corpus):
    """The names nnabla gives parameters listed in a loop (they are what NNC's parameter files hold)."""
    params = {(name[:9], net.name): [v.name for v in net.variable if v.type == "Parameter"] for name, _, net in corpus}
    old, new = params[("N00000019", "Main")], params[("N00000020", "Main")]
    assert "Convolution_5/conv/W_RepeatStart[0]" in old and "Convolution_5/conv/W_RepeatStart[1]" in old
    assert "Convolution_8/conv/W_RepeatStart_2[1]" in old and "Convolution_4/conv/W" in old
    assert "Convolution_5[0]/conv/W" in new and "BatchNormalization_10[1]/bn/var" in new
    assert len(old) == len(new) == 13 * 5 - 30 + 60 + 2  # 13 conv+bn blocks (30 in loops, twice) and the affine


# ---------------------------------------------------------------------------------------------------------------
# running the unrolled networks


def _nnp(text: str, params: dict[str, np.ndarray]) -> NnpFile:
    nnp = NnpFile(proto=text_format.Merge(text, pb.NNablaProtoBuf()), parameters=OrderedDict())
    for name, value in params.items():
        nnp.add_parameter(name, value)
    return nnp


def _run(nnp: NnpFile, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from nnl.nnp.graph import build_network

    net = build_network(nnp, batch_size=2, parameter_scope=False)
    assert set(net.inputs) == set(inputs)
    for name, value in inputs.items():
        net.inputs[name].d = value
    nn.forward_all(list(net.outputs.values()))
    return {k: np.array(v.d) for k, v in net.outputs.items()}


def test_elman_runs():
    rng = np.random.RandomState(1)
    W = rng.randn(6, 4).astype(np.float32)
    x, h0 = rng.randn(2, 3, 2).astype(np.float32), rng.randn(2, 4).astype(np.float32)
    hs = _run(_nnp(ELMAN, {"fc/W": W}), {"x": x, "h0": h0})["hs"]
    h, expected = h0, []
    for t in range(3):
        h = np.tanh(np.concatenate([x[:, t], h], axis=1) @ W)
        expected.append(h)
    np.testing.assert_allclose(hs, np.stack(expected, axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("text", [RESIDUAL, RESIDUAL_OUT], ids=["relu", "loop-output"])
def test_residual_runs(text):
    rng = np.random.RandomState(2)
    params = {n: rng.randn(*((4,) if "/b" in n else (4, 4))).astype(np.float32) for n in RESIDUAL_PARAMETERS}
    x = rng.randn(2, 4).astype(np.float32)
    out = _run(_nnp(text, params), {"x": x})
    y = x
    for i in range(3):
        y = (y @ params["shared/W"]) @ params[f"fc[{i}]/W"] + params[f"fc/b_R[{i}]"] + y
    (got,) = out.values()
    np.testing.assert_allclose(got, np.maximum(y, 0) if text is RESIDUAL else y, rtol=1e-4, atol=1e-5)


def test_nested_runs():
    rng = np.random.RandomState(3)
    params = {f"W[{a}][{b}]": rng.randn(3, 3).astype(np.float32) for a in range(2) for b in range(2)}
    params.update({f"bias_A[{a}]": rng.randn(3).astype(np.float32) for a in range(2)})
    x = rng.randn(2, 3).astype(np.float32)
    (got,) = _run(_nnp(NESTED, params), {"x": x}).values()
    y = x
    for a in range(2):
        for b in range(2):
            y = y @ params[f"W[{a}][{b}]"] + params[f"bias_A[{a}]"]
        y = np.tanh(y)
    np.testing.assert_allclose(got, np.maximum(y, 0), rtol=1e-5, atol=1e-6)


def test_corpus_networks_run(corpus_files, corpus):
    """Every network of every NNC file, unrolled by ``build_network``, runs at batch size 2 with random inputs."""
    from nnl.nnp.graph import build_network

    rng = np.random.RandomState(0)
    unrolled = {(name, net.name): expanded for name, net, expanded in corpus}
    for file_name, proto in corpus_files:
        nnp = NnpFile(proto=proto)
        nn.clear_parameters()  # the networks of one file share their parameters (initialized once)
        for network in proto.network:
            where = f"{file_name} {network.name}"
            net = build_network(nnp, network.name, batch_size=2, rng=rng)
            declared = _shapes(unrolled[file_name, network.name])
            for v in net.inputs.values():
                v.d = rng.rand(*v.shape)
            nn.forward_all(list(net.outputs.values()))
            assert net.outputs, where
            for name, v in net.outputs.items():
                assert list(v.shape) == [2 if d < 0 else d for d in declared[name]], f"{where}: {name} {v.shape}"
                assert np.all(np.isfinite(v.d)), f"{where}: {name} is not finite"


def test_error_cycle_and_undeclared():
    cyclic = ELMAN.replace('input: "x_t" input: "h_prev"', 'input: "x_t" input: "h"')  # no Delay: h_t needs h_t
    with pytest.raises(ValueError, match=r"network 'Elman': the unrolled functions form a cycle"):
        expand_loops(_network(cyclic))
    undeclared = ELMAN.replace('input: "a" output: "h"', 'input: "z" output: "h"')
    with pytest.raises(ValueError, match=r"network 'Elman': function 'tanh' \(Tanh\): .*'tanh_T\[0\]' uses 'z'"):
        expand_loops(_network(undeclared))
