import pytest
import torch
from torch import nn

from edgekit.models.micronet import DynamicShiftMax
from edgekit.rewrite.fold_batchnorm import FoldBatchNorm
from edgekit.rewrite.shift_max_from_producer import ShiftMaxFromProducer
from edgekit.rewrite.shift_max_slices import ShiftMaxToSlices, SlicedShiftMax, roll
from edgekit.rewrite.shift_max_static import ShiftMaxToStatic
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact, condition


def test_roll_is_two_slices_and_a_two_input_concat():
    x = torch.arange(12.0).view(1, 12, 1, 1)
    assert torch.equal(roll(x, 5), x[:, (torch.arange(12) + 5) % 12])
    assert roll(x, 0) is x


@pytest.mark.parametrize("c,g,k", [(32, 4, 2), (24, 6, 1), (12, 3, 2)])
def test_static_shift_max_becomes_slices_exactly(c, g, k):
    m = condition(nn.Sequential(nn.Conv2d(8, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU6(),
                                DynamicShiftMax(c, 4, g, k=k)), fc_std=0.5)
    shape = (8, 6, 7)
    before, _ = apply_exact(m, shape, FoldBatchNorm(), ShiftMaxToStatic())
    m2, (_, _, n) = apply_exact(m, shape, FoldBatchNorm(), ShiftMaxToStatic(), ShiftMaxToSlices())
    assert n == 1 and isinstance(m2[3], SlicedShiftMax)
    assert check_equivalent(m, m2, shape) < 1e-5
    ops_before, ops = op_census(before, shape).ops, op_census(m2, shape).ops
    assert "split_with_sizes" in ops_before or "split" in ops_before
    assert "split" not in ops and "split_with_sizes" not in ops
    # each roll: two slices + a two-input concat of distinct tensors (the partitioner refuses cat(x, x))
    assert ops.get("cat", 0) == len(m2[3].inner.offsets) - (0 in m2[3].inner.offsets)
    _, (again,) = apply_exact(m2.float(), shape, ShiftMaxToSlices())
    assert again == 0  # idempotent: a wrapped Shift-Max is not wrapped twice


def test_conv_shift_max_becomes_slices_exactly():
    c = 32
    m = condition(nn.Sequential(nn.Conv2d(8, c, 1, groups=4, bias=False), nn.BatchNorm2d(c),
                                DynamicShiftMax(c, 4, 4, k=2)), fc_std=0.5)
    shape = (8, 5, 6)
    m2, (_, _, _, n) = apply_exact(m, shape, FoldBatchNorm(), ShiftMaxToStatic(), ShiftMaxFromProducer(),
                                   ShiftMaxToSlices())
    assert n == 1 and isinstance(m2[0], SlicedShiftMax)
    assert check_equivalent(m, m2, shape) < 1e-5
    ops = op_census(m2, shape).ops
    assert "split" not in ops and "split_with_sizes" not in ops and "cat" not in ops


def test_executorch_target_runs_the_pass_on_micronet():
    from edgekit.rewrite.pipeline import default_passes, rewrite_for_export
    from rewrite_util import micronet

    assert "shift_max_slices" in [p.name for p in default_passes("executorch")]
    assert "shift_max_slices" not in [p.name for p in default_passes("tflite")]
    m = micronet("m0")
    _, log = rewrite_for_export(m, (3, 32, 32), target="executorch")
    rec = {r.name: r for r in log}["shift_max_slices"]
    assert rec.changed == 15  # every Shift-Max of M0
    assert "split_with_sizes" not in rec.ops_after and "split" not in rec.ops_after
