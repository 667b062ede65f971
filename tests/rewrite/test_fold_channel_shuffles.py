
from torch import nn

from edgekit.models.layers import ChannelShuffle
from edgekit.rewrite.fold_channel_shuffles import FoldChannelShuffles
from edgekit.rewrite.permute_channels import PermuteChannels
from edgekit.rewrite.shift_max_static import ShiftMaxToStatic
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact, condition


def _fold(m, shape):
    p = FoldChannelShuffles()
    m2, (n,) = apply_exact(m, shape, p)
    return m2, n, p, check_equivalent(m, m2, shape)


def test_shuffle_before_dense_conv_disappears_into_its_weights():
    m = condition(nn.Sequential(nn.Conv2d(4, 12, 3, padding=1, groups=4), ChannelShuffle(3), nn.ReLU(),
                                nn.Conv2d(12, 6, 1)))
    m2, n, p, diff = _fold(m, (4, 10, 10))
    assert n == 1 and p.inserted == [] and diff < 1e-5
    assert op_census(m2, (4, 10, 10)).max_rank == 4


def test_shuffle_before_depthwise_then_dense_is_absorbed_by_both():
    m = condition(nn.Sequential(nn.Conv2d(4, 16, 1), ChannelShuffle(4), nn.BatchNorm2d(16),
                                nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU6(), nn.Conv2d(16, 8, 1)))
    m2, n, p, diff = _fold(m, (4, 9, 9))
    assert n == 1 and p.inserted == [] and diff < 1e-5


def test_shuffle_before_grouped_conv_becomes_one_static_permutation():
    m = condition(nn.Sequential(nn.Conv2d(4, 16, 1, groups=4), ChannelShuffle(4), nn.Conv2d(16, 8, 1, groups=4)))
    m2, n, p, diff = _fold(m, (4, 9, 9))
    assert n == 1 and len(p.inserted) == 1 and diff < 1e-5
    assert sum(isinstance(x, PermuteChannels) for x in m2.modules()) == 1
    assert op_census(m2, (4, 9, 9)).max_rank == 4


def test_chain_ends_in_the_identity_layout():
    m = condition(nn.Sequential(nn.Conv2d(4, 8, 1), ChannelShuffle(2)))
    m2, n, p, diff = _fold(m, (4, 6, 6))
    assert n == 1 and diff < 1e-5  # the trailing permutation is realized, not dropped


def test_micronet_m0_keeps_shift_max_rolls_and_drops_all_shuffles():
    from rewrite_util import micronet

    m = micronet("m0")
    m1, _ = apply_exact(m, (3, 64, 64), ShiftMaxToStatic())
    m2, n, p, diff = _fold(m1, (3, 64, 64))
    assert n == 24 and diff < 1e-5
    assert not any(isinstance(x, ChannelShuffle) for x in m2.modules())
    kinds = [x.kind for x in m2.modules() if isinstance(x, PermuteChannels)]
    assert len(kinds) == 10 and "conv" not in kinds  # one per grouped 1x1 conv + one before a Shift-Max
    from edgekit.rewrite.shift_max_static import StaticShiftMax
    assert [len(x.offsets) for x in m2.modules() if isinstance(x, StaticShiftMax)] == [2] * 15
    census = op_census(m2, (3, 64, 64))
    assert census.gathers == 0 and census.max_rank == 4
