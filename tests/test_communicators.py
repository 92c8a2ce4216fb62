"""nnl.communicators: nnabla's communicator API on torch.distributed (gloo on the CPU).

The multi-process tests start 2 workers (tests/distributed_worker.py) through ``nnl.communicators.launch``; the
workers check the collectives themselves, and the data-parallel test compares the parameters trained by 2
processes (batch B each) with those of 1 process (batch 2B) on the same data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nnl as nn
import nnl.communicators as C
import nnl.functions as F
from nnl.utils import communicator_util

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_worker.py")
TIMEOUT = 60


def _torch_available() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:
        return False
    return bool(dist.is_available() and dist.is_gloo_available())


needs_torch = pytest.mark.skipif(not _torch_available(), reason="torch.distributed (gloo) is not installed")


@pytest.fixture
def no_dist_env(monkeypatch):
    """A plain single process, whatever launched pytest."""
    for key in (
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK",
        "PMI_SIZE",
        "PMI_RANK",
        "SLURM_NTASKS",
        "SLURM_PROCID",
    ):
        monkeypatch.delenv(key, raising=False)


def _run(nproc: int, scenario: str, out_dir) -> list:  # noqa: ANN001
    return C.launch(nproc, WORKER, [scenario, str(out_dir)], capture_output=True, timeout=TIMEOUT)


# -- multi-process --------------------------------------------------------------------------------------------
@needs_torch
def test_collectives_two_processes(tmp_path):
    """all_reduce (sum, division, packed, per array, dtypes, strided), bcast, reduce, all_gather,
    reduce_scatter, barrier, groups, the size-mismatch error and all_reduce_callback: checked in each worker."""
    results = _run(2, "collectives", tmp_path)
    assert [r.returncode for r in results] == [0, 0]
    assert sorted(os.listdir(tmp_path)) == ["rank0.npz", "rank1.npz"]


@needs_torch
def test_data_parallel_training_matches_single_process(tmp_path):
    """2 processes x batch B with gradients all-reduced (division=True) == 1 process x batch 2B, for SGD and
    Adam, all_reduce after backward and all_reduce_callback during it, a parameter used twice, and
    sync batch normalization."""
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    one.mkdir()
    _run(2, "train", two)
    _run(1, "train", one)
    rank0, rank1, single = (np.load(p) for p in (two / "rank0.npz", two / "rank1.npz", one / "rank0.npz"))
    assert set(rank0.files) == set(single.files) and len(single.files) > 20
    initial = np.random.RandomState(1)
    for key in single.files:
        if key.startswith("sgd_none/"):
            continue
        np.testing.assert_allclose(rank0[key], single[key], rtol=1e-5, atol=1e-5, err_msg=key)
        np.testing.assert_array_equal(rank0[key], rank1[key], err_msg=key)
    # the control: without the exchange the ranks do not agree, so the comparison above can fail
    drift = max(np.abs(rank0[k] - rank1[k]).max() for k in rank0.files if k.startswith("sgd_none/"))
    assert drift > 1e-3
    # and training moved the parameters away from their (broadcast) initial values
    w = single["sgd_allreduce/fc1/affine/W"]
    assert np.abs(w - initial.randn(*w.shape) * 0.5).max() > 1e-3


@needs_torch
def test_launch_propagates_a_failing_worker(tmp_path):
    with pytest.raises(C.LaunchError) as info:
        _run(2, "fail", tmp_path)
    message = str(info.value)
    assert "worker rank 1" in message and "exited with code 1" in message
    assert "worker 1 fails on purpose" in message  # the end of its stderr
    codes = {r.rank: r.returncode for r in info.value.results}
    assert codes[1] == 1 and codes[0] != 0  # rank 0, stuck in barrier, was stopped


@needs_torch
def test_abort_ends_the_job(tmp_path):
    with pytest.raises(C.LaunchError) as info:
        _run(2, "abort", tmp_path)
    assert "worker rank 1" in str(info.value) and "abort() called on rank 1" in str(info.value)


def test_launch_sets_the_environment(tmp_path):
    script = tmp_path / "env.py"
    script.write_text(
        "import os\n"
        "print(*[os.environ[k] for k in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', "
        "'MASTER_ADDR', 'MASTER_PORT', 'OMP_NUM_THREADS')], os.environ.get('EXTRA'))\n"
    )
    results = C.launch(3, str(script), env={"EXTRA": "x"}, capture_output=True, timeout=TIMEOUT)
    rows = [r.stdout.split() for r in results]
    assert [row[:4] for row in rows] == [[str(i), str(i), "3", "3"] for i in range(3)]
    assert len({row[5] for row in rows}) == 1 and rows[0][4] == "127.0.0.1"
    assert all(row[7] == "x" for row in rows)


def test_launch_timeout_stops_the_workers(tmp_path):
    script = tmp_path / "sleep.py"
    script.write_text("import time\ntime.sleep(60)\n")
    with pytest.raises(C.LaunchError, match="did not finish within 1 s"):
        C.launch(2, str(script), timeout=1, capture_output=True)


def test_launch_errors():
    with pytest.raises(ValueError, match="nproc"):
        C.launch(0, WORKER)
    with pytest.raises(FileNotFoundError):
        C.launch(1, "/nonexistent/script.py")


def test_launch_cli(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import os, sys\nsys.exit(3 if os.environ['RANK'] == '1' else 0)\n")
    done = subprocess.run(
        [sys.executable, "-m", "nnl._distributed.launch", "--nproc", "2", str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 3 and "worker rank 1" in done.stderr


# -- one process -------------------------------------------------------------------------------------------
def test_single_process_without_torch(tmp_path):
    """A plain process is a world of one: identity collectives, and torch is never imported."""
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import nnl as nn, nnl.communicators as C
        from nnl.utils.communicator_util import create_communicator, single_or_rankzero
        comm = C.MultiProcessDataParalellCommunicator(nn.Context())
        comm.init()
        a = nn.NdArray.from_numpy_array(np.arange(3.0))
        comm.all_reduce([a], division=True)
        comm.bcast(a, src=0)
        comm.barrier()
        assert (comm.size, comm.rank, comm.local_rank) == (1, 0, 0)
        assert a.data.tolist() == [0.0, 1.0, 2.0]
        assert create_communicator() is None and single_or_rankzero()
        assert 'torch' not in sys.modules, 'torch was imported'
        print('ok')
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_single_process_api(no_dist_env):
    comm = C.MultiProcessDataParallelCommunicator(nn.Context())
    assert C.MultiProcessCommunicator is C.Comm is C.Dist is C.MultiProcessDataParalellCommunicator
    assert comm.size == 1 and comm.rank == 0
    with pytest.raises(C.CommunicatorError, match=r"call comm.init\(\) first"):
        comm.all_reduce(nn.NdArray((2,)))
    comm.init()
    with pytest.raises(C.CommunicatorError, match="already initialized"):
        comm.init()
    assert comm.name == "MultiProcessDataParallelCommunicator" and comm.backend == "single"
    a = nn.NdArray.from_numpy_array(np.array([1.0, 2.0], np.float32))
    comm.all_reduce(a, division=True, inplace=True)
    comm.reduce([a], dst=0, division=True)
    comm.bcast([a], src=0, inplace=True)
    np.testing.assert_array_equal(a.data, [1.0, 2.0])
    out = [nn.NdArray((2,))]
    comm.all_gather(a, out)
    np.testing.assert_array_equal(out[0].data, [1.0, 2.0])
    y = nn.NdArray((2,))
    comm.reduce_scatter([a], y)
    np.testing.assert_array_equal(y.data, [1.0, 2.0])
    # groups
    assert comm.list_groups() == {"world": [0]}
    assert comm.new_group(("me", [0])) == "me" and comm.find_group("me") == [0] and comm.find_group("x") == []
    comm.all_reduce(a, group="me")
    with pytest.raises(ValueError, match="distinct ranks"):
        comm.new_group(("bad", [0, 1]))
    with pytest.raises(C.CommunicatorError, match="group 'nope' does not exist"):
        comm.all_reduce(a, group="nope")
    # errors
    with pytest.raises(C.CommunicatorError, match="src=1 is not a rank"):
        comm.bcast(a, src=1)
    with pytest.raises(ValueError, match="one array per process"):
        comm.all_gather(a, [nn.NdArray((2,)), nn.NdArray((2,))])
    with pytest.raises(TypeError, match="got a Variable"):
        comm.all_reduce([nn.Variable((2,))])
    # Variables' data/grad and the deprecated allreduce over added parameters
    v = nn.Variable.from_numpy_array(np.ones(3, np.float32), need_grad=True)
    v.g = 2.0
    comm.add_context_and_parameters((nn.Context(), {"v": v}))
    comm.allreduce(division=True)
    np.testing.assert_array_equal(v.g, [2.0, 2.0, 2.0])
    comm.clear_context_parameters()
    with pytest.raises(TypeError, match="tuple of two elements"):
        comm.add_context_and_parameters([nn.Context(), {}])


def test_all_reduce_callback_single_process(no_dist_env):
    """scale_grad applies and the gradients equal plain backward's, with a shared leaf and several packs."""
    comm = C.MultiProcessDataParallelCommunicator(nn.Context())
    comm.init()
    rng = np.random.RandomState(0)
    a = nn.Variable.from_numpy_array(rng.randn(3, 4).astype(np.float32), need_grad=True)
    b = nn.Variable.from_numpy_array(rng.randn(3, 4).astype(np.float32), need_grad=True)
    unused = nn.Variable.from_numpy_array(np.ones(2, np.float32), need_grad=True)
    y = F.sum(F.tanh(a * b) + a * a + F.sin(b))
    y.forward()
    for v in (a, b, unused):
        v.grad.zero()
    y.backward()
    ref = [a.g.copy(), b.g.copy()]
    for v in (a, b, unused):
        v.grad.zero()
    unused.g = 1.0
    cb = comm.all_reduce_callback([a.grad, b.grad, unused.grad], 4, division=True, scale_grad=0.5)
    y.backward(communicator_callbacks=cb)
    np.testing.assert_allclose(a.g, ref[0] * 0.5, rtol=1e-6)
    np.testing.assert_allclose(b.g, ref[1] * 0.5, rtol=1e-6)
    np.testing.assert_allclose(unused.g, 0.5)  # not in the graph: still reduced (and scaled) at the end
    assert cb.last_stats["redone"] == 0 and cb.last_stats["early"] >= 1
    # reusable for the next backward
    for v in (a, b):
        v.grad.zero()
    y.backward(communicator_callbacks=cb)
    np.testing.assert_allclose(a.g, ref[0] * 0.5, rtol=1e-6)


