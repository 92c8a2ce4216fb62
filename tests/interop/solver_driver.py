"""Run the same solver scenario with nnl or with the real nnabla (``python solver_driver.py <backend> <cmd> <dir>``).

Commands:
  run   read <dir>/data.npz + <dir>/configs.json, train every config, write <dir>/<backend>_out.npz (parameters and
        states after the last step), <dir>/<backend>_<config>.h5 / .protobuf (save_states) and
        <dir>/<backend>_info.json (info, learning_rate, name, weight_decay_is_fused).
  load  for each config, load the *other* backend's state files into a fresh solver and write
        <dir>/<backend>_loaded_<fmt>.npz.

The scenario mirrors nnabla's solver_tester: parameters (2,3,4), (3,4,1,2) and a 0-d one; per step new gradients,
weight_decay (every other step), clip_grad_by_norm, update; the learning rate is halved before step 3.
"""

import json
import os
import sys
from collections import OrderedDict

import numpy as np

BACKEND, CMD, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
if BACKEND == "nnabla":
    import nnabla as nn
    import nnabla.solvers as S
else:
    import nnl as nn
    import nnl.solvers as S

OTHER = "nnl" if BACKEND == "nnabla" else "nnabla"
data = np.load(os.path.join(DIR, "data.npz"))
with open(os.path.join(DIR, "configs.json")) as f:
    configs = json.load(f)
names = [str(n) for n in data["names"]]


def make_params():
    params = OrderedDict()
    for n in names:
        init = data["init/" + n].astype(np.float32)
        v = nn.Variable(init.shape, need_grad=True)
        v.d = init
        params[n] = v
    return params


def dump_states(solver, out, prefix):
    for pname, st in solver.get_states().items():
        out[prefix + pname + "/t"] = np.asarray(int(st.t))
        for sname, var in st.pstate.items():
            out[prefix + pname + "/" + sname] = np.array(var.d, dtype=np.float32)


if CMD == "run":
    out = {}
    info = {}
    steps = int(data["steps"])
    for cfg in configs:
        key = cfg["key"]
        params = make_params()
        solver = getattr(S, cfg["solver"])(**cfg["kwargs"])
        solver.set_parameters(params)
        for i in range(steps):
            if i == 3:
                solver.set_learning_rate(solver.learning_rate() * 0.5)
            for n, v in params.items():
                v.g = data[f"grad/{i}/{n}"]
            solver.weight_decay(float(data["wd"][i]))
            solver.clip_grad_by_norm(float(data["clip"][i]))
            solver.update()
        for n, v in params.items():
            out[key + "/param/" + n] = np.array(v.d, dtype=np.float32)
        dump_states(solver, out, key + "/state/")
        solver.save_states(os.path.join(DIR, f"{BACKEND}_{key}.h5"))
        solver.save_states(os.path.join(DIR, f"{BACKEND}_{key}.protobuf"))
        info[key] = {
            "name": solver.name,
            "info": {k: (bool(v) if isinstance(v, (bool, np.bool_)) else float(v)) for k, v in solver.info.items()},
            "learning_rate": solver.learning_rate(),
            "fused": bool(solver.weight_decay_is_fused()),
        }
    np.savez(os.path.join(DIR, BACKEND + "_out.npz"), **out)
    with open(os.path.join(DIR, BACKEND + "_info.json"), "w") as f:
        json.dump(info, f)
elif CMD == "load":
    for fmt in ("h5", "protobuf"):
        out = {}
        for cfg in configs:
            key = cfg["key"]
            solver = getattr(S, cfg["solver"])(**cfg["kwargs"])
            solver.set_parameters(make_params())
            solver.load_states(os.path.join(DIR, f"{OTHER}_{key}.{fmt}"))
            dump_states(solver, out, key + "/state/")
        np.savez(os.path.join(DIR, f"{BACKEND}_loaded_{fmt}.npz"), **out)
else:
    raise SystemExit("unknown command " + CMD)
print("ok")
