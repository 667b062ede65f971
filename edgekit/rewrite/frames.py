"""The frames layout video rewrites work in: a clip (1, C, T, H, W) as a batch of T frames (T, C, H, W).

Every runtime delegates 2-D convolutions and pools on a batch; none delegates CONV_3D or a 3-D pool
(LiteRT leaves both on its default kernels). In the frames layout a k_t×k_h×k_w Conv3D is a 2-D
convolution over "taps": tap k of output frame t is input frame t·s − p + k·d, or a zero frame where
that index falls into the temporal padding. `tap(x, k, ...)` builds that (T', C, H, W) stack from
slices and zero frames only — exact, and every op a delegate takes.

`FramesModule` is the contract of a frames-layout replacement: `frames(x)` maps frames to frames;
called on a 5-D clip it converts in and out itself, so each replacement is exact on its own, and
`frames_layout.KeepFramesLayout` later removes the conversions between neighbours. A clip batch of
N > 1 runs one clip at a time (the exported graph has N = 1), so no temporal tap crosses clips.
"""

from __future__ import annotations

import torch
from torch import nn


def to_frames(x: torch.Tensor) -> torch.Tensor:
    """(1, C, T, H, W) → (T, C, H, W). One clip: temporal taps must never reach into another clip."""
    if x.shape[0] != 1:
        raise ValueError(f"a model rewritten to the frames layout runs one clip at a time; got a batch of {x.shape[0]}")
    return x[0].transpose(0, 1)


def from_frames(y: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) → (1, C, T, H, W)."""
    return y.transpose(0, 1).unsqueeze(0)


def out_frames(t: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (t + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def tap_indices(t: int, k: int, kernel: int, stride: int, padding: int, dilation: int) -> list[int]:
    """Input frame of tap k for each output frame (−1: a padding frame)."""
    n = out_frames(t, kernel, stride, padding, dilation)
    idx = [o * stride - padding + k * dilation for o in range(n)]
    return [i if 0 <= i < t else -1 for i in idx]


# XNNPACK delegates a CONCATENATION of at most 5 inputs (6 or more stay on LiteRT's default kernels:
# a strided tap over 16 frames is 8 one-frame slices), so longer lists are concatenated as a tree.
MAX_CONCAT_INPUTS = 5


def cat(parts: list[torch.Tensor], dim: int) -> torch.Tensor:
    """torch.cat as a tree of concatenations of at most MAX_CONCAT_INPUTS inputs (same result)."""
    while len(parts) > MAX_CONCAT_INPUTS:
        parts = [p[0] if len(p) == 1 else torch.cat(p, dim)
                 for p in (parts[i:i + MAX_CONCAT_INPUTS] for i in range(0, len(parts), MAX_CONCAT_INPUTS))]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim)


def every_nth(x: torch.Tensor, start: int, step: int) -> torch.Tensor:
    """Frames start, start + step, ... of x by splitting the frame axis (T/step, step) and taking one
    residue: no STRIDED_SLICE (XNNPACK delegates only unit strides) and no concat of one-frame slices
    (the converter merges nested concats into one of T/step inputs, past XNNPACK's 5). LiteRT puts
    one TRANSPOSE pair around the split; both are delegated."""
    t = x.shape[0]
    n = -(-t // step)
    if n * step != t:
        x = torch.cat([x, torch.zeros((n * step - t, *x.shape[1:]), dtype=x.dtype)], 0)
    return x.unflatten(0, (n, step)).select(1, start % step)[start // step:]


def _constant(x: torch.Tensor, n: int, value: float) -> torch.Tensor:
    return torch.full((n, *x.shape[1:]), value, dtype=x.dtype)


def gather_frames(x: torch.Tensor, indices: list[int], pad_value: float = 0.0) -> torch.Tensor:
    """Frames `indices` of x (−1: a constant frame): contiguous slices and a concat, or — for a
    strided progression (a temporal stride, a frame-pair pool) that would need more one-frame slices
    than a delegated concat takes — `every_nth` between constant frames (costs a TRANSPOSE pair)."""
    valid = [i for i in indices if i >= 0]
    steps = {b - a for a, b in zip(valid, valid[1:])}
    if len(steps) == 1 and min(steps) > 1:
        before = indices.index(valid[0])
        after = len(indices) - before - len(valid)
        wide = len(valid) + (before > 0) + (after > 0) > MAX_CONCAT_INPUTS  # one-frame slices: a concat too wide
        if wide and indices[before:before + len(valid)] == valid:  # constants only at the ends
            sub = every_nth(x, valid[0], min(steps))[:len(valid)]
            parts = ([_constant(x, before, pad_value)] if before else []) + [sub] + \
                ([_constant(x, after, pad_value)] if after else [])
            return cat(parts, 0)
    parts, i = [], 0
    while i < len(indices):
        j = i
        if indices[i] < 0:
            while j + 1 < len(indices) and indices[j + 1] < 0:
                j += 1
            parts.append(_constant(x, j - i + 1, pad_value))
        else:
            while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
                j += 1
            parts.append(x[indices[i]:indices[j] + 1])
        i = j + 1
    return cat(parts, 0)


def tap(x: torch.Tensor, k: int, kernel: int, stride: int, padding: int, dilation: int,
        pad_value: float = 0.0) -> torch.Tensor:
    """The (T', C, H, W) frames tap k reads (zero frames, or `pad_value`, in the temporal padding)."""
    return gather_frames(x, tap_indices(x.shape[0], k, kernel, stride, padding, dilation), pad_value)


class FramesModule(nn.Module):
    """A video op in the frames layout: subclasses implement `frames(x)` on (T, C, H, W).

    `layout` is "clip" (forward takes and returns (N, C, T, H, W)) until `KeepFramesLayout` wires
    the module between frames tensors and sets it to "frames".
    """

    layout = "clip"

    def frames(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def per_sample(self, out: torch.Tensor) -> torch.Tensor:
        """The output of one clip (for MAdds counting): all frames in the frames layout."""
        return out if self.layout == "frames" else out[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "frames":
            return self.frames(x)
        if x.dim() != 5:
            raise ValueError(f"{type(self).__name__} takes a clip (N, C, T, H, W), got shape {tuple(x.shape)}")
        if x.shape[0] != 1:
            return torch.cat([self(clip[None]) for clip in x])
        return from_frames(self.frames(to_frames(x)))


def triple(v) -> tuple[int, int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)
