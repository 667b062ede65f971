"""MAdds of the convolutions and matrix products a user writes with functional calls (count_madds at the ATen
level): a computed-weight F.conv2d costs what nn.Conv2d of that shape costs, kernel mixing (torch.mm / matmul /
einsum into a conv weight) is `dynamic`, a product of two features is conv-type, modules that count themselves
are not counted twice. Each expected number is written out from the layer shapes."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekit.analysis.flops import count_madds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rewrite"))
import user_condconv_net as CC  # noqa: E402
import user_dynamic_convs as U  # noqa: E402


def attention_madds(cin, k):  # SoftmaxAttention: Linear(cin, max(4, cin // 4)) -> Linear(hidden, k)
    hidden = max(4, cin // 4)
    return cin * hidden + hidden * k


def test_mm_kernel_mixing_batch_in_groups():
    m = U.DyConvMM(8, 16, ks=3, k=4).eval()
    r = count_madds(m, (8, 10, 10))
    conv = 10 * 10 * 16 * 8 * 9  # the per-sample conv, whatever the weight's origin
    assert r.conv_madds == conv + attention_madds(8, 4)
    assert r.dynamic_madds == 4 * 16 * 8 * 9 + 4 * 16  # mm(a, bank) + mm(a, bias bank)


def test_einsum_and_per_sample_loop():
    r = count_madds(U.DyConvEinsum(8, 16, ks=3, k=3).eval(), (8, 6, 6))
    assert r.conv_madds == 6 * 6 * 16 * 8 * 9 + attention_madds(8, 3)
    assert r.dynamic_madds == 3 * 16 * 8 * 9


def test_condconv_library_style_depthwise():
    conv = CC.CondConv2d(16, 16, 3, stride=2, groups=16, num_experts=4)
    r = count_madds(lambda_module(lambda x: conv(x, torch.sigmoid(x.mean((2, 3))[:, :4]))), (16, 8, 8))
    assert r.conv_madds == 4 * 4 * 16 * 1 * 9  # output 16 x 4 x 4, one input channel per group, 3x3
    assert r.dynamic_madds == 4 * 16 * 9


def test_feature_products_are_conv_type_and_own_counts_are_kept():
    class Attn(nn.Module):
        def forward(self, q):
            return torch.softmax(q @ q.transpose(-1, -2), -1) @ q  # (1, 12, 5): two products of features

    assert count_madds(Attn(), (12, 5)).conv_madds == 12 * 12 * 5 + 12 * 12 * 5
    assert count_madds(Attn(), (12, 5)).dynamic_madds == 0

    from edgekit.models.dyconv import DynamicConv2d

    m = DynamicConv2d(8, 16, 3, padding=1).eval()
    own = m.count_madds((torch.zeros(1, 8, 6, 6),), torch.zeros(1, 16, 6, 6))
    r = count_madds(m, (8, 6, 6))
    assert r.dynamic_madds == own["dynamic"]
    assert r.conv_madds == own["conv"] + sum(L.conv for L in r.layers if L.kind == "Linear")


def test_efficientnet_condconv_counts_every_conv_once():
    """The CondConv network's conv MAdds equal the same network with plain convolutions (the routing
    linears added): a CondConv's computed weight is counted, its kernel mixing is dynamic."""
    torch.manual_seed(0)
    cc = CC.EfficientNetCC(width=0.25, depth=1, num_classes=10).eval()
    plain = CC.EfficientNetCC(width=0.25, depth=1, num_classes=10, condconv_from=99).eval()
    a, b = count_madds(cc, (3, 64, 64)), count_madds(plain, (3, 64, 64))
    routing = sum(blk.routing_fn.in_features * blk.routing_fn.out_features for blk in cc.blocks
                  if isinstance(blk, CC.CondConvResidual))
    assert routing > 0 and a.conv_madds == b.conv_madds + routing
    mixing = sum(4 * c.weight.shape[1] for blk in cc.blocks if isinstance(blk, CC.CondConvResidual)
                 for c in (blk.conv_pw, blk.conv_dw, blk.conv_pwl))
    assert a.dynamic_madds == mixing and b.dynamic_madds == 0


def lambda_module(fn):
    class M(nn.Module):
        def forward(self, x):
            return fn(x)
    return M()


@pytest.mark.parametrize("kind", ["mm", "condconv", "einsum", "broadcast"])
def test_user_nets_count_their_dynamic_convs(kind):
    """Every dynamic conv of the user nets is in conv_madds (before, the F.conv2d ones were not counted at all)."""
    net = U.Net(kind).eval()
    r = count_madds(net, (3, 32, 32))
    convs = [L for L in r.layers if L.kind.startswith("convolution")]
    assert len(convs) == {"mm": 2, "condconv": 3, "einsum": 1, "broadcast": 1}[kind]
    assert all(L.conv > 0 for L in convs)
