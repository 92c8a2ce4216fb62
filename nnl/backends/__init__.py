"""Backends: the NumPy reference lives in each function's own kernels; extensions register overrides
(``nnl.core.dispatch.register``; the torch backend in ``nnl.backends.torch``).

``report(*outputs)`` tells which kernel each function of a graph runs, and which fell back to the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KernelUse:
    """One function of a graph: its type, the backend its context asked for first, and the one that runs it."""

    function: str
    preferred: str
    implementation: str

    @property
    def fell_back(self) -> bool:
        return self.implementation != self.preferred and self.implementation.startswith("cpu:")


class KernelReport(list):  # type: ignore[type-arg]
    """The ``KernelUse`` of every function of a graph, in forward order; ``fallbacks`` lists the fallen back."""

    @property
    def fallbacks(self) -> list[KernelUse]:
        return [use for use in self if use.fell_back]

    def __str__(self) -> str:
        lines = [f"{'function':<28}{'asked for':<16}runs on"]
        lines += [f"{u.function:<28}{u.preferred:<16}{u.implementation}{'  (fallback)' if u.fell_back else ''}" for u in self]
        return "\n".join(lines)


def report(*outputs: Any) -> KernelReport:
    """Which kernel each function of the graph of ``outputs`` was bound to (after setup or a forward)."""
    from nnl.core.context import get_current_context
    from nnl.core.graph import topological_order

    uses = KernelReport()
    for function in topological_order(list(outputs)):
        context = function.context or get_current_context()
        uses.append(KernelUse(function.name, context.backend[0], function.implementation or "unbound"))
    return uses
