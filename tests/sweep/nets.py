"""Two tiny classifiers for the sweep tests (exports in seconds, not minutes): the sweep needs
real exports, benches and evals, not big models."""

import torch.nn as nn

from edgekit.models.card import Card


def _card(name: str, num_classes: int) -> Card:
    # digits preprocessing: pixels in [0, 1] (mean 0, std 1), no resize margin
    return Card(name=name, input_size=(3, 32, 32), num_classes=num_classes, crop=32, resize=32,
                mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def narrow(num_classes: int = 10) -> nn.Module:
    m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, num_classes))
    m.card = _card("narrow", num_classes)
    return m


def wide(num_classes: int = 10) -> nn.Module:
    m = nn.Sequential(nn.Conv2d(3, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU(),
                      nn.Conv2d(24, 24, 3, stride=2, padding=1), nn.BatchNorm2d(24), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(96, num_classes))
    m.card = _card("wide", num_classes)
    return m


def broken(num_classes: int = 10) -> nn.Module:
    """Builds, but its forward pass fails at any input size: its export fails."""
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(5, num_classes))
    m.card = _card("broken", num_classes)
    return m
