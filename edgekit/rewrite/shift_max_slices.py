"""Dynamic Shift-Max with only the slice and concat forms ExecuTorch's XNNPACK partitioner takes.

Matched: `StaticShiftMax` (element-wise form) and `ConvShiftMax` (shift from the producing conv).
Replaced: `SlicedShiftMax`, the same arithmetic written with
  - one 1x1 conv per coefficient slot (the rows of the hyper-function's second conv) instead of
    `torch.split` of one conv's output (ExecuTorch lowers the split to `split_with_sizes_copy`,
    which XNNPACK has no kernel for: it stays outside the delegate and cuts the graph into one
    partition per Shift-Max; static slices in its place are taken in FP32 but not in INT8);
  - each circular roll by o channels as `cat(x[:, o:], x[:, :o])` instead of a slice of
    `cat(x, x)`: the partitioner counts a concat's *distinct* inputs and refuses one with a single
    input node, which `cat(x, x)` is.
Same values exactly (slices and concats copy), so the float64 proof is an identity check.
Applies: the executorch target (M0 at 64 with the LiteRT form: 16 delegate calls, 15
split_with_sizes_copy and 5 cat outside; with this pass: one delegate call, nothing outside).
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext, replace_children
from edgekit.rewrite.pool import global_pool
from edgekit.rewrite.shift_max_from_producer import ConvShiftMax
from edgekit.rewrite.shift_max_static import StaticShiftMax, combine


def roll(x, o: int):
    """x[:, (i + o) mod C] for every channel i: two slices and a two-input concat (nothing for o = 0)."""
    return x if o == 0 else torch.cat([x[:, o:], x[:, :o]], dim=1)


class SlicedShiftMax(nn.Module):
    """`StaticShiftMax` / `ConvShiftMax` computed with slices and two-input concats only."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner  # keeps its convs, bounds and offsets
        c, conv2 = inner.channels, inner.conv2
        n = conv2.out_channels // c
        # INT8: one 1x1 conv per coefficient slot instead of slices of one conv's output. XNNPACK
        # takes a quantized slice only when its input and output share quantization parameters,
        # which the quantizer does not give the coefficient slices (M0 INT8: 72 slice_copy left
        # outside, 16 delegate calls); per-slot convs need no slice at all.
        self.slot_convs = nn.ModuleList()
        with torch.no_grad():
            for i in range(n):
                conv = nn.Conv2d(conv2.in_channels, c, 1).to(conv2.weight.dtype)
                conv.weight.copy_(conv2.weight[i * c:(i + 1) * c])
                conv.bias.copy_(conv2.bias[i * c:(i + 1) * c])
                self.slot_convs.append(conv)
        for i in range(n):  # one constant each: indexing a stacked buffer exports as select_copy (not delegated)
            self.register_buffer(f"slot_lo{i}", inner.lo[:, i * c:(i + 1) * c].clone(), persistent=False)

    def coefficients(self, x) -> list:
        """The coefficient slots, each pool → conv1 → ReLU → its own 1x1 conv → clip(0, width) + lo."""
        m = self.inner
        h = torch.relu(m.conv1(global_pool(x)))
        return [torch.clamp(conv(h), 0.0, m.clip_max) + getattr(self, f"slot_lo{i}")
                for i, conv in enumerate(self.slot_convs)]

    def forward(self, x):
        m, c = self.inner, self.inner.channels
        if isinstance(m, ConvShiftMax):
            u = x
            x = m.chain(m.conv(u))
            p = self.coefficients(x)
            xs = m.chain_s(m.conv_s(u))
            out = x * p[0] + xs * p[1]
            if m.k == 2:
                out = torch.maximum(out, x * p[2] + xs * p[3])
            return out
        return combine(x, [roll(x, o) for o in m.offsets], self.coefficients(x), m.k)

    def count_madds(self, inputs, output) -> dict:
        return self.inner.count_madds(inputs, output)


class ShiftMaxToSlices:
    """StaticShiftMax (element-wise form) / ConvShiftMax → SlicedShiftMax (see module docstring)."""

    name = "shift_max_slices"
    PREFERRED = {"executorch": True}

    @classmethod
    def preferred(cls, target: str) -> bool:
        return cls.PREFERRED.get(target, False)

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        wrapped = {id(m.inner) for m in model.modules() if isinstance(m, SlicedShiftMax)}

        def make(m):
            if id(m) in wrapped:
                return None
            if isinstance(m, ConvShiftMax) or (isinstance(m, StaticShiftMax) and m.form == "elementwise"):
                return SlicedShiftMax(m)
            return None

        return replace_children(model, make)
