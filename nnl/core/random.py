"""Random state: ``prng`` for parameter initialisation and the generator of random functions (``nn.seed``)."""

from __future__ import annotations

import numpy as np

prng = np.random.RandomState(313)
_function_rng = np.random.RandomState(313)


def function_rng() -> np.random.RandomState:
    """The generator shared by random functions created with ``seed=-1``."""
    return _function_rng


def seed(seed_value: int, set_function_seed: bool = True, set_parameter_seed: bool = True) -> None:
    """Seed random functions and/or parameter initialisation (nnabla's ``nn.seed``)."""
    if set_function_seed:
        _function_rng.seed(seed_value)
    if set_parameter_seed:
        prng.seed(seed_value)
