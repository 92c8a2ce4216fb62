"""NNC loops unrolled by ``nnl.nnp.loops.expand_loops`` exactly as the real nnabla 1.39 unrolls them.

nnabla loads every NNC file of the corpus and the hand-written examples of ``tests/test_nnp_loops.py``
(``nnabla.utils.load.load``: ``expand_loop_control`` then the removal of its identities); for every network the forward
sequence (names, types, inputs, outputs, Split/Stack axis), the variables and parameters with their declared shapes
(batch -1) and the shapes of the variables it built at batch size 2 must be ours.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from google.protobuf import text_format

from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.loops import expand_loops, has_loops

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "loops_driver.py"
CORPUS = HERE.parents[2] / "shared" / "data" / "nnc-nntxt"

pytestmark = pytest.mark.nnabla


def _examples() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("_nnp_loops_examples", HERE.parent / "test_nnp_loops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXAMPLES


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    work = tmp_path_factory.mktemp("loops")
    paths = []
    for name, text in _examples().items():
        path = work / f"example_{name}.nntxt"
        path.write_text(text)
        paths.append(path)
    corpus = sorted(CORPUS.glob("*.nntxt")) if CORPUS.is_dir() else []
    if not corpus and os.environ.get("CI") == "true":
        pytest.fail(f"the NNC nntxt corpus is missing: {CORPUS}")
    return paths + corpus


@pytest.fixture(scope="module")
def nnabla_networks(files, run_nnabla, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("loops_out") / "nnabla.json"
    run_nnabla(DRIVER, str(out), *map(str, files))
    return json.loads(out.read_text())


def _ours(net: pb.Network) -> dict:
    def axis(f):
        return f.split_param.axis if f.type == "Split" else f.stack_param.axis if f.type == "Stack" else None

    return {
        "forward": [[f.name, f.type, list(f.input), list(f.output), axis(f)] for f in net.function],
        "variables": {v.name: list(v.shape.dim) for v in net.variable if v.type != "Parameter"},
        "parameters": {v.name: list(v.shape.dim) for v in net.variable if v.type == "Parameter"},
    }


def test_expansions_match_nnabla(files, nnabla_networks):
    checked = looped = 0
    for path in files:
        theirs_by_name = nnabla_networks[str(path)]
        for network in text_format.Merge(path.read_text(), pb.NNablaProtoBuf()).network:
            where = f"{path.name} {network.name}"
            theirs, ours = theirs_by_name[network.name], _ours(expand_loops(network))
            assert ours["forward"] == theirs["forward"], where
            assert ours["variables"] == {k: v[0] for k, v in theirs["variables"].items()}, where
            assert ours["parameters"] == {k: v[0] for k, v in theirs["parameters"].items()}, where
            for name, (_, built) in {**theirs["variables"], **theirs["parameters"]}.items():
                declared = ours["variables"].get(name) or ours["parameters"][name]
                if built is not None:
                    assert built == [2 if d < 0 else d for d in declared], f"{where}: {name}"
            produced = {o for f in ours["forward"] for o in f[3]}
            consumed = {i for f in ours["forward"] for i in f[2]}
            assert set(theirs["outputs"]) == produced - consumed, where
            assert set(theirs["inputs"]) == {n for n in ours["variables"] if n in consumed and n not in produced}, where
            checked += 1
            looped += has_loops(network)
    assert looped >= 4 and checked >= 4
    if CORPUS.is_dir():
        assert looped == 44 and checked == 89  # 40 + 45 corpus networks and the 4 examples
