"""Run the benchmark workloads on nnl, a PyTorch eager twin and (with ``NNABLA_PYTHON``) real nnabla 1.39.

    python benchmarks/run.py [--only mlp,lenet] [--min-time 1.0] [--threads 1]

``--threads N`` caps the BLAS/OpenMP threads of every framework (set before NumPy or torch load): use 1 to compare
with single-threaded nnabla, or on a busy machine, where oversubscribed BLAS threads distort every number.

Prints median milliseconds per step for each framework side by side and the ratios nnl/other (below 1 means nnl
is faster); the per-function overhead rows also give microseconds per function.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

if "--threads" in sys.argv:  # must happen before NumPy / torch create their thread pools
    _threads = sys.argv[sys.argv.index("--threads") + 1]
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = _threads


def measure(step: Any, min_time: float, min_runs: int = 5) -> float:
    """Median seconds per call after two warm-up calls."""
    step()
    step()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    return statistics.median(times)


CONTEXT = "cpu"  # nnl's extension (--context)


def run_nnabla_api(framework: str, names: list[str], min_time: float) -> dict[str, float]:
    """Run the shared workloads with ``framework`` ('nnl' or 'nnabla') as the nnabla API."""
    import importlib

    import workloads

    nn = importlib.import_module(framework)
    F = importlib.import_module(f"{framework}.functions")
    PF = importlib.import_module(f"{framework}.parametric_functions")
    S = importlib.import_module(f"{framework}.solvers")
    if framework == "nnl" and CONTEXT != "cpu":
        from nnl.ext_utils import get_extension_context

        nn.set_default_context(get_extension_context(CONTEXT))
    results = {}
    for name in names:
        nn.clear_parameters()
        results[name] = measure(workloads.WORKLOADS[name](nn, F, PF, S), min_time)
    return results


def run_torch(names: list[str], min_time: float) -> dict[str, float]:
    import torch
    import torch_twins

    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.manual_seed(0)
    return {name: measure(torch_twins.TWINS[name](torch), min_time) for name in names}


def run_interleaved(names: list[str], min_time: float) -> dict[str, dict[str, float]]:
    """nnl and the PyTorch twin measured step by step in alternation in one process (an nnl step, a torch step,
    ...), so that the machine's slow phases hit both alike: the median seconds per step of each. On a VM whose
    speed drifts, this keeps the ratio within ~2% between runs, where whole rounds per framework swung by 15-30%."""
    import importlib

    import torch
    import torch_twins
    import workloads

    nn = importlib.import_module("nnl")
    F, PF, S = (importlib.import_module(f"nnl.{m}") for m in ("functions", "parametric_functions", "solvers"))
    if CONTEXT != "cpu":
        from nnl.ext_utils import get_extension_context

        nn.set_default_context(get_extension_context(CONTEXT))
    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.manual_seed(0)
    columns: dict[str, dict[str, float]] = {"nnl": {}, "torch": {}}
    for name in names:
        nn.clear_parameters()
        steps = {"nnl": workloads.WORKLOADS[name](nn, F, PF, S), "torch": torch_twins.TWINS[name](torch)}
        times: dict[str, list[float]] = {framework: [] for framework in steps}
        for step in steps.values():
            step()
            step()
        start = time.perf_counter()
        while len(times["nnl"]) < 5 or (time.perf_counter() - start < 2 * min_time and len(times["nnl"]) < 2000):
            for framework, step in steps.items():
                t0 = time.perf_counter()
                step()
                times[framework].append(time.perf_counter() - t0)
        for framework in steps:
            columns[framework][name] = statistics.median(times[framework])
    return columns


def main() -> None:
    import workloads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(workloads.WORKLOADS))
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds spent per workload and framework")
    parser.add_argument("--threads", type=int, help="BLAS/OpenMP threads for every framework")
    parser.add_argument("--framework", choices=["nnl", "nnabla", "torch"], help="run one framework and print JSON")
    parser.add_argument("--context", default="cpu", help="nnl's extension: cpu (NumPy) or torch")
    args = parser.parse_args()
    global CONTEXT
    CONTEXT = args.context
    names = [n for n in args.only.split(",") if n]

    if args.framework:
        result = run_torch(names, args.min_time) if args.framework == "torch" else run_nnabla_api(args.framework, names, args.min_time)
        print(json.dumps(result))
        return

    try:
        columns = run_interleaved(names, args.min_time)
    except ImportError:
        print("PyTorch is not installed: no torch column (pip install torch==2.13.0)")
        columns = {"nnl": run_nnabla_api("nnl", names, args.min_time)}
    nnabla_python = os.environ.get("NNABLA_PYTHON")
    if nnabla_python:
        out = subprocess.run(
            [nnabla_python, __file__, "--framework", "nnabla", "--only", ",".join(names), "--min-time", str(args.min_time)]
            + (["--threads", str(args.threads)] if args.threads else []),
            capture_output=True, text=True, check=True,
        )
        columns["nnabla"] = json.loads(out.stdout.strip().splitlines()[-1])
    others = [c for c in columns if c != "nnl"]
    header = f"{'workload':<18}" + "".join(f"{c + ' ms':>12}" for c in columns) + "".join(f"{'nnl/' + c:>12}" for c in others)
    print(header)
    for name in names:
        row = f"{name:<18}" + "".join(f"{columns[c][name] * 1e3:>12.3f}" for c in columns)
        row += "".join(f"{columns['nnl'][name] / columns[c][name]:>12.2f}" for c in others)
        if name in workloads.PER_FUNCTION:
            row += f"   ({columns['nnl'][name] * 1e6 / workloads.PER_FUNCTION[name]:.1f} us/function on nnl)"
        print(row)


if __name__ == "__main__":
    main()
