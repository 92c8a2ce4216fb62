"""Worker script of tests/test_communicators.py, started in N processes by ``nnl.communicators.launch``.

``python distributed_worker.py SCENARIO OUT_DIR``: each scenario checks what it can itself (and exits non-zero
on a failed check, which the launcher turns into a LaunchError naming the rank) and saves what the test compares
across runs in ``OUT_DIR/rank<R>.npz``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import nnl as nn
import nnl.communicators as C
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.ext_utils import get_extension_context


def _comm() -> C.Communicator:
    ctx = get_extension_context("cpu")
    comm = C.MultiProcessDataParallelCommunicator(ctx)
    comm.init()
    ctx.device_id = str(comm.local_rank)
    nn.set_default_context(ctx)
    return comm


def _close(a, b, what):  # noqa: ANN001, ANN202
    if not np.allclose(a, b, rtol=1e-6, atol=1e-6):
        raise AssertionError(f"{what}: got {np.asarray(a).tolist()}, expected {np.asarray(b).tolist()}")


# -- collectives --------------------------------------------------------------------------------------------
def collectives(out_dir: str) -> None:
    comm = _comm()
    r, n = comm.rank, comm.size
    assert n == 2 and comm.local_rank == r, (n, r, comm.local_rank)
    assert comm.name == "MultiProcessDataParallelCommunicatorGloo", comm.name
    rng = np.random.RandomState(313)
    base = [rng.rand(3, 4).astype(np.float32) for _ in range(5)]
    factor = sum(range(1, n + 1))  # rank r holds base * (r + 1)

    # all_reduce: sum and division, packed (inplace=False) and per array (inplace=True), list and single
    for inplace in (False, True):
        for division in (False, True):
            xs = [nn.Variable.from_numpy_array(b * (r + 1)) for b in base]
            comm.all_reduce([x.data for x in xs], division=division, inplace=inplace)
            for x, b in zip(xs, base):
                _close(x.d, b * factor / (n if division else 1), f"all_reduce(inplace={inplace}, division={division})")
    single = nn.NdArray.from_numpy_array(np.full((2, 3), r + 1.0, np.float32))
    comm.all_reduce(single)
    _close(single.data, np.full((2, 3), factor), "all_reduce(single NdArray)")
    # gradients of Variables, a float64 array and an int array in one call (one packed buffer per dtype)
    v = nn.Variable((4,), need_grad=True)
    v.g = np.arange(4) * (r + 1)
    d64 = nn.NdArray.from_numpy_array(np.ones(3, np.float64) * (r + 1))
    i32 = nn.NdArray.from_numpy_array(np.array([1, 2], np.int32) * (r + 1))
    comm.all_reduce([v.grad, d64, i32], division=False)
    _close(v.g, np.arange(4) * factor, "all_reduce(grad)")
    assert d64.data.dtype == np.float64 and i32.data.dtype == np.int32
    _close(d64.data, np.ones(3) * factor, "all_reduce(float64)")
    _close(i32.data, np.array([1, 2]) * factor, "all_reduce(int32)")
    # non-contiguous array: written back through a temporary
    strided = np.zeros((4, 4), np.float32)
    strided[:, ::2] = r + 1
    comm.all_reduce(strided[:, ::2])
    _close(strided[:, ::2], np.full((4, 2), factor), "all_reduce(strided view)")
    _close(strided[:, 1::2], np.zeros((4, 2)), "all_reduce(strided view) leaves the rest")

    # bcast from rank 1, packed and not
    for inplace in (False, True):
        xs = [nn.NdArray.from_numpy_array(b * (r + 1)) for b in base]
        comm.bcast(xs, src=1, inplace=inplace)
        for x, b in zip(xs, base):
            _close(x.data, b * 2, f"bcast(src=1, inplace={inplace})")

    # reduce to rank 1: rank 0 keeps its data
    for division in (False, True):
        xs = [nn.NdArray.from_numpy_array(b * (r + 1)) for b in base]
        comm.reduce(xs, dst=1, division=division)
        for x, b in zip(xs, base):
            expected = b * factor / (n if division else 1) if r == 1 else b * (r + 1)
            _close(x.data, expected, f"reduce(dst=1, division={division}) on rank {r}")

    # all_gather
    x = nn.NdArray.from_numpy_array(base[0] * r)
    ys = [nn.NdArray((3, 4)) for _ in range(n)]
    comm.all_gather(x, ys)
    for i, y in enumerate(ys):
        _close(y.data, base[0] * i, f"all_gather[{i}]")

    # reduce_scatter: rank i gets the sum of everybody's i-th array
    for division in (False, True):
        xs = [nn.NdArray.from_numpy_array(base[i] * (r + 1)) for i in range(n)]
        y = nn.NdArray((3, 4))
        comm.reduce_scatter(xs, y, division=division)
        _close(y.data, base[r] * factor / (n if division else 1), f"reduce_scatter(division={division})")

    comm.barrier()

    # groups (created by every process, as torch.distributed requires)
    assert comm.list_groups() == {"world": [0, 1]}, comm.list_groups()
    assert comm.new_group(("solo1", [1])) == "solo1"
    assert comm.new_group(("all", np.arange(n))) == "all"
    assert comm.list_groups() == {"world": [0, 1], "solo1": [1], "all": [0, 1]}, comm.list_groups()
    assert comm.find_group("solo1") == [1] and comm.find_group("nope") == []
    a = nn.NdArray.from_numpy_array(np.full(3, r + 1.0, np.float32))
    comm.all_reduce(a, division=True, group="all")
    _close(a.data, np.full(3, factor / n), "all_reduce(group='all')")
    if r == 1:
        b = nn.NdArray.from_numpy_array(np.full(3, 5.0, np.float32))
        comm.all_reduce(b, division=True, group="solo1")
        _close(b.data, np.full(3, 5.0), "all_reduce(group='solo1')")
    else:
        try:
            comm.all_reduce(a, group="solo1")
        except C.CommunicatorError as error:
            assert "not a member of group 'solo1'" in str(error), error
        else:
            raise AssertionError("a collective of a group this rank is not in must raise")
    comm.barrier()

    # arrays that differ across ranks are reported, on every rank, instead of reducing garbage
    mismatched = nn.NdArray((3 + r,))
    try:
        comm.all_reduce([mismatched])
    except C.CommunicatorError as error:
        message = str(error)
        assert "rank 0: 1 arrays [(3,) float32]" in message and "rank 1: 1 arrays [(4,) float32]" in message, message
    else:
        raise AssertionError("all_reduce with different sizes must raise")
    # still usable afterwards
    ok = nn.NdArray.from_numpy_array(np.ones(2, np.float32))
    comm.all_reduce(ok)
    _close(ok.data, np.full(2, 2.0), "all_reduce after a mismatch")

    # all_reduce_callback on the graph of nnabla's test: sum of 20 leaves
    for division in (False, True):
        leaves = []
        total = nn.Variable((3, 4))
        total.d = 0
        for i in range(20):
            leaf = nn.Variable((3, 4), need_grad=True)
            leaf.d = np.float32(i) * (r + 1)
            leaf.g = 0
            total = F.add2(total, leaf)
            leaves.append(leaf)
        total = total * (r + 1.0)
        total.forward()
        total.backward(
            clear_buffer=True,
            communicator_callbacks=comm.all_reduce_callback([v.grad for v in leaves], 8, division=division),
        )
        for leaf in leaves:
            _close(leaf.g, np.full((3, 4), factor / (n if division else 1)), f"all_reduce_callback({division})")
    np.savez(os.path.join(out_dir, f"rank{r}.npz"), ok=np.ones(1))


# -- data-parallel training ---------------------------------------------------------------------------------
N_IN, N_HIDDEN, N_CLASS, BATCH, STEPS = 6, 8, 3, 8, 5  # BATCH is the global batch (2B)


def _dataset() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.randn(STEPS * BATCH, N_IN).astype(np.float32)
    y = rng.randint(0, N_CLASS, size=(STEPS * BATCH, 1)).astype(np.int32)
    return x, y


def _network(x: nn.Variable, config: str, comm: C.Communicator) -> nn.Variable:
    h = PF.affine(x, N_HIDDEN, name="fc1")
    if config == "syncbn":
        h = PF.sync_batch_normalization(h, comm, name="bn")
    h = F.relu(h)
    if config == "tied":  # one parameter used by two functions: its gradient has two contributions
        h = F.tanh(PF.affine(h, N_HIDDEN, name="shared"))
        h = F.tanh(PF.affine(h, N_HIDDEN, name="shared"))
    return PF.affine(h, N_CLASS, name="fc2")


TRAIN_CONFIGS = {
    # name: (solver, gradient exchange, network)
    "sgd_allreduce": ("sgd", "all_reduce", "mlp"),
    "adam_allreduce": ("adam", "all_reduce", "mlp"),
    "adam_callback": ("adam", "callback", "mlp"),
    "sgd_callback_tied": ("sgd", "callback", "tied"),
    "sgd_allreduce_syncbn": ("sgd", "all_reduce", "syncbn"),
    "sgd_none": ("sgd", "none", "mlp"),  # control: without the exchange the ranks must drift apart
}


def train(out_dir: str) -> None:
    comm = _comm()
    r, n = comm.rank, comm.size
    assert BATCH % n == 0
    local = BATCH // n
    data_x, data_y = _dataset()
    results: dict[str, np.ndarray] = {}
    for name, (solver_name, exchange, network) in TRAIN_CONFIGS.items():
        nn.clear_parameters()
        x = nn.Variable((local, N_IN))
        t = nn.Variable((local, 1))
        loss = F.mean(F.softmax_cross_entropy(_network(x, network, comm), t))
        params = nn.get_parameters()
        # different initial values on every rank: the broadcast from rank 0 must make them equal
        init = np.random.RandomState(1 + (r if n > 1 else 0))
        for p in params.values():
            p.d = init.randn(*p.shape) * 0.5
        comm.bcast([p.data for p in params.values()], src=0)
        solver = S.Sgd(lr=0.1) if solver_name == "sgd" else S.Adam(alpha=0.01)
        solver.set_parameters(params)
        for step in range(STEPS):
            start = step * BATCH + r * local  # this rank's slice of the global batch
            x.d = data_x[start : start + local]
            t.d = data_y[start : start + local]
            loss.forward(clear_no_need_grad=True)
            solver.zero_grad()
            grads = [p.grad for p in params.values()]
            if exchange == "callback":
                callback = comm.all_reduce_callback(grads, 16, division=True)
                loss.backward(clear_buffer=True, communicator_callbacks=callback)
                stats = callback.last_stats
                # packs leave while backward runs; the shared parameter is counted, so nothing is redone
                assert stats["early"] >= 1 and stats["redone"] == 0, stats
            elif exchange == "none":
                loss.backward(clear_buffer=True)
            else:
                loss.backward(clear_buffer=True)
                comm.all_reduce(grads, division=True, inplace=False)
            solver.update()
        for key, p in nn.get_parameters(grad_only=False).items():
            results[f"{name}/{key}"] = p.d.copy()
    np.savez(os.path.join(out_dir, f"rank{r}.npz"), **results)


# -- failures -----------------------------------------------------------------------------------------------
def fail(out_dir: str) -> None:
    comm = _comm()
    if comm.rank == 1:
        raise RuntimeError("worker 1 fails on purpose")
    comm.barrier()  # rank 0 would wait here forever: the launcher must stop it


def abort(out_dir: str) -> None:
    comm = _comm()
    if comm.rank == 1:
        comm.abort()
    comm.barrier()


SCENARIOS = {"collectives": collectives, "train": train, "fail": fail, "abort": abort}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](sys.argv[2])
