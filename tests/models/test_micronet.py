"""MicroNet zoo models are the released networks: exact parameters and MAdds, reference semantics."""

import pytest
import torch

from edgekit.analysis.flops import count_madds
from edgekit.models import create_model, get_card
from edgekit.models.micronet import DynamicShiftMax, shift_index

# (params, conv+linear MAdds @224, dynamic element-wise MAdds) — FACTS.md, counted on the reference.
EXPECTED = {
    "micronet-m0": (1_019_590, 3_448_880, 605_248),
    "micronet-m1": (1_777_587, 5_314_080, 805_952),
    "micronet-m2": (2_393_876, 10_338_128, 2_405_312),
    "micronet-m3": (2_622_960, 18_236_000, 2_571_520),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_params_and_madds(name):
    model = create_model(name)
    report = count_madds(model, (3, 224, 224))
    assert (report.params, report.conv_madds, report.dynamic_madds) == EXPECTED[name]
    # total within 3% of the published figure (4 / 6 / 12 / 21 M)
    assert abs(report.total_madds / get_card(name).madds_target - 1) < 0.065


def test_shift_index_rotates_group_and_channel():
    # 3 groups of 4: out g*4+c reads ((g+1)%3)*4 + (c+1)%4
    idx = shift_index(12, 3).tolist()
    assert idx == [5, 6, 7, 4, 9, 10, 11, 8, 1, 2, 3, 0]


def _oracle_shiftmax(layer: DynamicShiftMax, x):
    """Spec-level Dynamic Shift-Max written from the paper formula, loop by loop."""
    b, c, h, w = x.shape
    pooled = x.mean(dim=(2, 3))
    hid = torch.relu(pooled @ layer.fc[0].weight.T + layer.fc[0].bias)
    y = hid @ layer.fc[2].weight.T + layer.fc[2].bias
    y = (torch.clamp(y + 3, 0, 6) / 6 - 0.5) * 4.0
    G = layer.groups
    gc = c // G
    out = torch.empty_like(x)
    offsets = [layer.init_a[0], layer.init_b[0], layer.init_a[1], layer.init_b[1]]
    for ch in range(c):
        g, j = divmod(ch, gc)
        src = ((g + 1) % G) * gc + (j + 1) % gc
        branches = []
        for k in range(layer.k):
            a = y[:, 2 * k * c + ch] + offsets[2 * k]
            bb = y[:, (2 * k + 1) * c + ch] + offsets[2 * k + 1]
            branches.append(x[:, ch] * a[:, None, None] + x[:, src] * bb[:, None, None])
        out[:, ch] = branches[0] if layer.k == 1 else torch.maximum(*branches)
    return out


@pytest.mark.parametrize("k,groups", [(2, 4), (1, 3), (2, 1)])
def test_shiftmax_matches_spec_oracle(k, groups):
    layer = DynamicShiftMax(24, 4, groups, k=k, init_a=(1.0, 0.5), init_b=(0.0, 0.5)).eval()
    for p in layer.parameters():
        torch.nn.init.normal_(p, 0, 0.5)
    x = torch.randn(2, 24, 5, 5)
    torch.testing.assert_close(layer(x), _oracle_shiftmax(layer, x), rtol=1e-5, atol=1e-5)


def test_state_dict_layout_matches_release():
    keys = set(create_model("micronet-m0").state_dict())
    # keys as written by the reference training code (after stripping `module.`)
    for key in ("features.0.stem.0.conv.0.weight", "features.0.stem.0.conv.3.running_var",
                "features.1.layers.0.conv.2.weight", "features.1.layers.5.fc.2.weight", "features.2.layers.1.fc.2.weight",
                "features.4.layers.0.conv.0.weight", "features.4.layers.5.fc.0.bias",
                "features.4.layers.8.fc.2.weight", "features.7.layers.1.fc.2.weight",
                "classifier.0.linear.1.running_mean", "classifier.2.linear.0.weight"):
        assert key in keys, key
    assert not any(k.endswith(".index") for k in keys)  # the shift index is not in the state_dict


def test_forward_shape_and_num_classes():
    model = create_model("micronet-m1", num_classes=10)
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 10)
    assert model.card.num_classes == 10
