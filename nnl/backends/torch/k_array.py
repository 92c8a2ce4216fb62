"""Torch kernels: array manipulation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as TF

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import Unsupported, kernel, register_everywhere


@kernel("Reshape", backward=rules.passthrough)
def reshape(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0].reshape(tuple(fn.shape)).clone()


@kernel("Transpose")
def transpose(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0].permute(tuple(fn.axes)).contiguous()


@kernel("Concatenate")
def concatenate(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(xs, int(fn.axis))


@kernel("Split")
def split(fn: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    return [y.clone() for y in torch.unbind(xs[0], int(fn.axis))]


@kernel("Stack")
def stack(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(xs, int(fn.axis))


@kernel("Slice")
def slice_(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    index = []
    for start, stop, step in zip(fn.start, fn.stop, fn.step):
        if step < 0:
            raise Unsupported("negative steps")
        index.append(slice(start, stop, step))
    return x[tuple(index)].clone()


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "repeat": "replicate"}


@kernel("Pad")
def pad(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    if fn.mode != "constant":
        raise Unsupported(f"mode={fn.mode!r}")
    pairs = list(fn.pad_width)
    torch_pad: list[int] = []
    for i in range(len(pairs) // 2 - 1, -1, -1):  # torch lists the last axis first
        torch_pad += [int(pairs[2 * i]), int(pairs[2 * i + 1])]
    return TF.pad(x, torch_pad, value=float(fn.constant_value))


@kernel("Broadcast")
def broadcast(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0].expand(tuple(fn.shape)).contiguous()


@kernel("Flip")
def flip(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    return torch.flip(x, [int(a) % x.ndim for a in fn.axes])


@kernel("Tile")
def tile(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0].tile(tuple(fn.reps))


def _sink_forward(fn: Any, xp: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    device = xs[0].device if xs else torch.device("cpu")
    return [torch.zeros((), dtype=torch.float32, device=device)]


def _sink_backward(fn: Any, xp: Any, xs: list[Any], ys: list[Any], dys: list[torch.Tensor], need: list[bool]) -> list[Any]:
    """Sink's own rule (see nnl.functions.special.Sink): ones into each input, or back-propagate given grads."""
    if not fn.one_input_grad:
        return [
            fn._fetch(v._grad) if n and v.parent is not None and not v._grad.clear_called else None
            for v, n in zip(fn.inputs, need)
        ]
    return [torch.ones(nd.shape, dtype=torch.float32, device=dys[0].device) if n else None for nd, n in zip(xs, need)]


register_everywhere("Sink", _sink_forward, _sink_backward)
