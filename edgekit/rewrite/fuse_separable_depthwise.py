"""A (k,1) conv followed by a per-channel (1,k) conv becomes one k×k conv with a rank-1 kernel.

Matched: in a chain, Conv2d A with kernel (k,1), stride (s,1), padding (p,0), then (after only
identity-like modules, i.e. once BatchNorm is folded) Conv2d B with kernel (1,k'), stride (1,s'),
padding (0,p') whose every group reads exactly one of A's channels (depthwise, any multiplier).
MicroNet's stem and every spatial-separable depthwise pair have this shape.
Replaced: one conv with kernel (k,k'), stride (s,s'), padding (p,p'), A's groups,
weight[o, i] = B[o]·A[o's channel, i] (outer product), bias B·b_A + b_B. Because B zero-pads
A's output (which includes A's bias) while the fused conv zero-pads the input, the output columns
within p' of the left/right border differ by a constant: added back as a (1, C, 1, W) buffer.
Exact. Costs MAdds (k·k' per output instead of k + k' spread over two resolutions): whether it
pays is a measurement per runtime, see `preferred`.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext, input_shapes
from edgekit.rewrite.chain import chains, is_passthrough


class SeparableFusedConv(nn.Module):
    """conv(x) + border, where border corrects the columns next to the left/right edges."""

    def __init__(self, conv: nn.Conv2d, border: torch.Tensor | None):
        super().__init__()
        self.conv = conv
        self.has_border = border is not None
        if border is not None:
            self.register_buffer("border", border, persistent=False)

    def forward(self, x):
        y = self.conv(x)
        return y + self.border if self.has_border else y


def _matches(a, b) -> bool:
    return (isinstance(a, nn.Conv2d) and isinstance(b, nn.Conv2d)
            and a.kernel_size[1] == 1 and a.stride[1] == 1 and a.padding[1] == 0
            and b.kernel_size[0] == 1 and b.stride[0] == 1 and b.padding[0] == 0
            and a.dilation == (1, 1) and b.dilation == (1, 1)
            and a.padding_mode == "zeros" and b.padding_mode == "zeros"
            and isinstance(a.padding, tuple) and isinstance(b.padding, tuple)
            and b.in_channels == a.out_channels and b.groups == b.in_channels)


@torch.no_grad()
def fuse(a: nn.Conv2d, b: nn.Conv2d, width: int) -> SeparableFusedConv:
    """The fused conv for input width `width` (A's output width)."""
    mult = b.out_channels // b.in_channels
    src = torch.arange(b.out_channels) // mult  # A channel each B output reads
    wa = a.weight.double()[src]  # (Cout, Cin/gA, k, 1)
    wb = b.weight.double()  # (Cout, 1, 1, k')
    weight = wa * wb  # broadcast outer product → (Cout, Cin/gA, k, k')
    conv = nn.Conv2d(a.in_channels, b.out_channels, (a.kernel_size[0], b.kernel_size[1]),
                     (a.stride[0], b.stride[1]), (a.padding[0], b.padding[1]), groups=a.groups, bias=True)
    ba = a.bias.double()[src] if a.bias is not None else torch.zeros(b.out_channels, dtype=torch.float64)
    bb = b.bias.double() if b.bias is not None else torch.zeros(b.out_channels, dtype=torch.float64)
    taps = wb[:, 0, 0, :]  # (Cout, k')
    conv.weight.copy_(weight)  # rounded to the model's dtype once, here
    conv.bias.copy_(ba * taps.sum(1) + bb)
    border = None
    if a.bias is not None and bool((ba != 0).any()):
        k, s, p = b.kernel_size[1], b.stride[1], b.padding[1]
        out_w = (width + 2 * p - k) // s + 1
        corr = torch.zeros(b.out_channels, out_w, dtype=torch.float64)
        for j in range(out_w):
            for t in range(k):
                col = j * s - p + t
                if col < 0 or col >= width:
                    corr[:, j] -= ba * taps[:, t]
        if bool((corr != 0).any()):
            border = corr.to(conv.weight.dtype).view(1, b.out_channels, 1, out_w)
    return SeparableFusedConv(conv, border)


class FuseSeparableDepthwise:
    name = "fuse_separable_depthwise"
    # Measured on M0 at 224, 1 thread (benchmarks/rewrite_probe.py, ratios to stock in one run):
    # LiteRT 1.14x fused vs 1.29x unfused, OpenVINO 0.67x vs 0.90x; onnxruntime 1.03x vs 0.995x.
    PREFERRED = {"onnx": False, "tflite": True, "openvino": True}

    @classmethod
    def preferred(cls, target: str) -> bool:
        return cls.PREFERRED.get(target, False)

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        widths = {k: int(v[-1]) for k, v in input_shapes(model, ctx.input_shape, nn.Conv2d).items()}
        changed = 0
        for chain in chains(model):
            i = 0
            while i < len(chain):
                a = chain[i].module
                j = i + 1
                while j < len(chain) and is_passthrough(chain[j].module):
                    j += 1
                if j < len(chain) and _matches(a, chain[j].module) and id(chain[j].module) in widths:
                    fused = fuse(a, chain[j].module, widths[id(chain[j].module)])
                    chain[i].replace(fused)
                    chain[j].replace(nn.Identity())
                    changed += 1
                    i = j + 1
                else:
                    i += 1
        return changed
