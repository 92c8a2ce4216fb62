"""Training speed by precision: nnl on the torch extension (CPU) or cuda/cudnn (GPU) against PyTorch eager, float32
and with torch.autocast for float16 / bfloat16, in alternating rounds of one process. Prints one table (on CUDA
with the memory each step allocates).

    python benchmarks/precision.py [--device cpu|cuda] [--only lenet,resnet20,lstm,resnet50]
                                   [--precisions float,half,bfloat16] [--min-time 2] [--graph]

nnl runs the workloads of ``workloads.py`` with ``get_extension_context(<torch|cudnn>, type_config=...)``; PyTorch
runs the same networks (``torch_twins.py``) on the same device, in autocast for half and bfloat16.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

BATCH = {"lenet": 64, "resnet20": 128, "lstm": 32, "resnet50": 64}
AUTOCAST = {"half": "float16", "bfloat16": "bfloat16"}


def nnl_step(name: str, extension: str, type_config: str, graph: bool = False) -> Any:
    import workloads

    import nnl as nn
    import nnl.functions as F
    import nnl.parametric_functions as PF
    import nnl.solvers as S
    from nnl.core.dispatch import FallbackWarning
    from nnl.ext_utils import get_extension_context

    warnings.simplefilter("ignore", FallbackWarning)
    workloads.CAPTURE = graph
    nn.clear_parameters()
    with nn.context_scope(get_extension_context(extension, device_id="0", type_config=type_config)):
        step = workloads.WORKLOADS[name](nn, F, PF, S, batch=BATCH[name])
    return step


def torch_step(torch: Any, name: str, device: str, precision: str) -> Any:
    import torch_twins

    rng = np.random.RandomState(0)
    batch = BATCH[name]
    if name == "lstm":
        lstm, fc = torch.nn.LSTM(128, 256), torch.nn.Linear(256, 10)
        model = torch.nn.ModuleList([lstm, fc]).to(device)
        x = torch.tensor(rng.randn(20, batch, 128), dtype=torch.float32, device=device)

        def forward() -> Any:
            return fc(lstm(x)[0][-1])

        classes = 10
    else:
        model = {"lenet": torch_twins._lenet, "resnet20": torch_twins._resnet20, "resnet50": torch_twins._resnet50}[name](torch).to(device)
        shape = {"lenet": (1, 28, 28), "resnet20": (3, 32, 32), "resnet50": (3, 224, 224)}[name]
        x = torch.tensor(rng.randn(batch, *shape), dtype=torch.float32, device=device)
        classes = 1000 if name == "resnet50" else 10

        def forward() -> Any:
            return model(x)

    t = torch.tensor(rng.randint(0, classes, batch), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = getattr(torch, AUTOCAST[precision]) if precision in AUTOCAST else None
    scaler = torch.amp.GradScaler(device) if precision == "half" and device == "cuda" else None

    def step() -> None:
        optimizer.zero_grad()
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(forward(), t)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    return step


def timed(step: Any, sync: Any, seconds: float) -> float:
    """Median seconds per step over ``seconds`` (each step followed by a device synchronisation)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step_memory(torch: Any, step: Any) -> float:
    """MiB a CUDA step allocates above what stays allocated between steps (activations, gradients, workspace)."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--only", default="lenet,resnet20,lstm")
    parser.add_argument("--precisions", default="float,half,bfloat16")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per workload, precision and framework")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--graph", action="store_true", help="also time nnl replaying each step as a CUDA graph")
    args = parser.parse_args()
    import torch

    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    extension = "cudnn" if args.device == "cuda" else "torch"
    print(f"device: {torch.cuda.get_device_name(0) if args.device == 'cuda' else 'cpu'}, torch {torch.__version__}")
    graph_header = f"{'graph ms':>10}{'graph/torch':>12}" if args.graph else ""
    memory_header = f"{'nnl MiB':>10}{'torch MiB':>10}" if args.device == "cuda" else ""
    print(f"{'workload':<10}{'precision':<10}{'nnl ms':>10}{'torch ms':>10}{'nnl/torch':>11}{'nnl vs float':>14}{graph_header}{memory_header}")
    for name in args.only.split(","):
        float_ms = None
        for precision in args.precisions.split(","):
            steps = {"nnl": nnl_step(name, extension, precision), "torch": torch_step(torch, name, args.device, precision)}
            if args.graph:
                steps["nnl graph"] = nnl_step(name, extension, precision, graph=True)
            for framework, step in list(steps.items()):  # warm up (cudnn autotuning, allocator)
                try:
                    step()
                    step()
                except RuntimeError as error:  # e.g. PyTorch's own LSTM in float16 on a CPU
                    print(f"{name} {precision}: {framework} cannot run: {str(error).splitlines()[0]}")
                    del steps[framework]
            sync()
            memory = {k: step_memory(torch, steps[k]) for k in ("nnl", "torch") if k in steps} if args.device == "cuda" else {}
            rounds: dict[str, list[float]] = {framework: [] for framework in steps}
            for _ in range(args.rounds):
                for framework, step in steps.items():
                    rounds[framework].append(timed(step, sync, args.min_time / args.rounds))
            ms = {k: statistics.median(v) * 1e3 for k, v in rounds.items()}
            nnl_ms, torch_ms = ms.get("nnl", float("nan")), ms.get("torch", float("nan"))
            float_ms = nnl_ms if precision == "float" else float_ms
            speedup = f"{float_ms / nnl_ms:.2f}x" if float_ms else ""
            graph = f"{ms['nnl graph']:>10.2f}{ms['nnl graph'] / torch_ms:>12.2f}" if "nnl graph" in ms else ""
            mib = "".join(f"{memory.get(k, float('nan')):>10.0f}" for k in ("nnl", "torch")) if memory else ""
            print(f"{name:<10}{precision:<10}{nnl_ms:>10.2f}{torch_ms:>10.2f}{nnl_ms / torch_ms:>11.2f}{speedup:>14}{graph}{mib}", flush=True)


if __name__ == "__main__":
    main()
