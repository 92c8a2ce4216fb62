"""The solver interface (nnabla's ``nnabla.solver``): ``Solver``, ``SolverState`` and global solver hooks.

A solver holds an ordered ``{name: Variable}`` of parameters and, per parameter, a state (named state Variables
such as Adam's ``mean`` / ``var`` plus an iteration count ``t``). Every operation works in place on the
parameters' float32 buffers and skips parameters whose gradient is pending-zero (``grad.zero()`` called and not
touched since), like nnabla.

The 18 update rules live in :mod:`nnl.solvers`; ``nnl.solver.Adam`` etc. resolve to them lazily, as in nnabla
where ``nnabla.solvers`` is an alias of ``nnabla.solver``.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from nnl.core.variable import Variable

__all__ = [
    "Solver",
    "SolverState",
    "set_solver_post_hook",
    "set_solver_pre_hook",
    "unset_solver_post_hook",
    "unset_solver_pre_hook",
]

_F32 = np.float32
_CHUNK = 1 << 18  # elements per chunk of the element-wise solver kernels (1 MiB of float32)
_T_MAX = 2**32 - 2  # nnabla: t = min(t + 1, uint32 max - 1)

# ---------------------------------------------------------------------------------------------------------------
# global hooks (nnabla.callback.set_solver_pre_hook & co.)

_global_pre_hooks: OrderedDict[str, Callable[[], Any]] = OrderedDict()
_global_post_hooks: OrderedDict[str, Callable[[], Any]] = OrderedDict()


def set_solver_pre_hook(key: str, solver_pre_hook: Callable[[], Any] | None) -> None:
    """Register a callable (no arguments) run before each parameter is processed by any solver operation."""
    if solver_pre_hook is not None:
        _global_pre_hooks[str(key)] = solver_pre_hook


def set_solver_post_hook(key: str, solver_post_hook: Callable[[], Any] | None) -> None:
    """Register a callable (no arguments) run after each parameter is processed by any solver operation."""
    if solver_post_hook is not None:
        _global_post_hooks[str(key)] = solver_post_hook


def unset_solver_pre_hook(key: str) -> None:
    _global_pre_hooks.pop(str(key), None)


def unset_solver_post_hook(key: str) -> None:
    _global_post_hooks.pop(str(key), None)


# ---------------------------------------------------------------------------------------------------------------


class SolverState:
    """The state of one parameter: ``pstate`` (``{state name: Variable}``) and the iteration count ``t``."""

    def __init__(self) -> None:
        self.pstate: OrderedDict[str, Variable] = OrderedDict()
        self.t = 0

    def __repr__(self) -> str:
        return f"SolverState(t={self.t}, pstate={list(self.pstate)})"


class _State:
    """Internal state record (the solver's own; ``get_states`` hands out SolverState views of it)."""

    __slots__ = ("pstate", "t")

    def __init__(self, pstate: OrderedDict[str, Variable], t: int = 0) -> None:
        self.pstate = pstate
        self.t = t


_F32_DTYPE = np.dtype(np.float32)


def _f32_array(v: Any) -> np.ndarray:
    """A flat float32 view of an NdArray's buffer (cast in place if needed; 0-d buffers become shape (1,)).

    Writes to the view write the buffer, so the solvers can update with ``out=`` / in-place operators.
    """
    a = v.data
    if a.dtype != _F32_DTYPE or not a.flags.c_contiguous:
        a = v.cast(_F32)
        if not a.flags.c_contiguous:
            v.copy_from(np.ascontiguousarray(a))
            a = v.cast(_F32)
    return a.reshape(-1)


class Solver:
    """Base class of all solvers (never instantiated by itself; use ``nnl.solvers.Sgd(...)`` etc.).

    Typical loop::

        solver = S.Adam(alpha=1e-3)
        solver.set_parameters(nn.get_parameters())
        for i in range(n):
            loss.forward()
            solver.zero_grad()
            loss.backward()
            solver.weight_decay(1e-4)
            solver.update()
    """

    #: state names created per parameter (subclasses override, or override ``_state_names_of``)
    _STATE_NAMES: tuple[str, ...] = ()
    #: name of the hyperparameter returned by learning_rate()
    _LR_NAME = "lr"
    #: (name, yaml type) of the constructor arguments, in order
    _ARGS: tuple[tuple[str, str], ...] = ()

    def __init__(
        self, *, weight_decay_is_fused: bool = False, default_weight_decay_rate: float = 0.0, **hyper: Any
    ) -> None:
        if type(self) is Solver:
            raise TypeError("Solver is an interface; create a concrete solver such as nnl.solvers.Sgd().")
        self._params: OrderedDict[str, Variable] = OrderedDict()
        self._states: OrderedDict[str, _State] = OrderedDict()
        self._wd_fused = bool(weight_decay_is_fused)
        self._wd_default = _F32(default_weight_decay_rate)
        self._wd_rate = self._wd_default
        self.info: dict[str, Any] = {}
        self._device_update = _device_update_for(self)
        kinds = dict(self._ARGS)
        for name, value in hyper.items():
            if kinds.get(name) == "bool":
                value = bool(value)
                self.info[name] = value
            else:
                value = _F32(value)
                self.info[name] = float(value)  # nnabla passes C floats: the info holds float32-rounded values
            setattr(self, "_" + name, value)

    # -- identity ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The solver's type name (``'Adam'``; nnabla's CUDA solvers add a ``Cuda`` suffix)."""
        return type(self).__name__

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" if isinstance(v, bool) else f"{k}={_F32(v)}" for k, v in self.info.items())
        return f"{self.name}({args})"

    def setup(self, params: Any) -> None:
        """Deprecated. Call ``set_parameters`` with ``param_dict``."""
        raise RuntimeError("Deprecated. Call set_parameters(param_dict).")

    # -- parameters -------------------------------------------------------------------------------------------
    def _state_names_of(self) -> tuple[str, ...]:
        return self._STATE_NAMES

    def _new_state(self, param: Variable) -> _State:
        shape = tuple(param.shape)
        pstate: OrderedDict[str, Variable] = OrderedDict()
        for sname in self._state_names_of():
            var = Variable(shape)
            var.data.fill(0.0)
            pstate[sname] = var
        return _State(pstate, 0)

    def set_parameters(
        self, param_dict: Mapping[str, Variable], reset: bool = True, retain_state: bool = False
    ) -> None:
        """Register parameters (``{name: Variable}``) and create their zero states.

        Args:
            param_dict: parameters to register, e.g. ``nn.get_parameters()``.
            reset: drop all registered parameters (and states) first.
            retain_state: with ``reset=False``, keep the state of a name registered before (shapes must match);
                otherwise its state is re-created.
        """
        items = list(param_dict.items())
        for key, var in items:
            if not isinstance(var, Variable):
                raise TypeError(f"{self.name}.set_parameters: {key!r} is a {type(var).__name__}, expected a Variable.")
        if reset:
            self.clear_parameters()
        for key, var in items:
            key = str(key)
            if not reset and key in self._params:
                if retain_state:
                    old = self._params[key]
                    if tuple(var.shape) != tuple(old.shape):
                        raise ValueError(
                            f"Could not retain state. The shapes of {key} didn't match. "
                            f"Given: {tuple(var.shape)} != previously: {tuple(old.shape)}"
                        )
                    self._params[key] = var
                    continue
                self._states.pop(key, None)
            self._params[key] = var
            self._states[key] = self._new_state(var)

    def remove_parameters(self, keys: Iterable[str]) -> None:
        """Unregister the parameters ``keys`` (and their states)."""
        if isinstance(keys, str):
            keys = [keys]
        for key in keys:
            self._params.pop(key, None)
            self._states.pop(key, None)

    def clear_parameters(self) -> None:
        """Unregister all parameters and states."""
        self._params.clear()
        self._states.clear()

    def get_parameters(self) -> OrderedDict[str, Variable]:
        """The registered parameters ``{name: Variable}`` (in registration order)."""
        return OrderedDict(self._params)

    # -- states ---------------------------------------------------------------------------------------------
    def get_states(self) -> OrderedDict[str, SolverState]:
        """``{param name: SolverState}``; the state Variables are the solver's own (writes affect the solver)."""
        states: OrderedDict[str, SolverState] = OrderedDict()
        for key, st in self._states.items():
            s = SolverState()
            s.pstate = OrderedDict(st.pstate)
            s.t = st.t
            states[key] = s
        return states

    def set_states(self, states: Mapping[str, Any]) -> None:
        """Replace the states of registered parameters (call ``set_parameters`` first).

        ``states`` maps parameter names to objects with ``pstate`` (``{state name: Variable}``) and ``t``.
        Everything is checked before anything is replaced.
        """
        new: list[tuple[str, _State]] = []
        for pname, src in states.items():
            own = self._states.get(pname)
            if own is None:
                raise ValueError(f"Set weight parameter for {pname} first.")
            expected = set(own.pstate)
            pstate: OrderedDict[str, Variable] = OrderedDict()
            for sname, var in src.pstate.items():
                if not isinstance(var, Variable):
                    var = Variable.from_numpy_array(np.asarray(var, dtype=_F32))
                if sname in own.pstate and tuple(var.shape) != tuple(own.pstate[sname].shape):
                    raise ValueError(
                        f"{self.name}.set_states: state {sname!r} of {pname!r} has shape {tuple(var.shape)}, "
                        f"expected {tuple(own.pstate[sname].shape)}."
                    )
                if var.data.dtype != _F32:
                    var.data.cast(_F32)
                pstate[sname] = var
            if set(pstate) != expected:
                raise ValueError(
                    f"{self.name}.set_states: the state of {pname!r} has {sorted(pstate)}, expected {sorted(expected)}."
                )
            t = int(np.asarray(src.t))
            if not 0 <= t <= 2**32 - 1:
                raise ValueError(f"{self.name}.set_states: t={t} of {pname!r} is not a uint32.")
            new.append((pname, _State(OrderedDict((k, pstate[k]) for k in own.pstate), t)))
        for pname, st in new:
            self._states[pname] = st

    def save_states(self, path: Any) -> None:
        """Save the states to ``path`` (``.h5`` or ``.protobuf``; nnabla's layouts). The write is atomic."""
        from nnl.parameter_io import atomic_output, write_bytes

        ext = os.path.splitext(os.fspath(path))[1].lower()
        if ext == ".h5":
            with atomic_output(path) as tmp:
                self._write_h5(tmp)
        elif ext == ".protobuf":
            write_bytes(path, self._states_protobuf_bytes)
        else:
            raise ValueError(f"{self.name}.save_states: {os.fspath(path)!r}: only .h5 and .protobuf are supported.")

    def load_states(self, path: Any) -> None:
        """Load states saved by ``save_states`` (``.h5``, ``.protobuf``, ``.nntxt``/``.prototxt``).

        The parameters must be registered first. A corrupt file raises ``ValueError`` naming it and leaves the
        states untouched.
        """
        from nnl.nnp import nnabla_pb2

        fspath = os.fspath(path)
        ext = os.path.splitext(fspath)[1].lower()
        if ext == ".nnp":
            raise NotImplementedError("Solver.load_states for nnp format not implemented.")
        if ext not in (".h5", ".protobuf", ".nntxt", ".prototxt"):
            raise ValueError(f"{self.name}.load_states: {fspath!r}: unsupported format {ext!r}.")
        with open(fspath, "rb") as f:
            data = f.read()
        if ext == ".h5":
            states = self._read_h5(data, fspath)
        else:
            optimizer = nnabla_pb2.Optimizer()
            try:
                if ext == ".protobuf":
                    optimizer.MergeFromString(data)
                else:
                    from google.protobuf import text_format

                    text_format.Merge(data.decode("utf-8"), optimizer)
            except Exception as e:  # DecodeError, ParseError, UnicodeDecodeError
                raise ValueError(
                    f"{self.name}.load_states: {fspath!r} is not a readable solver state file ({type(e).__name__}: {e})."
                ) from e
            states = self._states_from_optimizer(optimizer, fspath)
        self.set_states(states)

    # protobuf helpers (also used by nnabla.utils.save / load for .nnp optimizer members)
    def set_states_to_protobuf(self, optimizer: Any) -> None:
        """Write the states into ``optimizer.solver.states`` (an ``Optimizer`` message)."""
        optimizer.MergeFromString(self._states_protobuf_bytes())

    def set_states_from_protobuf(self, optimizer_proto: Any) -> None:
        """Set the states from ``optimizer_proto.solver.states`` (an ``Optimizer`` message)."""
        self.set_states(self._states_from_optimizer(optimizer_proto, "protobuf"))

    def _states_protobuf_bytes(self) -> bytes:
        """A serialized ``Optimizer{solver{states{...}}}`` (packed float data straight from the buffers)."""
        from nnl.parameter_io import _field_bytes, _packed_floats, _varint, encode_shape

        entries = []
        for pname, st in self._states.items():
            state = _varint((1 << 3) | 0) + _varint(st.t) if st.t else b""
            for sname, var in st.pstate.items():
                ssp = _field_bytes(20, encode_shape(tuple(var.shape))) + _packed_floats(100, var.data.get_data("r"))
                entry = _field_bytes(1, sname.encode("utf-8")) + _field_bytes(2, ssp)
                state += _field_bytes(2, entry)  # map<string, SolverStateParameter> state_parameter = 2
            map_entry = _field_bytes(1, pname.encode("utf-8")) + _field_bytes(2, state)
            entries.append(_field_bytes(40, map_entry))  # Solver.states = 40
        return _field_bytes(30, b"".join(entries))  # Optimizer.solver = 30

    def _states_from_optimizer(self, optimizer: Any, where: str) -> OrderedDict[str, SolverState]:
        states: OrderedDict[str, SolverState] = OrderedDict()
        for pname, sp in optimizer.solver.states.items():
            s = SolverState()
            s.t = int(sp.t)
            for sname, ssp in sp.state_parameter.items():
                shape = tuple(int(d) for d in ssp.shape.dim)
                data = np.array(ssp.data, dtype=_F32)
                if data.size != int(np.prod(shape, dtype=np.int64)):
                    raise ValueError(
                        f"{self.name}.load_states: {where}: state {sname!r} of {pname!r} has {data.size} values for "
                        f"shape {shape}; the file is corrupt or truncated."
                    )
                s.pstate[sname] = Variable.from_numpy_array(data.reshape(shape))
            states[pname] = s
        # keep the solver's parameter order (the proto map has none)
        order = {k: i for i, k in enumerate(self._states)}
        return OrderedDict(sorted(states.items(), key=lambda kv: order.get(kv[0], len(order))))

    def _write_h5(self, filename: str) -> None:
        import h5py

        with h5py.File(filename, "w") as hd:
            for i, (pname, st) in enumerate(self._states.items()):
                group = hd.create_group(pname)
                group.create_dataset("t", data=st.t)
                group.attrs["index"] = i
                for j, (sname, var) in enumerate(st.pstate.items()):
                    ds = group.create_dataset(sname, data=var.data.get_data("r"))
                    ds.attrs["index"] = j

    def _read_h5(self, data: bytes, where: str) -> OrderedDict[str, SolverState]:
        import io

        import h5py

        try:
            with h5py.File(io.BytesIO(data), "r") as hd:
                groups: dict[str, list[tuple[Any, str, Any]]] = OrderedDict()
                group_index: dict[str, Any] = {}

                def visit(name: str, obj: Any) -> None:
                    if isinstance(obj, h5py.Dataset):
                        pname, _, sname = name.rpartition("/")
                        groups.setdefault(pname, []).append((obj.attrs.get("index", None), sname, obj))
                        group_index[pname] = obj.parent.attrs.get("index", None)

                hd.visititems(visit)
                order = sorted(
                    groups,
                    key=lambda p: (group_index[p] is None, group_index[p] if group_index[p] is not None else 0, p),
                )
                states: OrderedDict[str, SolverState] = OrderedDict()
                for pname in order:
                    s = SolverState()
                    entries = sorted(groups[pname], key=lambda e: (e[0] is None, e[0] if e[0] is not None else 0, e[1]))
                    for _, sname, ds in entries:
                        if sname == "t":
                            s.t = int(np.asarray(ds[...]))
                        else:
                            s.pstate[sname] = Variable.from_numpy_array(np.asarray(ds[...], dtype=_F32))
                    states[pname] = s
                return states
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as e:
            raise ValueError(
                f"{self.name}.load_states: {where!r} is not a readable HDF5 solver state file ({e})."
            ) from e

    # -- learning rate / weight decay ---------------------------------------------------------------------
    def set_learning_rate(self, learning_rate: float) -> None:
        """Set the learning rate (``alpha`` for the Adam family, ``eta`` for Lamb, ``lr`` otherwise)."""
        setattr(self, "_" + self._LR_NAME, _F32(learning_rate))

    def learning_rate(self) -> float:
        return float(getattr(self, "_" + self._LR_NAME))

    def weight_decay_is_fused(self) -> bool:
        """True when ``weight_decay`` only stores the rate, applied by the next ``update`` (SgdW, AdamW, ...)."""
        return self._wd_fused

    # -- per-parameter operations -------------------------------------------------------------------------
    def _each(
        self,
        pre_hook: Callable[[], Any] | None,
        post_hook: Callable[[], Any] | None,
        body: Callable[[str, Variable], Any],
    ) -> Any:
        """Run ``body(name, param)`` for every parameter with a computed gradient; stop at a truthy result."""
        for key, param in self._params.items():
            if param.grad.zeroing:
                continue  # the gradient was not computed
            for hook in _global_pre_hooks.values():
                hook()
            if pre_hook is not None:
                pre_hook()
            result = body(key, param)
            if post_hook is not None:
                post_hook()
            for hook in _global_post_hooks.values():
                hook()
            if result:
                return result
        return None

    def _on_device(self, pre_hook: Any, post_hook: Any) -> bool:
        """True when the multi-tensor torch path applies (a torch context and no per-parameter hooks)."""
        return (
            self._device_update is not None
            and pre_hook is None
            and post_hook is None
            and not _global_pre_hooks
            and not _global_post_hooks
        )

    def _computed(self) -> list[str]:
        """Names of the parameters whose gradient was computed (not pending zero)."""
        return [key for key, param in self._params.items() if not param.grad.zeroing]

    def zero_grad(self) -> None:
        """Mark the gradients of all registered parameters as zero."""
        for param in self._params.values():
            param.grad.zero()

    def update(
        self, update_pre_hook: Callable[[], Any] | None = None, update_post_hook: Callable[[], Any] | None = None
    ) -> None:
        """Update the parameters from their gradients (parameters whose gradient is pending-zero are skipped).

        The hooks (callables without arguments) run before / after each parameter's update. A fused weight decay
        rate set by ``weight_decay`` is used here and then reset to the constructor's default.
        """

        device_update = self._device_update
        if device_update is not None and self._on_device(update_pre_hook, update_post_hook):
            keys = self._computed()
            for key in keys:
                st = self._states[key]
                st.t = min(st.t + 1, _T_MAX)
            try:
                if keys:
                    device_update.update(self, keys)
            finally:
                self._wd_rate = self._wd_default
            return

        def body(key: str, param: Variable) -> None:
            st = self._states[key]
            st.t = min(st.t + 1, _T_MAX)
            self._update_impl(key, param, st)

        try:
            self._each(update_pre_hook, update_post_hook, body)
        finally:
            self._wd_rate = self._wd_default

    def _update_impl(self, key: str, param: Variable, state: _State) -> None:
        raise NotImplementedError

    @staticmethod
    def _buffers(param: Variable, state: _State, *names: str) -> list[np.ndarray]:
        """[w, g, *state arrays]: flat float32 views of the buffers, to update in place."""
        out = [_f32_array(param.data), _f32_array(param.grad)]
        out.extend(_f32_array(state.pstate[n].data) for n in names)
        return out

    def _scratch(self, count: int, dtype: Any = _F32) -> list[np.ndarray]:
        """``count`` reusable scratch arrays of _CHUNK elements (kept per solver and dtype)."""
        bufs = self.__dict__.setdefault("_scratch_bufs", {})
        key = np.dtype(dtype).char
        have = bufs.setdefault(key, [])
        if have and have[0].size != _CHUNK:
            have.clear()
        while len(have) < count:
            have.append(np.empty(_CHUNK, dtype))
        return have[:count]

    def _chunked(self, kernel: Callable[..., None], arrays: list[np.ndarray], n32: int = 2, n64: int = 0) -> None:
        """Run the element-wise ``kernel(*array_slices, *scratch32, *scratch64)`` over cache-sized chunks.

        NumPy evaluates one operation at a time over whole arrays; a solver update is ~10 such passes. Running
        them chunk by chunk keeps the working set in cache (and needs no temporaries), about twice as fast on
        large parameters. Kernels must be element-wise and write only with in-place operations / ``out=``.
        """
        n = arrays[0].size
        s32 = self._scratch(n32) if n32 else []
        s64 = self._scratch(n64, np.float64) if n64 else []
        if n <= _CHUNK:
            kernel(*arrays, *[b[:n] for b in s32], *[b[:n] for b in s64])
            return
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            k = stop - start
            kernel(*[a[start:stop] for a in arrays], *[b[:k] for b in s32], *[b[:k] for b in s64])

    def weight_decay(
        self, decay_rate: float, pre_hook: Callable[[], Any] | None = None, post_hook: Callable[[], Any] | None = None
    ) -> None:
        """Weight decay: ``g += decay_rate * w`` now, or (fused solvers) stored for the next ``update``."""
        rate = _F32(decay_rate)
        if self._wd_fused:
            self._wd_rate = rate
            return
        if rate == 0:
            return
        if self._on_device(pre_hook, post_hook):
            self._device_update.weight_decay(self, self._computed(), float(rate))  # type: ignore[union-attr]
            return

        def body(key: str, param: Variable) -> None:
            _apply_weight_decay(self, param, rate)

        self._each(pre_hook, post_hook, body)

    def clip_grad_by_norm(
        self, clip_norm: float, pre_hook: Callable[[], Any] | None = None, post_hook: Callable[[], Any] | None = None
    ) -> None:
        """Per parameter: ``g = clip_norm * g / ||g||`` where ``||g|| > clip_norm``."""
        clip = _F32(clip_norm)
        if clip == 0:
            return
        clip_sq = clip * clip

        def body(key: str, param: Variable) -> None:
            g = _f32_array(param.grad)
            sq = _sum_sq(g)
            if sq > 0 and sq > clip_sq:
                norm = _F32(np.sqrt(sq))
                np.multiply(g, clip, out=g)
                np.divide(g, norm, out=g)

        self._each(pre_hook, post_hook, body)

    def scale_grad(
        self, scale: float, pre_hook: Callable[[], Any] | None = None, post_hook: Callable[[], Any] | None = None
    ) -> None:
        """``g *= scale`` (mixed-precision training)."""
        s = _F32(scale)
        if self._on_device(pre_hook, post_hook):
            self._device_update.scale_grad(self, self._computed(), float(s))  # type: ignore[union-attr]
            return

        def body(key: str, param: Variable) -> None:
            g = _f32_array(param.grad)
            np.multiply(g, s, out=g)

        self._each(pre_hook, post_hook, body)

    def check_inf_grad(
        self, pre_hook: Callable[[], Any] | None = None, post_hook: Callable[[], Any] | None = None
    ) -> bool:
        """True if any gradient holds an inf."""
        return bool(self._each(pre_hook, post_hook, lambda k, p: bool(np.isinf(p.grad.data).any())))

    def check_nan_grad(
        self, pre_hook: Callable[[], Any] | None = None, post_hook: Callable[[], Any] | None = None
    ) -> bool:
        """True if any gradient holds a NaN."""
        return bool(self._each(pre_hook, post_hook, lambda k, p: bool(np.isnan(p.grad.data).any())))

    def check_inf_or_nan_grad(
        self, pre_hook: Callable[[], Any] | None = None, post_hook: Callable[[], Any] | None = None
    ) -> bool:
        """True if any gradient holds an inf or a NaN."""
        if self._on_device(pre_hook, post_hook):
            return bool(self._device_update.has_inf_or_nan(self, self._computed()))  # type: ignore[union-attr]
        return bool(self._each(pre_hook, post_hook, lambda k, p: not bool(np.isfinite(p.grad.data).all())))


# ---------------------------------------------------------------------------------------------------------------
# numeric helpers shared by the solvers


_SEQUENTIAL_SUM_MAX = 1 << 16


def _sum_sq(a: np.ndarray) -> np.float32:
    """Sum of squares of a flat float32 array, accumulated in float32.

    Up to 65536 elements the sum runs sequentially, in nnabla's C++ order (bit-identical norms); larger arrays use
    BLAS (a blocked sum: as accurate or better, and about 30x faster than a sequential NumPy scan).
    """
    if a.size <= _SEQUENTIAL_SUM_MAX:
        if a.size == 0:
            return _F32(0)
        sq = np.multiply(a, a)
        return np.cumsum(sq, out=sq)[-1]
    return _F32(np.dot(a, a))


def _apply_weight_decay(solver: Solver, param: Variable, rate: np.float32) -> None:
    """``g = g + rate * w`` (float32)."""

    def kernel(w: np.ndarray, g: np.ndarray, tmp: np.ndarray) -> None:
        np.multiply(w, rate, out=tmp)
        g += tmp

    solver._chunked(kernel, [_f32_array(param.data), _f32_array(param.grad)], n32=1)


def _device_update_for(solver: Solver) -> Any:
    """The torch multi-tensor update when the solver is created under a torch context (as nnabla solvers take
    the current context), else None."""
    from nnl.core.context import get_current_context

    ctx = get_current_context()
    if ctx.backend[0].split(":")[0] not in ("torch", "cuda", "cudnn"):
        return None
    from nnl.backends.torch.solvers import device_update

    return device_update(solver, ctx)


def _bias_correction(beta1: np.float32, beta2: np.float32, t: int) -> np.float32:
    """``sqrt(1 - beta2^t) / (1 - beta1^t)`` computed in double (std::pow promotes) and rounded to float."""
    return _F32(math.sqrt(1.0 - float(beta2) ** t) / (1.0 - float(beta1) ** t))


def __getattr__(name: str) -> Any:
    """``nnl.solver.Adam`` etc.: the solvers of :mod:`nnl.solvers` (loaded on first use)."""
    import nnl.solvers as solvers

    if name in solvers.__all__:
        return getattr(solvers, name)
    raise AttributeError(f"module 'nnl.solver' has no attribute {name!r}")
