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

Measured, NOT faster: not in any target's default passes (bar: ≥ 5 % in two repeated comparisons).
benchmarks/densify_probe.py, 224, 1 thread, edgekit exporters (opset 18 fp32), one process,
alternating rounds; ratio = (rewrite + this pass) / rewrite, median ms, per repeat:
  M0 onnxruntime: N=768 (3 convs) 1.003/1.006/1.006, N=2048 (5) 1.008/1.010/1.009/1.011/1.010,
                  N=4096 (6) 0.997/1.011/1.011/1.011/1.012, all 10: 1.039/1.038 → slower.
  M0 LiteRT:      N=768 0.966/0.980/0.983, N=2048 0.968/0.973/0.979/0.977/0.983,
                  N=4096 0.889/0.987/0.977/0.976/0.984, all 10: 0.991/1.015.
                  Control (a variant identical to the rewrite): 0.982/0.992, so ~2 % is order/noise.
  M1 onnxruntime: N=2048 0.983/1.037, N=4096 0.997/1.004, N=16384 0.992/1.054.
  M1 LiteRT:      N=2048 0.947/0.956, N=4096 0.939/0.971, N=16384 0.963/0.974.
Conv MAdds on M0 (onnx rewrite): 3.49 M → 4.03 M (N=768), 4.48 M (2048), 5.18 M (4096), 8.94 M (all).
Stem: MicroNet's stem (1,3) conv is depthwise with multiplier 2-3 (groups == in_channels), which
this pass skips; densified by hand it measured 0.996/0.998 on onnxruntime (M0), and on LiteRT the
separable fusion already makes the stem one dense 3×3 conv. MicroNet M0-M3 have no other grouped
non-1×1 non-depthwise conv after the default passes.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.rewrite.base import RewriteContext

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
