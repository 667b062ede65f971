"""DY-ReLU (arXiv 2003.10027) variants A, B, C against a loop-by-loop oracle of the paper formula."""

import pytest
import torch
import torch.nn.functional as F

from edgekit.analysis.flops import count_madds
from edgekit.models.dyrelu import DYReLU


def _randomize(m: DYReLU) -> DYReLU:
    for p in m.parameters():
        torch.nn.init.normal_(p, 0.0, 0.5)
    if m.variant == "C":
        bn = m.spatial[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return m.eval()


def _oracle(m: DYReLU, x: torch.Tensor) -> torch.Tensor:
    """y_c,i = max_k (a_c,i^k x_c,i + b_c,i^k) written element by element from the formula."""
    b, c, h, w = x.shape
    k = m.k
    pooled = x.mean(dim=(2, 3))
    hid = torch.relu(pooled @ m.fc[0].weight.T + m.fc[0].bias)
    delta = 2 * torch.sigmoid(hid @ m.fc[2].weight.T + m.fc[2].bias) - 1
    lam = [1.0] * k + [0.5] * k  # defaults lambda_a=1, lambda_b=0.5
    init = [1.0, 0.0, 0.0, 0.0]  # alpha=(1,0), beta=(0,0)
    if m.variant == "C":
        z = F.conv2d(x, m.spatial[0].weight, m.spatial[0].bias)
        bn = m.spatial[1]
        z = (z - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + bn.eps)
        z = z * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
        pi = torch.softmax(z.view(b, -1) / 10.0, dim=1) * (h * w / 3.0)
        pi = torch.minimum(pi, torch.ones_like(pi)).view(b, h, w)
    else:
        pi = torch.ones(b, h, w)
    out = torch.empty_like(x)
    for n in range(b):
        for ch in range(c):
            base = 0 if m.variant == "A" else ch * 2 * k
            branches = []
            for j in range(k):
                a = init[j] + lam[j] * delta[n, base + j] * pi[n]
                bb = init[k + j] + lam[k + j] * delta[n, base + k + j] * pi[n]
                branches.append(a * x[n, ch] + bb)
            out[n, ch] = torch.stack(branches).max(dim=0)[0]
    return out


@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_matches_formula_oracle(variant):
    m = _randomize(DYReLU(12, reduction=4, variant=variant))
    x = torch.randn(3, 12, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(m(x), _oracle(m, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_zeroed_last_fc_is_exactly_relu(variant):
    m = _randomize(DYReLU(16, variant=variant))
    torch.nn.init.zeros_(m.fc[2].weight)
    torch.nn.init.zeros_(m.fc[2].bias)
    x = torch.randn(2, 16, 6, 6) * 3
    with torch.no_grad():
        assert torch.equal(m(x), F.relu(x))


def test_coefficient_counts_per_variant():
    # A: 2K per sample, B and C: 2KC (fc output width)
    assert DYReLU(24, variant="A").fc[2].out_features == 4
    assert DYReLU(24, variant="B").fc[2].out_features == 96
    assert DYReLU(24, variant="C").fc[2].out_features == 96
    assert DYReLU(24, variant="B").fc[0].out_features == 6  # reduction 4


def test_variant_b_coefficients_differ_per_sample_and_channel():
    m = _randomize(DYReLU(8, variant="B"))
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        r = m.residuals(x)
    assert r.shape == (2, 8, 4)
    assert not torch.allclose(r[0], r[1])
    assert not torch.allclose(r[0, 0], r[0, 1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        DYReLU(8, variant="D")
    with pytest.raises(ValueError, match="k=3"):
        DYReLU(8, k=3)


@pytest.mark.parametrize("variant,expected", [
    # (params, conv+linear MAdds [fc1, fc2, spatial conv], dynamic) for C=8 at 5x6
    ("A", (30, 24, 2 * 240 + 4)),
    ("B", (114, 80, 2 * 240 + 32)),
    ("C", (125, 320, 2 * 240 + 4 * 240 + 32)),
])
def test_count_madds(variant, expected):
    report = count_madds(DYReLU(8, variant=variant), (8, 5, 6))
    assert (report.params, report.conv_madds, report.dynamic_madds) == expected
