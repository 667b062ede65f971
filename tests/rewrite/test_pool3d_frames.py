"""3-D pools → per-frame 2-D pools + a frame reduction: float64 proof per configuration."""

import pytest
from torch import nn

from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.pool3d_frames import FramesPool3d, GlobalFramesAvgPool, Pool3dToFrames
from edgekit.rewrite.verify import check_exact

SHAPE = (4, 7, 9, 10)

POOLS = [
    nn.MaxPool3d(2),
    nn.MaxPool3d((1, 2, 2)),
    nn.MaxPool3d((2, 1, 1)),
    nn.MaxPool3d(3, stride=2, padding=1),  # temporal padding: windows at both ends reach into it
    nn.MaxPool3d((3, 3, 3), stride=1, padding=1, dilation=(1, 2, 2)),
    nn.AvgPool3d(3, stride=2, padding=1),
    nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False),  # per-frame divisor
    nn.AvgPool3d((3, 1, 1), stride=1, padding=(1, 0, 0), count_include_pad=False),
    nn.AdaptiveAvgPool3d(1),
    nn.AdaptiveAvgPool3d((None, 1, 1)),
]


@pytest.mark.parametrize("pool", POOLS, ids=repr)
def test_frames_pool_is_exact(pool):
    frames = FramesPool3d.from_module(pool)
    assert frames is not None
    assert check_exact(pool, frames, SHAPE) < 1e-13


@pytest.mark.parametrize("pool", [nn.MaxPool3d(2, ceil_mode=True), nn.AvgPool3d(2, divisor_override=3),
                                  nn.AdaptiveAvgPool3d((2, 1, 1)), nn.AdaptiveAvgPool3d(2)], ids=repr)
def test_unsupported_pools_are_left_alone(pool):
    model = nn.Sequential(pool)
    assert Pool3dToFrames().apply(model, RewriteContext(SHAPE)) == 0 and model[0] is pool


def test_global_pool_over_time_is_one_frame():
    assert GlobalFramesAvgPool(over_time=True).frames(__import__("torch").ones(5, 3, 4, 4)).shape == (1, 3, 1, 1)
