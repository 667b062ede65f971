import copy

import pytest
import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.models.micronet import DynamicShiftMax
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import condition


def _net():
    return condition(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)))


def test_identical_copy_is_exactly_equivalent():
    a = _net()
    assert check_equivalent(a, copy.deepcopy(a), (3, 16, 16)) == 0.0


def test_perturbed_model_is_rejected_with_the_size_of_the_difference():
    a = _net()
    b = copy.deepcopy(a)
    with torch.no_grad():
        b[3].bias.add_(1e-3 * b[3].bias.abs().max() + 1e-3)
    with pytest.raises(EdgekitError, match="differs from the original by"):
        check_equivalent(a, b, (3, 16, 16))
    assert check_equivalent(a, b, (3, 16, 16), tol=1.0) > 1e-5


def test_census_sees_the_shift_max_gather_and_5d_shuffle():
    from edgekit.models.layers import ChannelShuffle

    m = nn.Sequential(DynamicShiftMax(16, 4, 4, k=2), ChannelShuffle(4)).eval()
    c = op_census(m, (16, 8, 8))
    assert c.ops["index"] == 1 and c.gathers == 1
    assert c.max_rank == 5
    assert c.dynamic_conv_weights == 0


def test_census_flags_computed_conv_weights():
    from edgekit.models.dyconv import DynamicConv2d

    assert op_census(DynamicConv2d(8, 8, 3, padding=1).eval(), (8, 10, 10)).dynamic_conv_weights == 1


def test_tolerance_widens_only_to_the_models_own_float32_noise():
    from edgekit.rewrite.verify import float32_noise

    a = _net()
    assert float32_noise(a, (3, 16, 16)) < 1e-6  # a shallow net: the bound stays 1e-5
    b = copy.deepcopy(a)
    with torch.no_grad():
        b[3].bias.add_(1e-4)
    with pytest.raises(EdgekitError, match=r"tolerance 1e-05"):
        check_equivalent(a, b, (3, 16, 16))
