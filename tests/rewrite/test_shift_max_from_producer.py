
import pytest
from torch import nn

from edgekit.models.micronet import DynamicShiftMax
from edgekit.rewrite.fold_batchnorm import FoldBatchNorm
from edgekit.rewrite.shift_max_from_producer import ConvShiftMax, ShiftMaxFromProducer
from edgekit.rewrite.shift_max_static import ShiftMaxToStatic
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact, condition


@pytest.mark.parametrize("cin,c,groups,g,k", [(8, 32, 4, 4, 2), (16, 24, 2, 6, 1), (12, 12, 1, 3, 2)])
def test_grouped_conv_then_shift_max_uses_a_permuted_copy(cin, c, groups, g, k):
    m = condition(nn.Sequential(nn.Conv2d(cin, c, 1, groups=groups, bias=False), nn.BatchNorm2d(c),
                                DynamicShiftMax(c, 4, g, k=k)), fc_std=0.5)
    shape = (cin, 8, 7)
    m2, (_, _, n) = apply_exact(m, shape, FoldBatchNorm(), ShiftMaxToStatic(), ShiftMaxFromProducer())
    assert n == 1
    assert isinstance(m2[0], ConvShiftMax)
    assert check_equivalent(m, m2, shape) < 1e-5
    census = op_census(m2, shape)
    assert census.gathers == 0 and "slice" not in census.ops and "cat" not in census.ops
    assert census.ops["convolution"] == 4  # conv, its permuted copy, two hyper-function convs


def test_through_relu6_and_depthwise_conv():
    c = 24
    m = condition(nn.Sequential(nn.Conv2d(8, c, 1, groups=2, bias=False), nn.BatchNorm2d(c), nn.ReLU6(),
                                nn.Conv2d(c, c, 5, padding=2, groups=c, bias=False), nn.BatchNorm2d(c),
                                DynamicShiftMax(c, 4, 6, k=2)), fc_std=0.5)
    shape = (8, 9, 10)
    _, (_, _, n) = apply_exact(m, shape, FoldBatchNorm(), ShiftMaxToStatic(), ShiftMaxFromProducer(through_depthwise=False))
    assert n == 0
    m2, (_, _, n) = apply_exact(m, shape, FoldBatchNorm(), ShiftMaxToStatic(), ShiftMaxFromProducer(through_depthwise=True))
    assert n == 1
    assert check_equivalent(m, m2, shape) < 1e-5
    census = op_census(m2, shape)
    assert "slice" not in census.ops and "cat" not in census.ops and census.gathers == 0
