"""Clip and sequence models written the way users write them: plain nn.Conv3d / nn.Conv1d, "same"
padding, dilation 1/2/4, a temporal stride 2, residual adds around temporal convs."""

from __future__ import annotations

import torch
from torch import nn


class TemporalResidual(nn.Module):
    def __init__(self, c: int, dilation: int, dims: int = 3, k: int = 3):
        super().__init__()
        pad = dilation * (k - 1) // 2
        if dims == 3:
            self.conv = nn.Conv3d(c, c, (k, 1, 1), padding=(pad, 0, 0), dilation=(dilation, 1, 1), bias=False)
            self.bn = nn.BatchNorm3d(c)
        else:
            self.conv = nn.Conv1d(c, c, k, padding=pad, dilation=dilation, bias=False)
            self.bn = nn.BatchNorm1d(c)

    def forward(self, x):
        return torch.relu(x + self.bn(self.conv(x)))


class UserClipDetector(nn.Module):
    """Conv3d 3×3×3 stem, residual dilated temporal blocks (1, 2), a temporal stride-2 conv, dilation 4,
    a padded temporal max pool, a depthwise temporal conv and a per-time-step head."""

    def __init__(self, c: int = 8, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv3d(3, c, 3, padding=1)
        self.bn = nn.BatchNorm3d(c)
        self.r1 = TemporalResidual(c, 1)
        self.r2 = TemporalResidual(c, 2)
        self.down = nn.Conv3d(c, 2 * c, (3, 3, 3), stride=(2, 2, 2), padding=1)
        self.r4 = TemporalResidual(2 * c, 4)
        self.pool = nn.MaxPool3d((3, 1, 1), stride=1, padding=(1, 0, 0))
        self.dw = nn.Conv3d(2 * c, 2 * c, (5, 1, 1), padding=(2, 0, 0), groups=2 * c)
        self.head = nn.Conv3d(2 * c, classes, 1)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = self.r2(self.r1(x))
        x = self.r4(torch.relu(self.down(x)))
        x = self.pool(x) + self.dw(x)  # two branches, two different look-aheads
        x = nn.functional.adaptive_avg_pool3d(x, (None, 1, 1))
        return self.head(x).flatten(2)


class UserClipClassifier(nn.Module):
    """Residual dilated temporal blocks (1, 2, 4), a stride-2 temporal avg pool, a global average pool."""

    def __init__(self, c: int = 8, classes: int = 7):
        super().__init__()
        self.stem = nn.Conv3d(3, c, (3, 3, 3), padding=(1, 1, 1), stride=(1, 2, 2))
        self.blocks = nn.Sequential(TemporalResidual(c, 1), nn.AvgPool3d((2, 1, 1)), TemporalResidual(c, 2),
                                    TemporalResidual(c, 4))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(torch.relu(self.stem(x)))).flatten(1))


class UserSequenceNet(nn.Module):
    """Conv1d over a feature sequence (N, C, T): dilations 1, 2, 4, a temporal stride 2, residuals,
    a padded max pool, per-time-step scores."""

    def __init__(self, c: int = 16, classes: int = 4):
        super().__init__()
        self.inp = nn.Conv1d(12, c, 5, padding=2)
        self.r1 = TemporalResidual(c, 1, dims=1)
        self.down = nn.Conv1d(c, c, 4, stride=2, padding=1)
        self.r2 = TemporalResidual(c, 2, dims=1)
        self.r4 = TemporalResidual(c, 4, dims=1)
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)
        self.out = nn.Conv1d(c, classes, 1)

    def forward(self, x):
        x = self.r1(torch.relu(self.inp(x)))
        x = self.r4(self.r2(torch.relu(self.down(x))))
        return self.out(self.pool(x))


def build_detector():
    return UserClipDetector()


def build_classifier():
    return UserClipClassifier()


def build_sequence():
    return UserSequenceNet()


def conditioned(model: nn.Module, shape, seed: int = 0) -> nn.Module:
    """Random weights with BatchNorm statistics from data (outputs O(1), as the zoo's)."""
    torch.manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn((2, *shape)))
    return model.eval()
