"""The generic tester re-run on the torch extension: every case of every function with a torch kernel.

``NNL_TORCH_TEST_EXTENSION=cudnn`` runs the same checks on a GPU (benchmarks/gpu_check.sh does)."""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nnl  # noqa: E402
import nnl.backends.torch  # noqa: E402,F401
from nnl.core import dispatch  # noqa: E402
from nnl.ext_utils import get_extension_context  # noqa: E402
from nnl.testing.cases import all_cases  # noqa: E402
from nnl.testing.function_tester import call_function, check_backward, check_forward, draw_inputs  # noqa: E402

EXTENSION = os.environ.get("NNL_TORCH_TEST_EXTENSION", "torch")
TORCH_FUNCTIONS = set(dispatch.registered("torch"))
CASES = [c for c in all_cases() if c.function in TORCH_FUNCTIONS]
IDS = [c.id for c in CASES]


@pytest.fixture(autouse=True)
def torch_context():
    with nnl.context_scope(get_extension_context(EXTENSION)), warnings.catch_warnings():
        warnings.simplefilter("ignore", dispatch.FallbackWarning)
        yield


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_torch(case):
    check_forward(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_torch(case):
    check_backward(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_kernel_that_ran(case):
    """The torch kernel ran (or, for a setting it does not cover, the reference ran and said so)."""
    arrays = draw_inputs(case)
    variables = [None if a is None else nnl.Variable.from_numpy_array(a.astype(np.float32) if a.dtype.kind == "f" else a) for a in arrays]
    dispatch.forget_warnings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dispatch.FallbackWarning)
        outputs = call_function(case, variables)
        nnl.forward_all(outputs)
    function = outputs[0].parent
    if function is None:
        pytest.skip(f"{case.id}: this call of the API creates no function")
    if function.implementation == "cpu:float":
        assert any(case.function in str(w.message) for w in caught), f"{case.id}: fell back without a warning"
    else:
        assert function.implementation == f"{EXTENSION}:float"


def test_every_registered_function_has_a_case():
    covered = {c.function for c in CASES}
    assert TORCH_FUNCTIONS <= covered, sorted(TORCH_FUNCTIONS - covered)


HALF_TOLERANCE = {"half": 2e-2, "bfloat16": 8e-2}


@pytest.mark.parametrize("type_config", list(HALF_TOLERANCE))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_low_precision(case, type_config):
    """Half and bfloat16 compute (float32 where the kernel asks for it) within a precision-sized tolerance."""
    tolerance = HALF_TOLERANCE[type_config]
    loose = dataclasses.replace(case, atol_f=max(case.atol_f, tolerance), rtol_f=max(case.rtol_f, tolerance))
    with nnl.context_scope(get_extension_context(EXTENSION, type_config=type_config)):
        check_forward(loose)
