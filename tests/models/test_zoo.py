"""The zoo beyond MicroNet: exact parameter and MAdds counts, cards, forward passes.

Convention (analysis/flops.py): conv + linear multiply-adds, bias/BatchNorm/SE-scale/h-swish not
counted; dynamic element-wise work (DY-ReLU coefficients, DY-Conv kernel aggregation) reported
separately. These numbers are what this implementation counts at 224x224, pinned.
"""

import pytest
import torch

from edgekit.analysis.flops import count_madds
from edgekit.models import create_model, get_card, list_models
from edgekit.models.dyconv import DynamicConv2d
from edgekit.models.dyrelu import DYReLU
from edgekit.models.dyrelu_models import MobileNetV2

# name: (params, conv+linear MAdds @224, dynamic MAdds @224)
EXPECTED = {
    "mobilenetv3-small-035": (558_744, 11_238_936, 0),
    "mobilenetv3-small-050": (917_264, 18_970_736, 0),
    "mobilenetv3-small-075": (1_653_920, 39_115_576, 0),
    "mobilenetv3-small-100": (2_542_856, 56_510_400, 0),
    "mobilenetv3-small-dyconv": (4_377_542, 56_985_112, 1_811_296),
    "mobilenetv2-dyrelu": (14_844_752, 312_053_632, 11_340_288),
    "resnet18-dyconv": (44_933_880, 1_814_360_384, 43_941_888),
}


def test_zoo_lists_every_family():
    names = list_models()
    video = {"c3d-small", "tan-small", "s3d-small"}  # tests/models/test_video.py
    research = {"tcn-small", "dtpn-small", "man-small", "mobonet-small"}  # tests/models/test_research_line.py
    assert set(EXPECTED) | {f"micronet-m{i}" for i in range(4)} | video | research == set(names)
    assert list_models("mobilenetv3-small-0*") == [f"mobilenetv3-small-{w}" for w in ("035", "050", "075")]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_params_and_madds_at_224(name):
    report = count_madds(create_model(name), (3, 224, 224))
    assert (report.params, report.conv_madds, report.dynamic_madds) == EXPECTED[name]


def test_mobilenetv3_small_100_against_published():
    """Our count: 2,542,856 params and 56.5M conv+linear MAdds — the MobileNetV3 paper's own 56M
    convention. The 66M / 2.9M the MicroNet and DY-Conv papers quote for x1.0 (the card's target)
    count more than conv+linear; we do not reproduce that convention, so the card keeps the
    published figure and the test bounds the gap."""
    card = get_card("mobilenetv3-small-100")
    assert card.madds_target == 66_000_000 and card.extra["published_params"] == 2_900_000
    params, madds, _ = EXPECTED["mobilenetv3-small-100"]
    assert 2_500_000 < params < 2_600_000
    assert 56_000_000 <= madds <= 66_000_000
    assert 0.85 < madds / card.madds_target < 0.86


def test_dynamic_overheads_match_the_papers_claims():
    # DY-Conv paper: +4% FLOPs over MobileNetV3-Small; we count 58.80M / 56.51M
    static = sum(EXPECTED["mobilenetv3-small-100"][1:])
    dy = sum(EXPECTED["mobilenetv3-small-dyconv"][1:])
    assert round(dy / static - 1, 3) == 0.040
    # DY-ReLU paper: +5% FLOPs over MobileNetV2 x1.0 (300M); our hyper-functions (two DY-ReLU-B per
    # block, reduction 4) come to +7.5%
    base = count_madds(MobileNetV2(), (3, 224, 224))
    assert (base.params, base.conv_madds) == (3_504_872, 300_774_272)
    assert round(sum(EXPECTED["mobilenetv2-dyrelu"][1:]) / base.conv_madds - 1, 3) == 0.075


def test_dynamic_layers_are_where_the_papers_put_them():
    m = create_model("mobilenetv3-small-dyconv")
    assert isinstance(m.features[0][0], torch.nn.Conv2d)  # the stem stays static
    dyn = [mod for mod in m.modules() if isinstance(mod, DynamicConv2d)]
    assert len(dyn) == 2 + 3 * 10 + 1 and all(d.k == 4 for d in dyn)  # block 1 has no expansion
    assert all(d.temperature == 1.0 for d in dyn)
    r = create_model("resnet18-dyconv")
    assert sum(isinstance(mod, DynamicConv2d) for mod in r.modules()) == 16
    v2 = create_model("mobilenetv2-dyrelu")
    acts = [mod for mod in v2.modules() if isinstance(mod, DYReLU)]
    assert len(acts) == 1 + 2 * 16 and {a.variant for a in acts} == {"B"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_forward_low_res_batch_consistent(name):
    model = create_model(name, num_classes=7)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        y = model(x)
        y0 = model(x[:1])
    assert y.shape == (2, 7) and torch.isfinite(y).all()
    torch.testing.assert_close(y[:1], y0, rtol=1e-4, atol=1e-5)  # no cross-sample leakage


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cards(name):
    card = get_card(name)
    assert card.input_size == (3, 224, 224) and (card.resize, card.crop) == (256, 224)
    assert card.mean == (0.485, 0.456, 0.406) and card.std == (0.229, 0.224, 0.225)
    assert card.madds_target and card.paper.count("arXiv") == 1
