
import pytest
import torch
from torch import nn

from edgekit.models.dyrelu import DYReLU
from edgekit.rewrite.dyrelu_static import DYReLUToStatic
from edgekit.rewrite.verify import check_equivalent, op_census
from rewrite_util import apply_exact, condition


@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_static_dyrelu_equivalent_4d(variant):
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), DYReLU(16, variant=variant))
    with torch.no_grad():
        for p in m[1].fc.parameters():
            p.normal_(0, 0.5)
        if variant == "C":
            m[1].spatial[0].weight.normal_(0, 1.0)
    condition(m)
    shape = (3, 11, 13)
    assert op_census(m, shape).max_rank == 5 or variant == "B"  # stock: 5-D broadcasts (B permutes)
    m2, (n,) = apply_exact(m, shape, DYReLUToStatic())
    assert n == 1
    assert check_equivalent(m, m2, shape) < 1e-5
    census = op_census(m2, shape)
    assert census.max_rank == 4 and census.gathers == 0
    assert "permute" not in census.ops and "addmm" not in census.ops


def test_dyrelu_really_dynamic():
    m = DYReLU(8, variant="B").eval()
    with torch.no_grad():
        for p in m.fc.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(1, 8, 4, 4)
    assert (m(x) - torch.relu(x)).abs().max() > 1e-2  # not secretly the plain ReLU
