"""Parameter files with nnl or the real nnabla (``python param_driver.py <backend> <cmd> <dir>``).

save   create the parameters of <dir>/params.npz (+ params.json: order and need_grad) in the global scope and
       save <dir>/<backend>.h5 and .protobuf; nnl also writes .nntxt; nnabla also writes an .nnp and an .nntxt
       with ``nnabla.utils.save.save`` (a small network using the parameters).
load   load each file the other backend saved into an empty scope and write <dir>/<backend>_loaded_<ext>.npz and
       .json (order and need_grad as found).
"""

import glob
import json
import os
import sys

import numpy as np

BACKEND, CMD, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
if BACKEND == "nnabla":
    import nnabla as nn
    from nnabla.parameter import get_parameter_or_create, get_parameters, load_parameters, save_parameters
else:
    import nnl as nn
    from nnl.parameter import get_parameter_or_create, get_parameters
    from nnl.parameter_io import load_parameters, save_parameters

OTHER = "nnl" if BACKEND == "nnabla" else "nnabla"

if CMD == "save":
    data = np.load(os.path.join(DIR, "params.npz"))
    with open(os.path.join(DIR, "params.json")) as f:
        meta = json.load(f)
    for name, need_grad in meta:
        value = data[name]
        p = get_parameter_or_create(name, value.shape, need_grad=need_grad)
        p.d = value
    save_parameters(os.path.join(DIR, BACKEND + ".h5"))
    save_parameters(os.path.join(DIR, BACKEND + ".protobuf"))
    if BACKEND == "nnl":
        save_parameters(os.path.join(DIR, BACKEND + ".nntxt"))
    else:
        import nnabla.functions as F
        from nnabla.utils.save import save

        params = get_parameters(grad_only=False)
        x = nn.Variable((1, 5))
        y = F.affine(x, params["fc/W"])
        contents = {
            "networks": [{"name": "net", "batch_size": 1, "outputs": {"y": y}, "names": {"x": x}}],
            "executors": [{"name": "runtime", "network": "net", "data": ["x"], "output": ["y"]}],
        }
        save(os.path.join(DIR, BACKEND + ".nnp"), contents)
        save(os.path.join(DIR, BACKEND + ".nntxt"), contents, include_params=True)
elif CMD == "load":
    for path in sorted(glob.glob(os.path.join(DIR, OTHER + ".*"))):
        ext = os.path.splitext(path)[1]
        nn.clear_parameters()
        load_parameters(path)
        params = get_parameters(grad_only=False)
        np.savez(os.path.join(DIR, f"{BACKEND}_loaded_{ext[1:]}.npz"), **{k: np.array(v.d) for k, v in params.items()})
        with open(os.path.join(DIR, f"{BACKEND}_loaded_{ext[1:]}.json"), "w") as f:
            json.dump([[k, bool(v.need_grad), str(v.d.dtype)] for k, v in params.items()], f)
else:
    raise SystemExit("unknown command " + CMD)
print("ok")
