"""The search space's building blocks as torch modules, built from a plain dict (the block's spec).

A spec is what the space file says about one candidate, completed with the stage's output width
and stride; the same dict keys the latency table, builds the block for timing, builds the
supernet's choice and is written into the chosen architecture's module. Kinds:

  micro    MicroNet block: grouped 1x1 expansion (groups g) → act → shuffle(g) → depthwise (k,1)+(1,k)
           (stride s) → act → grouped 1x1 projection (groups g) → BN; identity added when shapes allow.
           act = "shiftmax" (Dynamic Shift-Max, J = 1 or 2 shifted copies, K = 1 or 2 maxima),
           "dyrelu" (DY-ReLU, variant A/B/C), or "relu6".
  dyconv   the same layout with DY-Conv (K kernels) for both 1x1 convolutions and ReLU6.
  stem     3x3 conv stride 2 → BN → ReLU6 (fixed first layer of every architecture).
  head     ReLU6 → global average pool → Linear (fixed last layer).
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d
from edgekit.models.dyrelu import DYReLU
from edgekit.models.layers import ChannelShuffle
from edgekit.models.micronet import DynamicShiftMax, spatial_separable

KINDS = ("micro", "dyconv")


class ShiftMaxJ1(DynamicShiftMax):
    """Dynamic Shift-Max with J = 1 (no shifted copy): y = max_k(a_k(x)·x + b_k(x))."""

    def forward(self, x):
        coef = self.coefficients(x)
        out = x * coef[0] + coef[1]
        if self.k == 2:
            out = torch.max(out, x * coef[2] + coef[3])
        return out


def _act(spec: dict, channels: int, groups: int) -> nn.Module:
    act = spec.get("act", "relu6")
    if act == "shiftmax":
        cls = DynamicShiftMax if spec.get("j", 2) == 2 else ShiftMaxJ1
        k = spec.get("k", 2)
        return cls(channels, 8, max(groups, 1), k=k, init_a=(1.0, 0.0), init_b=(0.0, 0.0))
    if act == "dyrelu":
        return DYReLU(channels, reduction=4, k=2, variant=spec.get("variant", "B"))
    return nn.ReLU6()


class SearchBlock(nn.Module):
    def __init__(self, spec: dict, cin: int):
        super().__init__()
        k, e, g, s, cout = spec["kernel"], spec["expansion"], spec["groups"], spec["stride"], spec["out"]
        hidden = cin * e
        self.identity = s == 1 and cin == cout
        if spec["type"] == "dyconv":
            kk = spec.get("dyconv_k", 4)
            expand = DynamicConv2d(cin, hidden, 1, groups=g, bias=False, k=kk, temperature=1.0)
            project = DynamicConv2d(hidden, cout, 1, groups=g, bias=False, k=kk, temperature=1.0)
            act1, act2 = nn.ReLU6(), nn.ReLU6()
        else:
            expand = nn.Conv2d(cin, hidden, 1, groups=g, bias=False)
            project = nn.Conv2d(hidden, cout, 1, groups=g, bias=False)
            act1, act2 = _act(spec, hidden, g), _act(spec, hidden, g)
        self.layers = nn.Sequential(
            expand, nn.BatchNorm2d(hidden), act1, ChannelShuffle(g) if g > 1 else nn.Identity(),
            spatial_separable(hidden, hidden, hidden, k, s, hidden),  # MicroNet's (k,1) + (1,k) depthwise pair
            act2, project, nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.layers(x)
        return out + x if self.identity else out


class Stem(nn.Module):
    def __init__(self, spec: dict, cin: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, spec["out"], 3, 2, 1, bias=False), nn.BatchNorm2d(spec["out"]),
                                    nn.ReLU6())

    def forward(self, x):
        return self.layers(x)


class Head(nn.Module):
    def __init__(self, spec: dict, cin: int):
        super().__init__()
        self.pool = nn.Sequential(nn.ReLU6(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(cin, spec["num_classes"])

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))


def build_block(spec: dict, cin: int) -> nn.Module:
    if spec["type"] == "stem":
        return Stem(spec, cin)
    if spec["type"] == "head":
        return Head(spec, cin)
    return SearchBlock(spec, cin)


class Network(nn.Module):
    """A chosen architecture: stem, one block per stage, head (the specs in order, with input channels)."""

    def __init__(self, specs: list[dict], in_channels: list[int]):
        super().__init__()
        self.blocks = nn.Sequential(*(build_block(s, c) for s, c in zip(specs, in_channels)))

    def forward(self, x):
        return self.blocks(x)


def init_weights(model: nn.Module) -> nn.Module:
    """Well-scaled random weights, as a trained net has (conv He-normal, BN unit, Linear small)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, (2.0 / n) ** 0.5)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
