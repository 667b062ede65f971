"""3-D pools → a 2-D pool per frame plus a reduction over frames.

Matched: `nn.MaxPool3d` / `nn.AvgPool3d` (no ceil_mode, no indices, no divisor_override) and
`nn.AdaptiveAvgPool3d` whose spatial output is 1×1 and whose temporal output is 1 or the input
length (None).
Replaced: `FramesPool3d`. Max and mean are separable over (t, h, w): a 2-D pool with the spatial
kernel, stride, padding (and dilation) runs on every frame, then output frame t reduces the taps
t·s − p + k·d (frames.tap). Max: a tap in the temporal padding is replaced by another frame of the
same window (max over the window is unchanged; no −inf constants). Mean: zero frames in the
padding, divided by k_t (count_include_pad) or per output frame by its number of real frames.
The reduction is a chain of MAXIMUM / ADD ops on frame slices, which every delegate takes (LiteRT
lowers a 3-D pool to STABLEHLO_REDUCE_WINDOW on its default kernels).
Applies: eval mode, any clip length.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext, replace_children
from edgekit.rewrite.frames import FramesModule, gather_frames, out_frames, tap_indices, triple


def _max_indices(t: int, k: int, kernel: int, stride: int, padding: int, dilation: int) -> list[int]:
    """tap_indices with each padding frame replaced by the first real frame of its window."""
    idx = tap_indices(t, k, kernel, stride, padding, dilation)
    if all(i >= 0 for i in idx):
        return idx
    windows = [tap_indices(t, j, kernel, stride, padding, dilation) for j in range(kernel)]
    return [i if i >= 0 else next(w[o] for w in windows if w[o] >= 0) for o, i in enumerate(idx)]


class FramesPool3d(FramesModule):
    def __init__(self, kind: str, kernel, stride, padding, dilation=1, count_include_pad: bool = True):
        super().__init__()
        self.kind = kind  # "max" | "avg"
        self.kt, kh, kw = triple(kernel)
        self.st, sh, sw = triple(stride)
        self.pt, ph, pw = triple(padding)
        self.dt, dh, dw = triple(dilation)
        self.count_include_pad = count_include_pad
        spatial_identity = (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0)
        if spatial_identity:
            self.spatial = nn.Identity()
        elif kind == "max":
            self.spatial = nn.MaxPool2d((kh, kw), (sh, sw), (ph, pw), (dh, dw))
        else:
            self.spatial = nn.AvgPool2d((kh, kw), (sh, sw), (ph, pw), count_include_pad=count_include_pad)

    @classmethod
    def from_module(cls, m: nn.Module) -> "FramesPool3d | None":
        if isinstance(m, nn.MaxPool3d):
            if m.ceil_mode or m.return_indices:
                return None
            return cls("max", m.kernel_size, m.stride, m.padding, m.dilation)
        if isinstance(m, nn.AvgPool3d):
            if m.ceil_mode or m.divisor_override is not None:
                return None
            return cls("avg", m.kernel_size, m.stride, m.padding, 1, m.count_include_pad)
        if isinstance(m, nn.AdaptiveAvgPool3d):
            t, h, w = triple(m.output_size)
            if (h, w) == (1, 1) and t in (1, None):
                return GlobalFramesAvgPool(over_time=t == 1)
        return None

    def frames(self, x):
        x = self.spatial(x)
        n_in = x.shape[0]
        if self.kind == "max":
            taps = [gather_frames(x, _max_indices(n_in, k, self.kt, self.st, self.pt, self.dt)) for k in range(self.kt)]
            y = taps[0]
            for t in taps[1:]:
                y = torch.maximum(y, t)
            return y
        indices = [tap_indices(n_in, k, self.kt, self.st, self.pt, self.dt) for k in range(self.kt)]
        y = gather_frames(x, indices[0])
        for idx in indices[1:]:
            y = y + gather_frames(x, idx)
        if self.count_include_pad:
            return y * (1.0 / self.kt)
        counts = [sum(idx[o] >= 0 for idx in indices) for o in range(out_frames(n_in, self.kt, self.st, self.pt, self.dt))]
        if len(set(counts)) == 1:
            return y * (1.0 / counts[0])
        scale = torch.tensor([1.0 / c for c in counts], dtype=y.dtype).view(-1, 1, 1, 1)
        return y * scale


class GlobalFramesAvgPool(FramesModule):
    """AdaptiveAvgPool3d to (1 | T, 1, 1): spatial mean per frame, then (over_time) the mean of the frames."""

    def __init__(self, over_time: bool):
        super().__init__()
        self.over_time = over_time

    def frames(self, x):
        y = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        if not self.over_time or y.shape[0] == 1:
            return y
        s = y[0:1]
        for i in range(1, y.shape[0]):
            s = s + y[i:i + 1]
        return s * (1.0 / y.shape[0])


class Pool3dToFrames:
    name = "pool3d_to_frames"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        return replace_children(model, FramesPool3d.from_module)
