
import pytest
import torch

from edgekit.models.dyconv import DynamicConv2d
from edgekit.rewrite.dyconv_static import DynamicConvToBranches
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact
from edgekit.analysis.flops import count_madds


@pytest.mark.parametrize("cin,cout,k,s,g,bias", [(8, 16, 3, 1, 1, True), (16, 16, 3, 2, 16, False),
                                                  (8, 12, 1, 1, 4, True)])
def test_k_branch_form_equivalent_with_static_weights(cin, cout, k, s, g, bias):
    m = DynamicConv2d(cin, cout, k, s, k // 2, groups=g, bias=bias, k=4, temperature=2.0).eval()
    with torch.no_grad():
        for p in m.attention.parameters():
            p.normal_(0, 0.5)
    shape = (cin, 10, 9)
    seq, (n,) = apply_exact(torch.nn.Sequential(m), shape, DynamicConvToBranches())
    assert n == 1
    assert check_equivalent(m, seq, shape) < 1e-5
    census = op_census(seq, shape)
    assert census.dynamic_conv_weights == 0 and census.ops["convolution"] == 4 + 2  # K branches + attention
    assert census.max_rank == 4
    # MAdds overhead: the K static branches cost K x the aggregated conv
    before, after = count_madds(m, shape), count_madds(seq, shape)
    conv = before.layers[-1].conv
    assert after.conv_madds - before.conv_madds == 3 * conv  # attention Linear → 1x1 convs: same MAdds
