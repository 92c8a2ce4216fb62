"""Sequence helpers of ``nnabla.utils.rnn``: padding and packing of variable-length sequences, and the
unrolled (fixed-length) graphs of the RNN / LSTM / GRU layers built from elementary functions.

The ``_create_fixed_length_*`` builders give the same values as ``F.rnn`` / ``F.lstm`` / ``F.gru`` (nnabla's
tests use them as references) as a graph of concatenate / affine / activations per time step, so that every
gradient is an ordinary graph gradient. Shapes follow the fused layers: ``xs0`` (T, B, I), ``h0`` / ``c0``
(L, D, B, H), ``w0`` (D, [G,] H, I + H), ``w`` (L - 1, D, [G,] H, D H + H), ``b`` (L, D, [G,] H).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import nnl as nn
from nnl import functions as F


class PackedSequence:
    """A packed batch of sequences: ``data`` (sum of lengths, *), ``batch_sizes`` (T,) and, when the batch was
    sorted by length here, ``sorted_indices`` / ``unsorted_indices`` (else None)."""

    def __init__(self) -> None:
        self.data: Any = None
        self.batch_sizes: Any = None
        self.sorted_indices: Any = None
        self.unsorted_indices: Any = None

    def __str__(self) -> str:
        return (
            f"data={self.data}, batch_sizes={self.batch_sizes}, "
            f"sorted_indices={self.sorted_indices}, unsorted_indices={self.unsorted_indices}"
        )


def pad_sequence(sequences: list[Any], batch_first: bool = False, padding_value: float = 0.0) -> Any:
    """Stack Variables of shapes (T_i, *) into one (T, B, *) (or (B, T, *)) Variable, padded with ``padding_value``."""
    longest = max(int(s.shape[0]) for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - int(s.shape[0])
        if missing:
            widths = (0, missing) + (0, 0) * (len(s.shape) - 1)
            s = F.pad(s, widths, "constant", padding_value)
        padded.append(s)
    return F.stack(*padded, axis=0 if batch_first else 1)


def _batch_order(lengths: Any) -> tuple[Any, Any, Any]:
    """Lengths sorted in decreasing order, the sorting permutation and its inverse (as Variables)."""
    sorted_lengths, order = F.sort(lengths, axis=0, reverse=True, with_index=True)
    _, inverse = F.sort(order, axis=0, with_index=True)
    return sorted_lengths, order, inverse


def pack_padded_sequence(padded_sequence: Any, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (see :func:`pad_sequence`); ``lengths`` (B,) are the sequence lengths.

    With ``enforce_sorted=False`` the batch is first sorted by decreasing length (the permutation is kept
    so that :func:`pad_packed_sequence` restores the order). Use it in dynamic mode (``nn.auto_forward()``).
    """
    packed = PackedSequence()
    if not enforce_sorted:
        with nn.context_scope(nn.Context()):
            lengths, packed.sorted_indices, packed.unsorted_indices = _batch_order(lengths)
        padded_sequence = F.gather(padded_sequence, packed.sorted_indices, axis=0 if batch_first else 1)
    packed.data, packed.batch_sizes = F.pack_padded_sequence(padded_sequence, lengths, batch_first)
    return packed


def pack_sequence(sequences: list[Any], batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of Variables of shapes (T_i, *) (``batch_first`` is accepted for nnabla's signature: packing
    goes through a time-major padded batch)."""
    lengths = nn.Variable.from_numpy_array(np.array([int(s.shape[0]) for s in sequences]))
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0, total_length: int | None = None) -> tuple[Any, Any]:
    """Unpack a :class:`PackedSequence` into a padded batch and the lengths (the inverse of packing)."""
    steps = int(sequence.batch_sizes.shape[0])
    if total_length is not None and total_length < steps:
        raise ValueError(f"pad_packed_sequence: total_length ({total_length}) must be at least the longest sequence length ({steps}).")
    padded, lengths = F.pad_packed_sequence(sequence.data, sequence.batch_sizes, batch_first, padding_value, total_length)
    if sequence.unsorted_indices is not None:
        padded = F.gather(padded, sequence.unsorted_indices, axis=0 if batch_first else 1)
        lengths = F.gather(lengths, sequence.unsorted_indices, axis=0)
    return padded, lengths


# -- unrolled recurrent layers (references of F.rnn / F.lstm / F.gru) -----------------------------------------------
def _unrolled(layer: Any, inputs: list[Any]) -> list[Any]:
    """``layer`` (an RNN/LSTM/GRU function object) unrolled on ``inputs`` into elementary functions."""
    layer.setup_impl(inputs)  # validates the shapes and fixes the dimensions
    return layer._unrolled(inputs, None)


def _inputs(first: list[Any], w: Any, b: Any, num_layers: int, with_bias: bool) -> list[Any]:
    inputs = list(first)
    if num_layers > 1:
        inputs.append(w)
    if with_bias:
        inputs.append(b)
    return inputs


def _create_fixed_length_rnn(xs0: Any, h0: Any, w0: Any, w: Any, b: Any, num_layers: int, nonlinearity: str, num_directions: int, with_bias: bool) -> tuple[Any, Any]:
    """The RNN layers over all time steps as a graph: returns ``ys`` (T, B, D H) and ``hn`` (L, D, B, H)."""
    from nnl.functions.recurrent import RNN

    layer = RNN(num_layers, nonlinearity, 0.0, num_directions == 2, True)
    ys, hn = _unrolled(layer, _inputs([xs0, h0, w0], w, b, num_layers, with_bias))
    return ys, hn


def _create_fixed_length_lstm(xs0: Any, h0: Any, c0: Any, w0: Any, w: Any, b: Any, num_layers: int, num_directions: int, with_bias: bool) -> tuple[Any, Any, Any]:
    """The LSTM layers over all time steps as a graph: returns ``ys``, ``hn`` and ``cn``."""
    from nnl.functions.recurrent import LSTM

    layer = LSTM(num_layers, 0.0, num_directions == 2, True)
    ys, hn, cn = _unrolled(layer, _inputs([xs0, h0, c0, w0], w, b, num_layers, with_bias))
    return ys, hn, cn


def _create_fixed_length_gru(xs0: Any, h0: Any, w0: Any, w: Any, b: Any, num_layers: int, num_directions: int, with_bias: bool) -> tuple[Any, Any]:
    """The GRU layers over all time steps as a graph: returns ``ys`` and ``hn``."""
    from nnl.functions.recurrent import GRU

    layer = GRU(num_layers, 0.0, num_directions == 2, True)
    ys, hn = _unrolled(layer, _inputs([xs0, h0, w0], w, b, num_layers, with_bias))
    return ys, hn
