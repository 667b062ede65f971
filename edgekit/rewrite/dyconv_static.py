"""DY-Conv without input-dependent convolution weights: the static K-branch form.

Matched: `edgekit.models.dyconv.DynamicConv2d` (per-sample kernel Σ_k π_k(x)·W_k aggregated at
run time, batch folded into the conv groups: dynamic weights and shapes).
Replaced: `DynamicConvBranches`: conv(x, Σ π_k W_k) + Σ π_k b_k == Σ_k π_k · conv_k(x) (convolution
is linear in its weights), so K ordinary convs with the static kernels W_k (bias b_k), each output
scaled by π_k and summed. π comes from the same attention kept 4-D: mean over H, W as
(1, C, 1, 1) → 1×1 conv → ReLU → 1×1 conv (logits / temperature folded into its weights) →
softmax over the channel axis → split into K (1, 1, 1, 1) scalars that broadcast.
Cost: K× the conv's MAdds (the overhead, (K − 1)× conv MAdds, is reported by count_madds like any
conv) plus K multiply-adds per output element, in exchange for static filters that XNNPACK
delegates and quantizers calibrate. No batch folding (batch 1, static shapes).
Applies: any DynamicConv2d (any groups, stride, padding, dilation, with or without bias).
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.base import RewriteContext, replace_children
from edgekit.rewrite.pool import global_pool


class DynamicConvBranches(nn.Module):
    def __init__(self, m: DynamicConv2d):
        super().__init__()
        self.k = m.k
        att = m.attention
        with torch.no_grad():
            self.att1 = nn.Conv2d(att.fc1.in_features, att.fc1.out_features, 1)
            self.att1.weight.copy_(att.fc1.weight.view(*att.fc1.weight.shape, 1, 1))
            self.att1.bias.copy_(att.fc1.bias)
            t = float(m.temperature)
            self.att2 = nn.Conv2d(att.fc2.in_features, m.k, 1)
            self.att2.weight.copy_((att.fc2.weight / t).view(m.k, -1, 1, 1))
            self.att2.bias.copy_(att.fc2.bias / t)
            self.branches = nn.ModuleList()
            for i in range(m.k):
                conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                                 m.groups, bias=m.bias is not None)
                conv.weight.copy_(m.weight[i])
                if m.bias is not None:
                    conv.bias.copy_(m.bias[i])
                self.branches.append(conv)

    def forward(self, x):
        h = torch.relu(self.att1(global_pool(x)))
        pi = torch.softmax(self.att2(h), dim=1)
        parts = torch.split(pi, 1, dim=1)
        out = self.branches[0](x) * parts[0]
        for conv, p in zip(self.branches[1:], parts[1:]):
            out = out + conv(x) * p
        return out

    def count_madds(self, inputs, output) -> dict:
        """The K branch convs are counted by their own hooks; here the π-weighted sum."""
        return {"dynamic": self.k * output[0].numel()}


class DynamicConvToBranches:
    name = "dyconv_static"

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        return replace_children(model,
                                lambda m: DynamicConvBranches(m).eval() if isinstance(m, DynamicConv2d) else None)
