"""Channels-first ↔ channels-last axis orders for inputs of any rank (no torch, no numpy).

Images are (N, C, H, W) ↔ (N, H, W, C); video clips (N, C, T, H, W) ↔ (N, T, H, W, C) — what a
camera pipeline hands over. Used by the exporters (a permute in front of the model), parity,
calibration and evaluation (the same tensors fed in the artifact's layout).
"""

from __future__ import annotations


def to_channels_last(rank: int) -> tuple[int, ...]:
    """Axis order taking (N, C, *spatial) to (N, *spatial, C)."""
    return (0, *range(2, rank), 1)


def to_channels_first(rank: int) -> tuple[int, ...]:
    """Axis order taking (N, *spatial, C) to (N, C, *spatial)."""
    return (0, rank - 1, *range(1, rank - 1))


def channels_last_shape(shape) -> tuple[int, ...]:
    """(N, C, *spatial) → (N, *spatial, C)."""
    shape = tuple(int(s) for s in shape)
    return (shape[0], *shape[2:], shape[1])


def wants_channels_last(x_shape, model_shape) -> bool:
    """True when a channels-first batch of `x_shape` must be transposed to feed an input of `model_shape`
    (compared without the batch dimension)."""
    x_shape, model_shape = tuple(int(s) for s in x_shape), tuple(int(s) for s in model_shape)
    return (len(x_shape) == len(model_shape) >= 4 and model_shape[1:] != x_shape[1:]
            and model_shape[1:] == channels_last_shape(x_shape)[1:])


def match_layout(x, model_shape):
    """numpy `x` (N, C, ...) transposed to channels-last when the model's input is, else as it is."""
    import numpy as np

    if wants_channels_last(x.shape, model_shape):
        return np.ascontiguousarray(x.transpose(to_channels_last(x.ndim)))
    return x
