"""Every per-function case of nnl's generic tester as a one-function ``.nnp``, run by the real nnabla 1.39.

nnl builds each case (``nnl.testing.cases``), captures it (``nnp_from_outputs``) and saves ``.nnp`` + inputs; ONE
nnabla process (``function_driver.py``) loads every file with ``NnpLoader``, runs forward on the saved inputs and
writes the outputs, recording per case what failed. Then, per case:

- ``test_nnabla_runs_nnl_file``: nnabla loads and runs the file (documented nnabla limitations: xfail);
- ``test_nnabla_agrees``: its outputs equal nnl's (1e-5 abs, 1e-4 rel; documented implementation-specific
  functions: xfail). Cases nnabla could not run are skipped here with nnabla's error.

Not written: Sink (nnabla drops it from files too), random functions without a fixed seed, cases whose API returns
its input (nothing to save).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import nnl
from nnl.functions import registry
from nnl.functions.catalogue import TYPE_NAMES
from nnl.nnp.capture import nnp_from_outputs
from nnl.nnp.container import write_nnp
from nnl.testing.cases import all_cases
from nnl.testing.function_tester import call_function, draw_inputs

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "function_driver.py"
REGISTRY = frozenset(TYPE_NAMES.values())
CASES = [c for c in all_cases() if c.function in REGISTRY and c.function != "Sink"]
IDS = [c.id for c in CASES]
ATOL, RTOL = 1e-5, 1e-4

_RANKS = (
    "nnabla's binary functions need inputs of the same rank (its own F.add2 etc. raise the same error); "
    "nnl broadcasts ranks as NumPy does: an nnl extension"
)
_CHANNEL_LAST = "nnabla's CPU implementation has no channel_last (cuDNN only)"
_NO_CPU_FFT = "nnabla 1.39 has no CPU implementation of FFT / IFFT"
_POOLING_1D = "nnabla's CPU pooling supports 2D and 3D kernels only"
# case id -> why nnabla 1.39 cannot load / run nnl's file (the file itself is fine: nnl's own
# round trip reads it back, tests/test_nnp_roundtrip.py)
NNABLA_CANNOT_RUN: dict[str, str] = {
    **dict.fromkeys(
        [
            "Add2-rank_broadcast",
            "Add2-both_broadcast",
            "Add2-broadcast",
            "Sub2-broadcast",
            "Mul2-broadcast_both",
            "Div2-broadcast",
            "Pow2-broadcast",
            "Minimum2-broadcast",
            "Maximum2-broadcast",
            "Equal-broadcast",
            "NotEqual-broadcast",
            "GreaterEqual-broadcast",
            "Greater-broadcast",
            "LessEqual-broadcast",
            "Less-broadcast",
            "LogicalAnd-broadcast",
            "LogicalOr-broadcast",
            "LogicalXor-broadcast",
            "SquaredError-broadcast",
            "ATan2-broadcast",
            "Mod2",
            "BitShift",
            "BitShift-right",
        ],
        _RANKS,
    ),
    "BatchMatmul-2d": "nnabla's BatchMatmul needs inputs of rank >= 3 (nnl accepts matrices: an nnl extension)",
    **dict.fromkeys(
        [
            "Convolution-channel_last",
            "Deconvolution-channel_last",
            "RoiAlign-channel_last",
            "MaxPooling-channel-last",
            "AveragePooling-channel-last",
            "SumPooling-channel-last",
            "Unpooling-channel-last",
            "Interpolate-channel_last",
            "WarpByGrid-channel_last",
        ],
        _CHANNEL_LAST,
    ),
    "BatchNormalization-train-2axes": "nnabla's CPU batch normalization supports a single axis only",
    "SyncBatchNormalization": "nnabla's loader passes the file's Communicator message where its C++ function needs an "
    "nnabla.communicator.Communicator: no SyncBatchNormalization loads without one",
    "MaxPooling-1d": _POOLING_1D,
    "AveragePooling-1d": _POOLING_1D,
    **dict.fromkeys(["FFT", "FFT-2d_normalized", "FFT-3d", "IFFT", "IFFT-2d_normalized"], _NO_CPU_FFT),
}
_OWN_GENERATOR = "a random function with a fixed seed: each library has its own generator (nnabla: C++ std::mt19937)"
# case id -> why the outputs legitimately differ
IMPLEMENTATION_SPECIFIC: dict[str, str] = {
    "Rand": _OWN_GENERATOR,
    "ImageAugmentation-all_args": _OWN_GENERATOR,
    "MaxPooling-empty-windows": "windows wholly in the padding: nnabla reads x.flat[h0 * W + w0] at the clipped window "
    "start without clamping w0 (or h0) into the plane, i.e. the next row or memory past the "
    "plane (undefined values); nnl reads the clamped start",
    "PadPackedSequence": "nnabla 1.39 ignores padding_value and pads with 0 (its own F.pad_packed_sequence does too)",
}


def _is_random(case) -> bool:
    """Random functions without a fixed seed draw anew on each run (as in tests/test_nnp_roundtrip.py)."""
    cls = registry.function_class(case.function)
    if "dropout" in case.id.lower():  # recurrent dropout draws from the global generator
        return True
    if "seed" in cls.args_spec:
        return case.args.get("seed", -1) < 0
    return case.function.startswith("Rand") or case.function in ("Dropout", "RandomErase", "ImageAugmentation")


def _known(table: dict[str, str], case) -> str | None:
    return table.get(case.id)


def _export(case, file: str, work: Path, inputs: dict, outputs: dict) -> dict | str:
    """Build, run and save one case; returns its manifest entry, or why it is not written."""
    if _is_random(case):
        return "random function without a fixed seed"
    arrays = draw_inputs(case)
    variables = [None if a is None else nnl.Variable.from_numpy_array(a) for a in arrays]
    results = call_function(case, variables)
    if any(o.parent is None for o in results):
        return "the API returns its input (no function to save)"
    names = {f"in{i}": v for i, v in enumerate(variables) if v is not None}
    named = {f"out{i}": o for i, o in enumerate(results)}
    nnp = nnp_from_outputs(named, name="net", names=names)
    nnl.forward_all(results)
    write_nnp(work / file, nnp)
    inputs.update({f"{file}.{k}": a for k, a in zip(names, [a for a in arrays if a is not None])})
    outputs.update({f"{file}.{k}": np.array(o.d) for k, o in named.items()})
    dynamic = any(o.parent.data_dependent_shape for o in results)
    return {"id": case.id, "file": file, "inputs": list(names), "outputs": list(named), "dynamic": dynamic}


def _run_nnabla_driver(python: str, work: Path, count: int) -> dict:
    """Run the driver over all cases; when nnabla's process dies, record the case it was on and go on after it.
    Returns {case id: {"stage", "error"}}."""
    errors, start = {}, 0
    while start < count:
        proc = subprocess.run(
            [python, str(DRIVER), "nnabla", str(work), str(start)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=str(HERE),
        )
        if proc.returncode == 0:
            break
        progress = work / "nnabla_progress.txt"
        if not progress.exists() or int(progress.read_text()) < start:
            raise AssertionError(f"function_driver.py failed before running a case:\n{proc.stdout}\n{proc.stderr}")
        index = int(progress.read_text())
        errors[index] = {
            "stage": "crash",
            "error": f"nnabla's process died (return code {proc.returncode}): "
            f"{(proc.stderr.strip().splitlines() or [''])[-1][:300]}",
        }
        start = index + 1
    log = work / "nnabla_errors.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    found = {e.pop("id"): e for e in map(json.loads, lines)}
    return found, errors


@pytest.fixture(scope="module")
def results(tmp_path_factory, nnabla_python):
    """{case id: {"skip": reason} | {"error": {...}} | {"nnl": [arrays], "nnabla": [arrays]}}."""
    work = tmp_path_factory.mktemp("functions")
    inputs, nnl_outputs, manifest, found = {}, {}, [], {}
    for index, case in enumerate(CASES):
        entry = _export(case, f"{index:04d}.nnp", work, inputs, nnl_outputs)
        if isinstance(entry, str):
            found[case.id] = {"skip": entry}
        else:
            manifest.append(entry)
    (work / "manifest.json").write_text(json.dumps(manifest))
    np.savez(work / "inputs.npz", **inputs)
    errors, crashes = _run_nnabla_driver(nnabla_python, work, len(manifest))
    errors.update({manifest[index]["id"]: error for index, error in crashes.items()})
    for entry in manifest:
        if entry["id"] in errors:
            found[entry["id"]] = {"error": errors[entry["id"]]}
            continue
        nnabla_outputs = np.load(work / f"{entry['file']}.nnabla.npz")
        found[entry["id"]] = {
            "nnl": [nnl_outputs[f"{entry['file']}.{name}"] for name in entry["outputs"]],
            "nnabla": [nnabla_outputs[name] for name in entry["outputs"]],
        }
    (work / "report.json").write_text(json.dumps({k: _summary(v) for k, v in found.items()}, indent=1))
    return found


def _summary(result: dict):
    """One line of report.json: why not run, nnabla's error, or how close the outputs are."""
    if "nnabla" not in result:
        return result.get("skip", result.get("error"))
    if all(np.array_equal(a, e, equal_nan=True) for a, e in zip(result["nnabla"], result["nnl"])):
        return "bit-exact"
    return "differs" if any(_same(a, e) for a, e in zip(result["nnabla"], result["nnl"])) else "within tolerance"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_nnabla_runs_nnl_file(results, case):
    result = results[case.id]
    if "skip" in result:
        pytest.skip(f"{case.id}: {result['skip']}")
    known = _known(NNABLA_CANNOT_RUN, case)
    if "error" in result:
        error = result["error"]
        message = f"{case.id}: nnabla 1.39 fails at {error['stage']}: {error['error']}"
        if known:
            pytest.xfail(f"{message} ({known})")
        pytest.fail(message)
    assert not known, f"{case.id}: nnabla runs it now: remove it from NNABLA_CANNOT_RUN"


