"""Untrained zoo models get BatchNorm statistics from data, so their logits are O(1), not ~0."""

import torch

from edgekit.models import create_model
from edgekit.models.source import load_model


def test_zoo_model_without_weights_is_conditioned():
    raw = create_model("micronet-m0")
    model, card = load_model("micronet-m0", input_size=64)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert raw(x).abs().max() < 1e-6  # fresh BatchNorm statistics: activations vanish
        assert model(x).abs().max() > 0.5
    assert "random init" in card.extra["weights"]
    assert not model.training


def test_weights_given_are_left_alone(tmp_path):
    ref = create_model("micronet-m0")
    path = tmp_path / "w.pth"
    torch.save(ref.state_dict(), path)
    model, card = load_model("micronet-m0", weights=str(path))
    for key, value in ref.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert "weights" not in card.extra
