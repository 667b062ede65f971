"""Small single-purpose layers shared by the zoo (hard activations, channel shuffle)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class HSigmoid(nn.Module):
    """relu6(x + 3) / 6."""

    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


class HSwish(nn.Module):
    """x * relu6(x + 3) / 6."""

    def forward(self, x):
        return x * (F.relu6(x + 3.0) / 6.0)


class ChannelShuffle(nn.Module):
    """ShuffleNet channel shuffle: view (B, G, C/G, H, W), swap the two channel axes, flatten.

    Output channel j*G + g reads input channel g*(C/G) + j. As a fixed permutation it can be
    folded into the next (or previous) convolution's weights: see `edgekit.rewrite`.
    """

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def permutation(self, channels: int) -> torch.Tensor:
        """perm such that out[:, i] = in[:, perm[i]]."""
        g, cpg = self.groups, channels // self.groups
        return torch.arange(channels).view(g, cpg).t().reshape(-1)

    def forward(self, x):
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round `v` to a multiple of `divisor`, never more than 10% below `v` (MobileNet rule)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v
