"""A grouped 1×1 convolution becomes a dense 1×1 convolution with a block-diagonal weight.

Matched: every `nn.Conv2d` (anywhere in the model, including inside wrappers such as
`SeparableFusedConv`) with kernel 1×1, groups > 1 and not depthwise (groups != in_channels),
whose dense cost `in_channels × out_channels` (MAdds per output pixel) is at most
`max_dense_madds_per_pixel`. With `pointwise_only=False` any kernel size is matched (the stem
question); MicroNet's stems are dense or depthwise after the other passes, so there it changes nothing.
Replaced: `nn.Conv2d(in, out, 1, groups=1)` with weight[o, i] = W[o, i − g(o)·in/G] when input
channel i belongs to output channel o's group g(o), and exactly 0 elsewhere; same bias, stride,
padding. Exact: the extra products are x·0 (float32 adds of +0.0 do not change a sum).
Costs MAdds: × groups on each matched conv (reported by the pipeline as rewrite overhead).

Measured (benchmarks/densify_probe.py, micronet-m0 at 224, 1 thread, one process, alternating
rounds, rewritten model vs rewritten + this pass, exported by the edgekit exporters):
see `MEASURED` below. Not enabled by default for any target unless a row there says it won by ≥ 5 %
in two repeated comparisons.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext

# Filled from benchmarks/densify_probe.py runs; ratio = densified / current rewrite (median ms).
MEASURED: dict[str, str] = {}


def is_grouped_pointwise(m: nn.Module, pointwise_only: bool = True) -> bool:
    return (type(m) is nn.Conv2d and m.groups > 1 and m.groups != m.in_channels
            and (not pointwise_only or tuple(m.kernel_size) == (1, 1)))


@torch.no_grad()
def densify(conv: nn.Conv2d) -> nn.Conv2d:
    """The dense equivalent of a grouped conv: zeros outside the diagonal blocks."""
    g, cin, cout = conv.groups, conv.in_channels, conv.out_channels
    ig, og = cin // g, cout // g
    dense = nn.Conv2d(cin, cout, conv.kernel_size, conv.stride, conv.padding, conv.dilation, groups=1,
                      bias=conv.bias is not None, padding_mode=conv.padding_mode)
    w = torch.zeros_like(dense.weight)
    for k in range(g):
        w[k * og:(k + 1) * og, k * ig:(k + 1) * ig] = conv.weight[k * og:(k + 1) * og]
    dense.weight.copy_(w)
    if conv.bias is not None:
        dense.bias.copy_(conv.bias)
    return dense.train(conv.training)


class DensifyGroupedPointwise:
    name = "densify_grouped_pointwise"

    def __init__(self, max_dense_madds_per_pixel: int = 4096, pointwise_only: bool = True):
        self.max_dense_madds_per_pixel = int(max_dense_madds_per_pixel)
        self.pointwise_only = pointwise_only

    def eligible(self, m: nn.Module) -> bool:
        return (is_grouped_pointwise(m, self.pointwise_only)
                and m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                <= self.max_dense_madds_per_pixel)

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        sites = [(parent, key, child) for parent in model.modules()
                 for key, child in parent.named_children() if self.eligible(child)]
        for parent, key, child in sites:
            setattr(parent, key, densify(child))
        return len(sites)