def _same(actual: np.ndarray, expected: np.ndarray) -> str | None:
    """None, or how nnabla's output differs from nnl's."""
    if actual.shape != expected.shape:
        return f"shape {actual.shape} (nnabla) vs {expected.shape} (nnl)"
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    close = np.isclose(a, e, atol=ATOL, rtol=RTOL, equal_nan=True)
    if close.all():
        return None
    worst = np.unravel_index(np.argmax(np.where(close, 0, np.abs(a - e))), a.shape) if a.ndim else ()
    return (
        f"{int((~close).sum())}/{close.size} elements differ; max |diff| "
        f"{np.nanmax(np.abs(a - e)):.3g}; at {tuple(int(i) for i in worst)}: nnabla {a[worst]!r}, nnl {e[worst]!r}"
    )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_nnabla_agrees(results, case):
    result = results[case.id]
    if "skip" in result:
        pytest.skip(f"{case.id}: {result['skip']}")
    if "error" in result:
        pytest.skip(f"{case.id}: nnabla could not run the file ({result['error']['error']})")
    problems = [
        f"output {i}: {p}" for i, (a, e) in enumerate(zip(result["nnabla"], result["nnl"])) if (p := _same(a, e))
    ]
    known = _known(IMPLEMENTATION_SPECIFIC, case)
    if problems and known:
        pytest.xfail(f"{case.id}: {'; '.join(problems)} ({known})")
    assert not problems, f"{case.id}: " + "; ".join(problems)
    assert not known, f"{case.id}: nnabla agrees now: remove it from IMPLEMENTATION_SPECIFIC"
