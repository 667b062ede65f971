import torch
from torch import nn

from edgekit.models.layers import ChannelShuffle
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.fold_batchnorm import FoldBatchNorm
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact, condition

CTX = RewriteContext((4, 12, 12))


def _fold(m, shape=(4, 12, 12)):
    m2, (n,) = apply_exact(m, shape, FoldBatchNorm())
    return m2, n, check_equivalent(m, m2, shape)


def test_conv_bn_grouped_and_biased():
    m = condition(nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.BatchNorm2d(8), nn.ReLU(),
                                nn.Conv2d(8, 8, 1, bias=True), nn.BatchNorm2d(8)))
    m2, n, diff = _fold(m)
    assert n == 2 and diff < 1e-5
    assert "native_batch_norm" not in op_census(m2, (4, 12, 12)).ops


def test_bn_through_a_channel_shuffle_uses_permuted_statistics():
    m = condition(nn.Sequential(nn.Conv2d(4, 12, 3, padding=1, bias=False), ChannelShuffle(3), nn.BatchNorm2d(12)))
    m2, n, diff = _fold(m)
    assert n == 1 and diff < 1e-5
    assert isinstance(m2[2], nn.Identity) and isinstance(m2[1], ChannelShuffle)


def test_linear_batchnorm1d_head_in_nested_holders():
    from edgekit.models.micronet import SwishLinear

    m = condition(nn.Sequential(nn.Flatten(), SwishLinear(4 * 3 * 3, 10)))
    m2, n, diff = _fold(m, (4, 3, 3))
    assert n == 1 and diff < 1e-5


def test_bn_without_a_foldable_producer_is_left_alone():
    m = condition(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(4)))
    m2, n, _ = _fold(m)
    assert n == 0 and isinstance(m2[1], nn.BatchNorm2d)


def test_micronet_m0_all_batchnorms_folded():
    from rewrite_util import micronet

    m = micronet("m0")
    m2, n, diff = _fold(m, (3, 64, 64))
    assert n == 26 and diff < 1e-5
    assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m2.modules())


def test_batchnorm_after_dynamic_conv_folds_into_every_kernel():
    from edgekit.models.dyconv import DynamicConv2d

    for bias in (True, False):
        m = nn.Sequential(DynamicConv2d(4, 8, 3, padding=1, bias=bias, k=4, temperature=2.0), nn.BatchNorm2d(8))
        with torch.no_grad():
            for p in m[0].attention.parameters():
                p.normal_(0, 0.5)
        condition(m)
        m2, n, diff = _fold(m, (4, 9, 9))
        assert n == 1 and diff < 1e-5 and isinstance(m2[1], nn.Identity)
