"""Test session settings: one BLAS thread per test process (pytest-xdist runs one process per core, and
oversubscribed BLAS threads slow every process down by orders of magnitude); fresh global state per test.

``NNL_TEST_EXTENSION=torch`` runs the whole suite with that extension's context as the default (functions the
extension lacks fall back to the NumPy reference), to check that the extension is a drop-in replacement."""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import pytest  # noqa: E402

import nnl  # noqa: E402

if os.environ.get("NNL_TEST_EXTENSION"):
    import warnings

    from nnl.core.dispatch import FallbackWarning
    from nnl.ext_utils import get_extension_context

    nnl.set_default_context(get_extension_context(os.environ["NNL_TEST_EXTENSION"]))
    warnings.simplefilter("ignore", FallbackWarning)


@pytest.fixture(autouse=True)
def fresh_state():
    """Each test starts with no parameters, static mode and the default context, as nnabla's conftest does."""
    nnl.clear_parameters()
    nnl.set_auto_forward(False)
    context = nnl.get_current_context()
    yield
    nnl.set_default_context(context)
    nnl.set_auto_forward(False)


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    """320 training and 96 validation digits as an NNC CSV dataset (tests that run `nnl train`)."""
    from mnist_jobs import mnist_csvs

    return mnist_csvs(str(tmp_path_factory.mktemp("mnist")), 320, 96)
