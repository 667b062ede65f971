
import pytest
from torch import nn

from edgekit.rewrite.fold_batchnorm import FoldBatchNorm
from edgekit.rewrite.fuse_separable_depthwise import FuseSeparableDepthwise, SeparableFusedConv
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact, condition


def _pair(cin, mid, cout, k, s, g1):
    return condition(nn.Sequential(
        nn.Conv2d(cin, mid, (k, 1), (s, 1), (k // 2, 0), groups=g1, bias=False), nn.BatchNorm2d(mid),
        nn.Conv2d(mid, cout, (1, k), (1, s), (0, k // 2), groups=mid, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()))


@pytest.mark.parametrize("cin,mid,cout,k,s,g1,hw", [
    (3, 2, 4, 3, 2, 1, (17, 16)),  # MicroNet stem: dense (3,1), grouped (1,3), odd height
    (4, 8, 16, 3, 2, 4, (16, 16)),  # depthwise expansion with channel multipliers
    (16, 16, 16, 5, 1, 16, (9, 11)),  # plain depthwise 5x5 pair
])
def test_pair_with_batchnorm_between_is_one_conv(cin, mid, cout, k, s, g1, hw):
    m = _pair(cin, mid, cout, k, s, g1)
    shape = (cin, *hw)
    m2, (_, n) = apply_exact(m, shape, FoldBatchNorm(), FuseSeparableDepthwise())
    assert n == 1
    assert check_equivalent(m, m2, shape) < 1e-5
    assert op_census(m2, shape).ops["convolution"] == 1
    fused = m2[0]
    assert isinstance(fused, SeparableFusedConv) and fused.conv.kernel_size == (k, k)
    assert fused.has_border  # the BatchNorm between had a shift: border columns need the correction


def test_border_correction_is_needed():
    m = _pair(16, 16, 16, 5, 1, 16)
    m2, _ = apply_exact(m, (16, 9, 9), FoldBatchNorm(), FuseSeparableDepthwise())
    m2[0].has_border = False
    with pytest.raises(Exception, match="differs"):
        check_equivalent(m, m2, (16, 9, 9))
