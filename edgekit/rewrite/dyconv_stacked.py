"""DY-Conv as ONE static conv with K·Cout outputs (the K kernels stacked), π-weighted and summed.

conv(x, Σ_k π_k W_k) + Σ_k π_k b_k == Σ_k π_k · conv(x, W_k) + π_k b_k, and the K convs of the
K-branch form (`dyconv_static`) share their input, so they are one conv whose output channels are
the K kernels' outputs side by side. The weighted sum over k then needs π per output channel:
a static one-hot 1×1 conv spreads π (1, K, 1, 1) to (1, K·Cout, 1, 1), one broadcast Mul applies it.

- groups == 1: channels laid out (K, Cout); the sum is the K channel slices added (one Split,
  K − 1 Add in ONNX; channel slices are free in NHWC layouts).
- groups > 1 (depthwise included): the layout must keep each output with its input group, so it
  is (Cout, K) (channel o·K + k = kernel k's output o, the stacked conv has the same groups, a
  depthwise conv becomes one with depth multiplier K) and the sum over the K neighbours is a static
  grouped 1×1 conv with weight 1 (groups = Cout).
Cost: K× the conv's MAdds (the overhead (K − 1)× is counted like any conv's, from the stacked
conv), the Mul (K·Cout per output pixel) and, for groups > 1, the summing conv (K·Cout per pixel),
for 3–4 graph nodes instead of the K-branch form's 3K − 1. Exact up to float summation order.
Applies: any DynamicConv2d (groups, stride, padding, dilation, with or without bias).
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.dyconv_attention import StaticAttention, expand_conv, sum_slices


class DynamicConvStacked(nn.Module):
    form = "stacked"

    def __init__(self, m: DynamicConv2d):
        super().__init__()
        k, cout, g = m.k, m.out_channels, m.groups
        self.k, self.cout, self.grouped = k, cout, g > 1
        self.attention = StaticAttention(m)
        w = m.weight.detach()  # (K, Cout, Cin/g, kh, kw)
        b = m.bias.detach() if m.bias is not None else None
        if self.grouped:  # (Cout, K) layout: kernel k's output o at channel o*K + k
            w = w.transpose(0, 1)
            b = b.t() if b is not None else None
            index = torch.arange(k).repeat(cout)
        else:  # (K, Cout) layout
            index = torch.arange(k).repeat_interleave(cout)
        self.conv = nn.Conv2d(m.in_channels, k * cout, m.kernel_size, m.stride, m.padding, m.dilation, g,
                              bias=b is not None)
        with torch.no_grad():
            self.conv.weight.copy_(w.reshape(self.conv.weight.shape))
            if b is not None:
                self.conv.bias.copy_(b.reshape(-1))
        self.expand = expand_conv(k, index)
        if self.grouped:
            self.reduce = nn.Conv2d(k * cout, cout, 1, groups=cout, bias=False)
            with torch.no_grad():
                self.reduce.weight.fill_(1.0)

    def forward(self, x):
        y = self.conv(x) * self.expand(self.attention(x))
        if self.grouped:
            return self.reduce(y)
        return sum_slices(y, self.cout)

    def count_madds(self, inputs, output) -> dict:
        """Convs are counted by their own hooks; here the π Mul (and the slice adds for groups == 1)."""
        n = output[0].numel()
        return {"dynamic": self.k * n + (0 if self.grouped else (self.k - 1) * n)}
