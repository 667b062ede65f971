
import pytest
import torch
from torch import nn

from edgekit.models.micronet import DynamicShiftMax
from edgekit.rewrite.shift_max_static import ShiftMaxToStatic, StaticShiftMax
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact, condition


def _dsm(c, g, k, init_a=(1.0, 0.0), init_b=(0.0, 0.0)):
    return condition(nn.Sequential(DynamicShiftMax(c, 4, g, k=k, init_a=init_a, init_b=init_b)), fc_std=0.5)


@pytest.mark.parametrize("c,g,k", [(16, 4, 2), (32, 8, 1), (24, 12, 2), (12, 2, 1), (64, 16, 2)])
def test_equivalent_without_gather_and_two_rolls(c, g, k):
    m = _dsm(c, g, k, init_a=(1.0, 0.5), init_b=(0.0, 0.5))
    m2, (n,) = apply_exact(m, (c, 7, 9), ShiftMaxToStatic())
    assert n == 1
    assert check_equivalent(m, m2, (c, 7, 9)) < 1e-5
    census = op_census(m2, (c, 7, 9))
    assert census.gathers == 0 and census.max_rank == 4
    assert "addmm" not in census.ops and "view" not in census.ops  # hyper-function stays 4-D
    assert len(m2[0].offsets) == 2  # one group + one channel, and the group-end wrap


def test_coefficients_really_vary_with_the_input():
    m = _dsm(16, 4, 2)
    s = StaticShiftMax.from_dynamic(m[0])
    x1, x2 = torch.randn(1, 16, 5, 5), torch.randn(1, 16, 5, 5) * 3 + 1
    c1 = s.conv2(torch.relu(s.conv1(x1.mean((2, 3), keepdim=True))))
    c2 = s.conv2(torch.relu(s.conv1(x2.mean((2, 3), keepdim=True))))
    assert (c1 - c2).abs().max() > 1e-2


@pytest.mark.parametrize("k", [1, 2])
def test_conjugated_by_a_layout_acts_on_permuted_channels(k):
    m = _dsm(24, 6, k)
    s = StaticShiftMax.from_dynamic(m[0]).eval()
    layout = torch.randperm(24, generator=torch.Generator().manual_seed(3))
    s.permute_channels(layout)
    x = torch.randn(1, 24, 6, 6)
    with torch.no_grad():
        ref = m(x)[:, layout]
        out = s(x[:, layout])
    assert (ref - out).abs().max() / ref.abs().max() < 1e-5
