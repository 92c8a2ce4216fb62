"""Torch kernels: random generation and random flips, drawn with the reference's generator (a seed gives the same
numbers on every backend) and applied on the device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnl.backends.torch.kernel import device_of, kernel


def _device(fn: Any) -> torch.device:
    return torch.device(device_of(fn.context, fn.implementation))


@kernel("Rand", "Randn", "Randint", "Constant")
def drawn_on_the_host(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    """Functions without inputs: the reference's values (same generator), moved to the device."""
    (value,) = fn.forward_impl(np, [])
    return torch.from_numpy(np.array(value)).to(_device(fn))  # a copy, 0-d kept 0-d


@kernel("RandomFlip")
def random_flip(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    if not getattr(fn, "_replaying", False) or "_flags" not in fn.__dict__:
        rng = fn._gen()  # the reference's draws, in its order: one flag per sample (and axis)
        shape = tuple(x.shape[: fn.base_axis]) + (1,) * (x.ndim - fn.base_axis)
        fn._flags = [rng.randint(0, 2, size=shape if d >= fn.base_axis else ()).astype(bool) for d in fn.axes]
    for axis, flags in zip(fn.axes, fn._flags):
        mask = torch.from_numpy(np.asarray(flags)).to(x.device)
        x = torch.where(mask, x.flip(int(axis)), x)
    return x


@kernel("RandomCrop")
def random_crop(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    if not getattr(fn, "_replaying", False) or "_index" not in fn.__dict__:
        fn.draw_index(tuple(x.shape))
    return x[tuple(torch.from_numpy(i).to(x.device) for i in fn._index)]
