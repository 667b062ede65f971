"""A tiny DY-Conv model for the form tuner's tests (runs in milliseconds): `build()`."""

import torch
from torch import nn

from edgekit.models.dyconv import DynamicConv2d


def build(num_classes: int = 10) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(),
        DynamicConv2d(8, 8, 3, 1, 1, groups=8, bias=False, k=4, temperature=1.0), nn.ReLU(),  # depthwise
        DynamicConv2d(8, 16, 1, bias=False, k=4, temperature=1.0), nn.ReLU(),  # pointwise
        DynamicConv2d(16, 16, 3, 1, 1, bias=True, k=4, temperature=1.0), nn.ReLU(),  # dense, bias
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, DynamicConv2d):
                for p in m.attention.parameters():
                    p.normal_(0, 0.5)
    return model.eval()
