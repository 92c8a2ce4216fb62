"""The 18 solvers of nnabla (``nnabla.solvers``), NumPy implementations of nnabla's C++ update rules.

``S.Adam(alpha=1e-3)`` returns a :class:`nnl.solver.Solver`; see that class for the common interface
(``set_parameters``, ``zero_grad``, ``weight_decay``, ``clip_grad_by_norm``, ``update``, states, ...).
"""

from nnl.solver import Solver, SolverState
from nnl.solvers._adam import AMSGRAD, AdaBelief, AdaBound, Adam, Adamax, AdamW, AMSBound
from nnl.solvers._adaptive import Adadelta, Adagrad, RMSprop, RMSpropGraves
from nnl.solvers._sgd import Lars, Momentum, Nesterov, Sgd, SgdW
from nnl.solvers._trust import Lamb, Lion

__all__ = [
    "AMSGRAD",
    "AMSBound",
    "AdaBelief",
    "AdaBound",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lamb",
    "Lars",
    "Lion",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "RMSpropGraves",
    "Sgd",
    "SgdW",
    "Solver",
    "SolverState",
]
