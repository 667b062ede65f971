"""Video zoo: cards, exact MAdds, clip shapes, conditioning and user clip models via file.py:factory."""

import pytest
import torch

from edgekit.analysis.flops import count_madds
from edgekit.models.registry import create_model, get_card
from edgekit.models.source import load_model
from edgekit.models.video import C3D_SMALL_MADDS


def test_c3d_small_is_the_issue_model():
    card = get_card("c3d-small")
    assert card.input_size == (3, 8, 112, 112) and card.clip_length == 8 and card.family == "video"
    report = count_madds(create_model("c3d-small"), card.input_size)
    # 16·81·8·112² + 32·432·8·56² + 64·864·4·28² + 64·101
    assert report.conv_madds == C3D_SMALL_MADDS == 130_056_192 + 346_816_512 + 173_408_256 + 6_464
    assert card.madds_target == C3D_SMALL_MADDS and report.params == 77_093


@pytest.mark.parametrize("name,out_shape", [("c3d-small", (1, 101)), ("tan-small", (1, 101)),
                                            ("s3d-small", (1, 66, 2))])
def test_small_clip_shapes_and_cards(name, out_shape):
    card = get_card(name)
    assert "preprocessing" in card.extra and card.extra["layout"] == "NCTHW"
    model = create_model(name)
    with torch.no_grad():
        assert tuple(model(torch.randn(1, 3, 4, 32, 32)).shape) == out_shape


def test_conditioned_clip_model_has_order_one_outputs():
    model, card = load_model("s3d-small", input_size=32, input_shape="3,4,32,32")
    assert card.input_size == (3, 4, 32, 32) and "BatchNorm statistics" in card.extra["weights"]
    with torch.no_grad():
        y = model(torch.randn(2, *card.input_size))
    assert 0.05 < float(y.abs().max()) < 100


def test_user_clip_model_with_input_shape(tmp_path):
    f = tmp_path / "clipnet.py"
    f.write_text("from torch import nn\n"
                 "def build(num_classes=5):\n"
                 "    return nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),\n"
                 "                         nn.Flatten(), nn.Linear(4, num_classes))\n")
    model, card = load_model(f"{f}:build", input_shape="3,4,16,16")
    assert card.input_size == (3, 4, 16, 16) and card.clip_length == 4
    assert count_madds(model, card.input_size).conv_madds == 4 * 81 * 4 * 16 * 16 + 4 * 5
