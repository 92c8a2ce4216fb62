"""Testing helpers: ``assert_allclose`` (nnabla's tolerances) and the generic function tester."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_allclose(actual: Any, desired: Any, rtol: float = 1e-5, atol: float = 1e-6, equal_nan: bool = True, err_msg: str = "", verbose: bool = True) -> None:
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, equal_nan=equal_nan, err_msg=err_msg, verbose=verbose)


def clear_called_flag_recorder() -> None:
    """nnabla records which arrays were cleared; nnl keeps no such record."""
