"""Backends: the NumPy reference lives in each function's own kernels; extensions register overrides here
(see ``nnl.core.dispatch.register``)."""