def test_all_reduce_callback_redoes_a_pack_written_after_it_left(no_dist_env, monkeypatch):
    """The safety net: when the writer count is wrong, the late write is not lost."""
    from nnl._distributed import callback

    monkeypatch.setattr(callback, "_count_writers", lambda function, index: [1] * len(index))
    comm = C.MultiProcessDataParallelCommunicator(nn.Context())
    comm.init()
    a = nn.Variable.from_numpy_array(np.arange(4, dtype=np.float32), need_grad=True)
    y = F.sum(F.tanh(a) + a * 3.0)  # `a` has two consumers
    y.forward()
    a.grad.zero()
    cb = comm.all_reduce_callback([a.grad], 1)
    y.backward(communicator_callbacks=cb)
    np.testing.assert_allclose(a.g, 1 - np.tanh(np.arange(4)) ** 2 + 3, rtol=1e-6)
    assert cb.last_stats["redone"] == 1


def test_data_parallel_communicator_single_process():
    comm = C.DataParalellCommunicator(nn.Context())
    grads = []
    for device in range(3):
        v = nn.Variable((2, 2), need_grad=True)
        v.g = device + 1.0
        grads.append(v)
        comm.add_context_and_parameters((nn.Context(device_id=str(device)), {"w": v}))
    with pytest.raises(ValueError, match="The same context was added"):
        comm.add_context_and_parameters((nn.Context(device_id="0"), {"w": nn.Variable((2, 2))}))
    comm.init()
    assert comm.size == 3 and comm.rank == 0
    comm.allreduce(division=True)
    for v in grads:
        np.testing.assert_allclose(v.g, 2.0)
    with pytest.raises(C.CommunicatorError, match="need several processes"):
        comm.all_reduce([grads[0].grad])


