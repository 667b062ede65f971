"""DY-Conv as ONE static conv over the input tiled K times: K·groups groups, K·Cout outputs.

The stacked form (`dyconv_stacked`) keeps a grouped conv's groups by interleaving the K kernels'
outputs, which turns a depthwise conv into one with depth multiplier K — a kernel many runtimes
have no fast path for. Here the input is tiled instead, concat([x] * K) with channels (K, Cin), and
the conv gets K·groups groups: group (k, j) reads copy k of input group j with kernel W_k. A
depthwise conv stays depthwise (multiplier 1, K·C channels); its outputs are laid out (K, Cout),
so the π-weighted sum is one broadcast Mul (π spread per channel by a static one-hot 1×1 conv)
and the K channel slices added, as in the stacked form for groups == 1.
Cost: K× the conv's MAdds (counted like any conv's), the concat (K·Cin per input pixel, a copy),
the Mul (K·Cout per output pixel) and K − 1 adds per output element.
For groups == 1 it is a K-group conv (the K branches side by side in one node); exact for any
DynamicConv2d up to float summation order.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.dyconv_attention import StaticAttention, expand_conv, sum_slices


class DynamicConvTiled(nn.Module):
    form = "tiled"

    def __init__(self, m: DynamicConv2d):
        super().__init__()
        k, cout = m.k, m.out_channels
        self.k, self.cout = k, cout
        self.attention = StaticAttention(m)
        self.conv = nn.Conv2d(k * m.in_channels, k * cout, m.kernel_size, m.stride, m.padding, m.dilation,
                              k * m.groups, bias=m.bias is not None)
        with torch.no_grad():  # (K, Cout) layout: group (k, j) = kernel k's group j
            self.conv.weight.copy_(m.weight.detach().reshape(self.conv.weight.shape))
            if m.bias is not None:
                self.conv.bias.copy_(m.bias.detach().reshape(-1))
        self.expand = expand_conv(k, torch.arange(k).repeat_interleave(cout))

    def forward(self, x):
        y = self.conv(torch.cat([x] * self.k, dim=1)) * self.expand(self.attention(x))
        return sum_slices(y, self.cout)

    def count_madds(self, inputs, output) -> dict:
        """Convs are counted by their own hooks; here the π Mul and the slice adds."""
        return {"dynamic": (2 * self.k - 1) * output[0].numel()}
