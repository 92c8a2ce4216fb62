"""ONNX export and import (needs the ``onnx`` package; ``onnxruntime`` to check or run exported models).

* ``export(source, path, ...)``: write an nnl network (``{name: Variable}`` outputs, an ``NnpFile`` or an
  ``.nnp``/``.nntxt`` file) as an ONNX model; ``export_model(nnp, ...)`` gives the ``onnx.ModelProto``.
* ``import_model(path_or_model)``: an ONNX model as an ``NnpFile`` (nnl's network + parameters), ready for
  ``nnl.nnp.graph.build_network`` or for saving as ``.nnp``; ``load(path, batch_size)`` builds it at once.
* ``EXPORTABLE`` / ``IMPORTABLE``: the nnl function types that export and the ONNX op types that import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export", "export_model", "import_model", "load", "EXPORTABLE", "IMPORTABLE"]


def __getattr__(name: str) -> Any:
    if name in ("export", "export_model", "EXPORTABLE"):
        from nnl.onnx import exporter

        return getattr(exporter, name)
    if name in ("import_model", "load", "IMPORTABLE"):
        from nnl.onnx import importer

        return getattr(importer, name)
    raise AttributeError(f"module 'nnl.onnx' has no attribute {name!r}")
