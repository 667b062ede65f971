import copy

import torch
from torch import nn

from edgekit.analysis.flops import count_madds
from edgekit.rewrite.base import RewriteContext
from edgekit.rewrite.densify_grouped_pointwise import DensifyGroupedPointwise, densify
from edgekit.rewrite.pipeline import default_passes, rewrite_for_export
from edgekit.rewrite.verify import check_equivalent
from rewrite_util import apply_exact, condition, micronet

SHAPE = (16, 9, 11)


def _net():
    return condition(nn.Sequential(
        nn.Conv2d(16, 24, 1, groups=4, bias=True), nn.BatchNorm2d(24), nn.ReLU(),  # grouped 1x1: 16·24 = 384/pixel
        nn.Conv2d(24, 24, 3, padding=1, groups=24),  # depthwise: never matched
        nn.Conv2d(24, 48, 1, groups=3, bias=False),  # grouped 1x1: 24·48 = 1152/pixel
        nn.Conv2d(48, 32, 3, padding=1, groups=2),  # grouped 3x3: only with pointwise_only=False
        nn.Conv2d(32, 8, 1)))  # dense 1x1: never matched


def test_block_diagonal_dense_conv_is_exact_and_costs_groups_times_the_madds():
    m = _net()
    m2, (n,) = apply_exact(m, SHAPE, DensifyGroupedPointwise())
    assert n == 2
    assert m2[0].groups == 1 and m2[4].groups == 1 and m2[3].groups == 24 and m2[5].groups == 2
    assert check_equivalent(m, m2, SHAPE) < 1e-5
    # zeros exactly off the diagonal blocks, the original weights on them
    w = m2[0].weight
    assert int((w != 0).sum()) == int((m[0].weight != 0).sum())
    assert torch.equal(w[6:12, 4:8], m[0].weight[6:12]) and not w[6:12, :4].any() and not w[6:12, 8:].any()
    hw = 9 * 11
    extra = hw * 24 * (16 - 16 // 4) + hw * 48 * (24 - 24 // 3)  # each conv: x groups
    assert count_madds(m2, SHAPE).conv_madds - count_madds(m, SHAPE).conv_madds == extra == 28512 + 76032


def test_threshold_selects_the_small_convs_and_any_kernel_option():
    m = _net()
    m2, (n,) = apply_exact(m, SHAPE, DensifyGroupedPointwise(max_dense_madds_per_pixel=384))
    assert n == 1
    assert m2[0].groups == 1 and m2[4].groups == 3
    m3, (n,) = apply_exact(m, SHAPE, DensifyGroupedPointwise(max_dense_madds_per_pixel=48 * 32 * 9, pointwise_only=False))
    assert n == 3
    assert m3[5].groups == 1 and m3[3].groups == 24
    assert check_equivalent(m, m3, SHAPE) < 1e-5
    assert DensifyGroupedPointwise(max_dense_madds_per_pixel=100).apply(copy.deepcopy(m), RewriteContext(SHAPE)) == 0


def test_densify_keeps_stride_and_padding():
    c = nn.Conv2d(12, 6, 1, stride=2, padding=1, groups=3)
    assert check_equivalent(c.eval(), densify(c).eval(), (12, 7, 8)) < 1e-6


def test_micronet_m0_after_the_pipeline():
    m = micronet("m0")
    shape = (3, 64, 64)
    for target in ("onnx", "tflite"):
        dense, log = rewrite_for_export(m, shape, target=target,
                                        passes=[*(q for q in default_passes(target) if q.name != "absorb_permutations"),
                                                DensifyGroupedPointwise()])  # (absorb_permutations densifies some itself)
        assert log[-1].changed == 6  # of M0's ten grouped 1x1 convs (groups 2-12), those with in·out <= 4096
        assert log[-1].max_abs_diff < 1e-5
        grouped = [c for c in dense.modules() if isinstance(c, nn.Conv2d) and 1 < c.groups < c.in_channels]
        assert sorted(c.in_channels * c.out_channels for c in grouped) == [8192, 16384, 24576, 36864]
        assert log[-1].madds_after > log[-1].madds_before
