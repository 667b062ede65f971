import copy

import pytest
import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.models.micronet import DynamicShiftMax
from edgekit.rewrite.verify import (RewriteNotExact, check_equivalent, check_exact, float32_noise, max_rel_diff,
                                     op_census)
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
    assert check_equivalent(a, b, (3, 16, 16), tol=1.0) > 1e-5  # a looser float64 bound lets it through


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


def test_float64_proof_catches_a_change_float32_cannot_see():
    """One weight off by 1e-4 of its size moves the outputs by ~1e-6 of their scale: inside the float32
    tolerance (1e-5) the old check used, a thousand times the float64 bound."""
    a = _net()
    b = copy.deepcopy(a)
    with torch.no_grad():
        b[0].weight[0, 0, 0, 0] *= 1 + 1e-4
    diff = max_rel_diff(a, b, (3, 16, 16))
    assert 1e-8 < diff < 1e-5
    with pytest.raises(RewriteNotExact, match="in float64 .exactness bound 1e-09"):
        check_exact(a, b, (3, 16, 16))


class _FuseCancellingPair:
    """Test pass: conv_a(x) + conv_b(x) with w_b = δ − w_a → one conv with weight δ, computed in
    float64. Exact, but float32 evaluates the original with a 1e4-fold cancellation."""

    name = "fuse_cancelling_pair"

    def apply(self, model, ctx):
        w = model.a.weight + model.b.weight
        fused = nn.Conv2d(4, 4, 1, bias=False)
        fused.weight.copy_(w)
        model.a, model.b = fused, None
        return 1


class _Pair(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = nn.Conv2d(4, 4, 1, bias=False)
        self.b = nn.Conv2d(4, 4, 1, bias=False)
        with torch.no_grad():
            self.a.weight.copy_(torch.randn(4, 4, 1, 1, generator=g) * 1e4)
            self.b.weight.copy_(torch.randn(4, 4, 1, 1, generator=g) - self.a.weight)

    def forward(self, x):
        return self.a(x) if self.b is None else self.a(x) + self.b(x)


def test_a_right_rewrite_is_never_refused_for_its_float32_rounding():
    from edgekit.rewrite.pipeline import rewrite_for_export

    m = _Pair().eval()
    m2, log = rewrite_for_export(m, (4, 6, 6), passes=[_FuseCancellingPair()])
    (rec,) = log
    assert rec.exact_diff < 1e-10  # proven exact in float64 (1e4-fold cancellation of ~1e-16 rounding)
    assert rec.max_abs_diff > 1e-5  # float32 differs by far more than 1e-5: reported, not judged
    assert next(m2.parameters()).dtype == torch.float32 and m2.b is None


def test_float32_noise_of_a_shallow_net_is_tiny():
    assert float32_noise(_net(), (3, 16, 16)) < 1e-6


def test_clip_shapes_are_per_sample():
    m = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1)).eval()
    assert check_exact(m, copy.deepcopy(m), (3, 4, 8, 8)) == 0.0
    assert op_census(m, (3, 4, 8, 8)).max_rank == 5
