"""DY-Conv (arXiv 1912.03458): aggregated per-sample kernels, one-hot attention = static conv."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekit.analysis.flops import count_madds
from edgekit.models.dyconv import DynamicConv2d


class FixedAttentionConv(DynamicConv2d):
    """The attention replaced by a fixed distribution (the module under test is otherwise untouched)."""

    def __init__(self, *args, probs: torch.Tensor, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("fixed", probs)

    def attention_probs(self, x):
        return self.fixed.expand(x.shape[0], -1)


def _static(dy: DynamicConv2d, j: int) -> nn.Conv2d:
    conv = nn.Conv2d(dy.in_channels, dy.out_channels, dy.kernel_size, dy.stride, dy.padding, dy.dilation,
                     dy.groups, bias=dy.bias is not None)
    with torch.no_grad():
        conv.weight.copy_(dy.weight[j])
        if dy.bias is not None:
            conv.bias.copy_(dy.bias[j])
    return conv.eval()


@pytest.mark.parametrize("j", range(4))
@pytest.mark.parametrize("groups,stride", [(1, 1), (2, 2), (8, 1)])
def test_one_hot_attention_equals_static_conv(j, groups, stride):
    probs = F.one_hot(torch.tensor([j]), 4).float()
    dy = FixedAttentionConv(8, 16, 3, stride=stride, padding=1, groups=groups, probs=probs).eval()
    x = torch.randn(3, 8, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(dy(x), _static(dy, j)(x), rtol=1e-5, atol=1e-6)


def test_near_zero_temperature_with_dominant_logit_is_that_kernel():
    dy = DynamicConv2d(6, 10, 3, padding=1, k=4).eval()
    with torch.no_grad():
        dy.attention.fc2.weight.zero_()
        dy.attention.fc2.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0]))
    dy.set_temperature(1e-3)
    x = torch.randn(2, 6, 7, 7)
    with torch.no_grad():
        pi = dy.attention_probs(x)
        assert torch.equal(pi, F.one_hot(torch.tensor([2, 2]), 4).float())
        torch.testing.assert_close(dy(x), _static(dy, 2)(x), rtol=1e-5, atol=1e-6)


def test_batch_fold_is_per_sample_aggregation():
    """Every sample gets its own kernel sum_k pi_k W_k; the batch-folded conv must not mix them."""
    dy = DynamicConv2d(4, 6, 3, stride=2, padding=1, groups=2, k=4, temperature=1.0).eval()
    with torch.no_grad():
        for p in dy.attention.parameters():
            nn.init.normal_(p, 0, 1.0)
    x = torch.randn(3, 4, 8, 8)
    with torch.no_grad():
        y = dy(x)
        pi = dy.attention_probs(x)
        assert not torch.allclose(pi[0], pi[1])
        for i in range(3):
            w = (pi[i].view(-1, 1, 1, 1, 1) * dy.weight).sum(0)
            b = (pi[i].view(-1, 1) * dy.bias).sum(0)
            torch.testing.assert_close(y[i:i + 1], F.conv2d(x[i:i + 1], w, b, 2, 1, 1, 2), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(y[i:i + 1], dy(x[i:i + 1]), rtol=1e-5, atol=1e-6)


def test_attention_is_a_distribution_and_temperature_flattens_it():
    dy = DynamicConv2d(8, 8, 1, k=4, temperature=30.0).eval()
    with torch.no_grad():
        nn.init.normal_(dy.attention.fc2.weight, 0, 2.0)
    x = torch.randn(5, 8, 4, 4)
    with torch.no_grad():
        hot = dy.attention_probs(x)
        dy.set_temperature(1.0)
        cold = dy.attention_probs(x)
    torch.testing.assert_close(hot.sum(1), torch.ones(5))
    assert hot.min() >= 0 and hot.max() <= 1
    assert hot.std() < cold.std()  # tau=30 is close to uniform
    with pytest.raises(ValueError):
        dy.set_temperature(0.0)


def test_parameter_shapes():
    dy = DynamicConv2d(8, 16, (3, 5), groups=4, k=4, reduction=4)
    assert tuple(dy.weight.shape) == (4, 16, 2, 3, 5)
    assert tuple(dy.bias.shape) == (4, 16)
    assert dy.attention.fc1.out_features == 2 and dy.attention.fc2.out_features == 4
    assert DynamicConv2d(8, 16, 3, bias=False).bias is None


def test_count_madds():
    # in 8, out 6, 3x3, groups 2, at 5x6 with padding 1
    report = count_madds(DynamicConv2d(8, 6, 3, padding=1, groups=2), (8, 5, 6))
    conv = 6 * 5 * 6 * 4 * 9  # aggregated conv: 6480
    attention = 8 * 2 + 2 * 4  # fc1 + fc2: 24
    assert report.conv_madds == conv + attention == 6504
    assert report.dynamic_madds == 4 * (6 * 4 * 9 + 6) == 888
    assert report.params == 4 * 6 * 4 * 9 + 4 * 6 + (8 * 2 + 2) + (2 * 4 + 4) == 918
