"""Result and checkpoint files of a training run, in nnabla_cli's layout, written atomically.

``results.nnp`` (best or last), ``results_current_<epoch>.nnp`` (the latest checkpoint; older ones are removed) are
NNP zips holding the training configuration, ``parameter.h5`` and, for checkpoints, the solver states
(``<optimizer>_<Solver>_optimizer.h5.optimizer``, nnabla's member names) plus ``training_state.json`` (nnl's: the
iteration, random generator states, the best error and the report so far) for an exact ``--resume``. Each file is
written to a temporary file, flushed to disk and renamed over the old one, so a full disk or a crash leaves the
previous file whole.
"""

from __future__ import annotations

import glob
import json
import os
import re
import zipfile
from typing import Any

import numpy as np

from nnl.nnp.container import NnpFile, nnp_bytes, solver_state_member, solver_state_members
from nnl.parameter import get_parameters
from nnl.parameter_io import write_bytes

STATE_MEMBER = "training_state.json"
_CURRENT = re.compile(r"results_current_(\d+)\.nnp$")

__all__ = ["save_results", "latest_checkpoint", "read_checkpoint", "rng_state", "set_rng_state"]


def rng_state(rng: np.random.RandomState) -> list[Any]:
    state: Any = rng.get_state()  # the legacy tuple (NumPy's stubs also allow a dict)
    kind, keys, pos, has_gauss, cached = state
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def set_rng_state(rng: np.random.RandomState, state: list[Any]) -> None:
    kind, keys, pos, has_gauss, cached = state
    rng.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_results(
    path: str, config_proto: Any, optimizers: dict[str, Any] | None = None, state: dict[str, Any] | None = None
) -> None:
    """Write an NNP with the configuration and the current parameters (and, for checkpoints, the training state)."""
    nnp = NnpFile(config_proto)
    for name, v in get_parameters(grad_only=False).items():
        nnp.add_parameter(name, v.d, v.need_grad)
    members = solver_state_members((name, o.solver) for name, o in optimizers.items()) if optimizers else {}
    if state is not None:
        members[STATE_MEMBER] = json.dumps(state).encode("utf-8")
    write_bytes(path, lambda: nnp_bytes(nnp, ".h5", members), sync=True)


def latest_checkpoint(outdir: str) -> tuple[int, str] | None:
    """``(epoch, path)`` of the newest ``results_current_<epoch>.nnp`` in ``outdir``."""
    found = []
    for path in glob.glob(os.path.join(outdir, "results_current_*.nnp")):
        match = _CURRENT.search(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return max(found) if found else None


def remove_older_checkpoints(outdir: str, keep: str) -> None:
    for path in glob.glob(os.path.join(outdir, "results_current_*.nnp")):
        if os.path.abspath(path) != os.path.abspath(keep):
            os.remove(path)


def read_checkpoint(path: str, optimizers: dict[str, Any]) -> dict[str, Any]:
    """Restore the solver states of ``optimizers`` from a checkpoint and return its training state."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if STATE_MEMBER not in names:
            raise ValueError(f"resume: {path!r} has no {STATE_MEMBER} (it was not written by nnl train).")
        for name, opt in optimizers.items():
            member = solver_state_member(name, opt.solver)
            if member not in names:
                raise ValueError(f"resume: {path!r} lacks the solver states of optimizer {name!r} ({member}).")
            opt.solver.set_states(opt.solver._read_h5(archive.read(member), f"{path!r} (member {member!r})"))
        return dict(json.loads(archive.read(STATE_MEMBER)))
