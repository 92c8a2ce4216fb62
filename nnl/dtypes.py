"""NumPy dtype <-> integer code tables, with nnabla's names (``np_dtpye_to_int`` is nnabla's spelling)."""

from __future__ import annotations

import numpy as np

_CODES = [np.bool_, np.byte, np.ubyte, np.short, np.ushort, np.intc, np.uintc, np.int_, np.uint, np.longlong,
          np.ulonglong, np.float32, np.float64, np.longdouble, np.float16]

int_to_np_dtype = {code: np.dtype(t) for code, t in enumerate(_CODES)}
np_dtype_to_int = {np.dtype(t): code for code, t in reversed(list(enumerate(_CODES)))}
np_dtpye_to_int = np_dtype_to_int

half = np.float16
float = np.float32
