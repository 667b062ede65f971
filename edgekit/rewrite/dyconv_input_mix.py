"""DY-Conv as ONE static conv with K·Cin inputs: π mixes the input, the kernels are concatenated.

conv(x, Σ_k π_k W_k) == Σ_k conv(π_k·x, W_k) == conv(concat_k(π_k·x), concat_k W_k along the input
axis) — convolution is linear in its input too, and zero padding commutes with the scalar π_k.
The conv has the original Cout outputs and K× the input channels, so its output tensor is the
original's; the K-fold tensor is the input. That makes it the cheap one where the input is
smaller than the stacked output would be (1×1 expansions, Cin < Cout; stride 1), and the dear one
for projections and strided convs.

- groups == 1: the input is concat([x] * K) (channels (K, Cin)) times π spread per channel.
- groups > 1: each input group must stay contiguous, so channels are laid out (g, K, Cin/g); the
  K copies come from a static grouped 1×1 "copy" conv (one-hot weight, groups = g), then the Mul.
  A depthwise conv becomes a grouped conv with K inputs per group (no longer depthwise).
- bias: Σ_k π_k b_k is a static 1×1 conv of π (weight b as (Cout, K)), added to the output.
π is spread to channels by the same static one-hot 1×1 conv as the stacked form.
Cost: K× the conv's MAdds (counted like any conv's), the Mul (K·Cin per input pixel), the copy
conv for groups > 1 (K·Cin per pixel). Exact up to float summation order.
Applies: any DynamicConv2d.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.dyconv_attention import StaticAttention, expand_conv


class DynamicConvInputMix(nn.Module):
    form = "input_mix"

    def __init__(self, m: DynamicConv2d):
        super().__init__()
        k, cin, cout, g = m.k, m.in_channels, m.out_channels, m.groups
        self.k, self.grouped = k, g > 1
        self.attention = StaticAttention(m)
        per = cin // g
        # weight[o, k*per + c] = W_k[o, c]: within each group the inputs are (K, Cin/g)
        w = m.weight.detach().transpose(0, 1).reshape(cout, k * per, *m.kernel_size)
        self.conv = nn.Conv2d(k * cin, cout, m.kernel_size, m.stride, m.padding, m.dilation, g, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(w)
        self.expand = expand_conv(k, torch.arange(k).repeat_interleave(per).repeat(g))
        if self.grouped:
            self.copy = nn.Conv2d(cin, k * cin, 1, groups=g, bias=False)
            with torch.no_grad():
                eye = torch.eye(per).repeat(k, 1)  # (K*per, per): row k*per + c reads input c
                self.copy.weight.copy_(eye.repeat(g, 1).view(k * cin, per, 1, 1))
        self.bias = None
        if m.bias is not None:
            self.bias = nn.Conv2d(k, cout, 1, bias=False)
            with torch.no_grad():
                self.bias.weight.copy_(m.bias.detach().t().reshape(cout, k, 1, 1))

    def forward(self, x):
        pi = self.attention(x)
        xs = self.copy(x) if self.grouped else torch.cat([x] * self.k, dim=1)
        out = self.conv(xs * self.expand(pi))
        if self.bias is not None:
            out = out + self.bias(pi)
        return out

    def count_madds(self, inputs, output) -> dict:
        """Convs are counted by their own hooks; here the π Mul on the K-fold input (and the bias add)."""
        return {"dynamic": self.k * inputs[0][0].numel() + (output[0].numel() if self.bias is not None else 0)}
