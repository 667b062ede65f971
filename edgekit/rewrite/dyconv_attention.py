"""The DY-Conv attention kept 4-D, shared by the static DY-Conv forms (stacked, input-mix).

π(x) = softmax(fc2(relu(fc1(mean_hw x))) / temperature) as (1, K, 1, 1): global pool → 1×1 conv →
ReLU → 1×1 conv (1 / temperature folded into its weight and bias) → softmax over channels.
`expand_conv(k, n_out, index)` is a static 1×1 conv that spreads π to one value per channel of a
stacked tensor (channel c gets π_index(c)): a one-hot weight, so exact (1·π + 0·others).
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.pool import global_pool


class StaticAttention(nn.Module):
    def __init__(self, m: DynamicConv2d):
        super().__init__()
        att, t = m.attention, float(m.temperature)
        self.fc1 = nn.Conv2d(att.fc1.in_features, att.fc1.out_features, 1)
        self.fc2 = nn.Conv2d(att.fc2.in_features, m.k, 1)
        with torch.no_grad():
            self.fc1.weight.copy_(att.fc1.weight.view(*att.fc1.weight.shape, 1, 1))
            self.fc1.bias.copy_(att.fc1.bias)
            self.fc2.weight.copy_((att.fc2.weight / t).view(m.k, -1, 1, 1))
            self.fc2.bias.copy_(att.fc2.bias / t)

    def forward(self, x):
        return torch.softmax(self.fc2(torch.relu(self.fc1(global_pool(x)))), dim=1)


@torch.no_grad()
def expand_conv(k: int, index: torch.Tensor) -> nn.Conv2d:
    """1×1 conv K → len(index): output channel c = π_{index[c]} (static one-hot weight, no bias)."""
    conv = nn.Conv2d(k, len(index), 1, bias=False)
    conv.weight.zero_()
    conv.weight[torch.arange(len(index)), index.long(), 0, 0] = 1.0
    return conv


def sum_slices(y: torch.Tensor, size: int) -> torch.Tensor:
    """y's channel slices of `size` added up (K − 1 Adds): Σ_k y[:, k·size:(k+1)·size]."""
    parts = torch.split(y, size, dim=1)
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out
