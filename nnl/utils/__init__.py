"""Utilities with nnabla's module names: save/load, data iterators, learning-rate schedulers, converters."""
