"""A wrong pass is caught by the float64 proof on every zoo model, whatever its weights.

The injected pass is the bug class the proof exists for: a shift off by one channel (MicroNet's
Dynamic Shift-Max reads channel c+1 where it should read c), or, on a model without Shift-Max, the
first convolution's output channels rotated by one. Image models run at 64×64 (the rewrite is
resolution-independent; the property tests cover sizes), clips at their card's shape.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import edgekit.models.zoo  # noqa: F401
from edgekit.models.micronet import DynamicShiftMax
from edgekit.models.registry import get_card, list_models
from edgekit.models.source import load_model
from edgekit.rewrite.pipeline import rewrite_for_export
from edgekit.rewrite.verify import RewriteNotExact

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class OffByOneChannel:
    name = "off_by_one_channel"

    @torch.no_grad()
    def apply(self, model: nn.Module, ctx) -> int:
        for m in model.modules():
            if isinstance(m, DynamicShiftMax):
                m.index.copy_((m.index + 1) % m.channels)
                return 1
        conv = next(m for m in model.modules() if isinstance(m, CONVS) and m.out_channels > 1)
        conv.weight.copy_(conv.weight.roll(1, 0))
        if conv.bias is not None:
            conv.bias.copy_(conv.bias.roll(1, 0))
        return 1


def _shape(card) -> tuple[int, ...]:
    shape = tuple(card.input_size)
    return shape if len(shape) != 3 else (shape[0], 64, 64)


# the largest (resnet18-dyconv, 1.8 GMAdds) only in the slow run: its DY-Conv is the one
# mobilenetv3-small-dyconv carries in CI
LARGE = ("resnet18-dyconv",)


# one input per model (the several-input research-line models bring no pass of their own yet)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in list_models()
                                  if not get_card(n).inputs])
def test_an_off_by_one_channel_pass_is_caught_in_float64(name):
    model, card = load_model(name)
    shape = _shape(card)
    with pytest.raises(RewriteNotExact, match=r"after pass off_by_one_channel, the model differs .* in float64"):
        rewrite_for_export(model, shape, passes=[OffByOneChannel()])


@pytest.mark.parametrize("name", [n for n in list_models() if n.startswith("micronet")])
def test_the_default_passes_are_exact_in_float64(name):
    model, card = load_model(name)
    _, log = rewrite_for_export(model, _shape(card), target="tflite")
    assert sum(r.changed for r in log) > 0
    assert max(r.exact_diff for r in log) < 1e-12