def test_communicator_util_with_torchrun_env(monkeypatch):
    """Under a launcher of one process, create_communicator gives None (nnabla drops size-1 communicators)."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert communicator_util.create_communicator() is None
    assert communicator_util.single_or_rankzero() and C.single_or_rankzero() and C.current_communicator() is None


def test_env_reading():
    from nnl._distributed.env import read_env

    assert read_env({}).size == 1 and not read_env({}).distributed
    e = read_env({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1"})
    assert (e.rank, e.size, e.local_rank, e.launcher) == (3, 4, 1, "Open MPI")
    with pytest.raises(ValueError, match="RANK=2 and WORLD_SIZE=2"):
        read_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_torch_missing_message(monkeypatch):
    from nnl._distributed import backend

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pip install nnl\[torch\]"):
        backend.import_torch()


def test_backend_choice(monkeypatch):
    from nnl._distributed.backend import choose_backend

    monkeypatch.delenv("NNL_DIST_BACKEND", raising=False)
    assert choose_backend(nn.Context(["cpu:float"])) == "gloo"
    assert choose_backend(nn.Context(["cudnn:float", "cuda:float", "cpu:float"])) == "nccl"
    monkeypatch.setenv("NNL_DIST_BACKEND", "gloo")
    assert choose_backend(nn.Context(["cudnn:float"])) == "gloo"
