"""The generic tester over every case of the catalogue, and the coverage check."""

from __future__ import annotations

import pytest

from nnl.functions import registry
from nnl.testing.cases import all_cases
from nnl.testing.function_tester import check_backward, check_errors, check_forward

CASES = all_cases()
IDS = [case.id for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward(case):
    check_forward(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward(case):
    check_backward(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.errors], ids=[c.id for c in CASES if c.errors])
def test_errors(case):
    check_errors(case)


def test_every_built_function_has_a_case():
    covered = {case.function for case in CASES}
    missing = sorted(set(registry.built()) - covered)
    assert not missing, f"functions without a test case: {missing}"
