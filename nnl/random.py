"""Random state shared by parameter initialisation (``prng``) and random functions (nnabla's ``nnabla.random``)."""

from nnl.core.random import function_rng, prng, seed

__all__ = ["function_rng", "prng", "seed"]
