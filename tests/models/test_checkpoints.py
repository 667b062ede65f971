"""Checkpoint loading: every layout the MicroNet release writes/reads, clear errors, and refusal
of anything that is not plain tensors (nothing is ever executed)."""

import random
import pickle

import pytest
import torch

from edgekit.errors import EdgekitError
from edgekit.models import create_model
from edgekit.models.checkpoints import read_state_dict


def _trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """Random but non-trivial weights and BatchNorm statistics, as after training."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.add_(torch.randn(t.shape, generator=g) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def m0():
    torch.manual_seed(0)
    return _trained_like(create_model("micronet-m0"))


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))


def _prefixed(state):
    return {"module." + k: v for k, v in state.items()}


LAYOUTS = {
    "bare": lambda s: s,
    "bare-module": _prefixed,
    "state_dict": lambda s: {"state_dict": s},
    "state_dict-module": lambda s: {"state_dict": _prefixed(s)},
    "training-wrapper": lambda s: {"epoch": 90, "arch": "micronet-m0", "state_dict": _prefixed(s),
                                   "best_prec1": torch.tensor(46.6), "optimizer": {"state": {}, "param_groups": []}},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_loads_the_same_function(layout, m0, x, tmp_path):
    path = tmp_path / f"{layout}.pth"
    torch.save(LAYOUTS[layout](m0.state_dict()), path)
    loaded = create_model("micronet-m0", weights=str(path))
    with torch.no_grad():
        assert torch.equal(loaded(x), m0(x))
    assert loaded.card.num_classes == 1000


def test_num_classes_inferred_from_checkpoint(x, tmp_path):
    ten = _trained_like(create_model("micronet-m0", num_classes=10))
    path = tmp_path / "ten.pth"
    torch.save({"state_dict": _prefixed(ten.state_dict())}, path)
    loaded = create_model("micronet-m0", weights=str(path))
    assert loaded.card.num_classes == 10
    with torch.no_grad():
        out = loaded(x)
        assert out.shape == (2, 10) and torch.equal(out, ten(x))
    # an explicit, conflicting --num-classes is a shape error, not a silent reinit
    with pytest.raises(EdgekitError, match=r"wrong shapes: .*classifier\.2\.linear\.0\.weight \(10, 640\) vs \(5, 640\)"):
        create_model("micronet-m0", weights=str(path), num_classes=5)


def _error(path) -> str:
    with pytest.raises(EdgekitError) as info:
        create_model("micronet-m0", weights=str(path))
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_wrong_key_names_the_first_few(m0, tmp_path):
    state = dict(m0.state_dict())
    state["features.1.extra.weight"] = state.pop("features.0.stem.0.conv.0.weight")
    torch.save(state, tmp_path / "renamed.pth")
    msg = _error(tmp_path / "renamed.pth")
    assert "missing keys: features.0.stem.0.conv.0.weight" in msg
    assert "unexpected keys: features.1.extra.weight" in msg


def test_many_missing_keys_are_summarised(m0, tmp_path):
    state = {k: v for k, v in m0.state_dict().items() if not k.startswith("features.3.")}
    torch.save(state, tmp_path / "partial.pth")
    msg = _error(tmp_path / "partial.pth")
    assert msg.count("features.3.") == 3 and "more)" in msg


def test_wrong_shape_names_key_and_shapes(m0, tmp_path):
    state = dict(m0.state_dict())
    state["features.0.stem.0.conv.0.weight"] = torch.zeros(4, 3, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    msg = _error(tmp_path / "shape.pth")
    assert "wrong shapes: features.0.stem.0.conv.0.weight (4, 3, 3, 3) vs (2, 3, 3, 1)" in msg


# seeded random bytes: the same parameter on every pytest-xdist worker (os.urandom made each collect its own)
@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint\n", random.Random(0).randbytes(512),
                                     b"PK\x03\x04broken zip"], ids=["empty", "text", "random", "broken-zip"])
def test_not_a_checkpoint(content, tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    msg = _error(path)
    assert str(path) in msg


def test_missing_file(tmp_path):
    assert "checkpoint not found" in _error(tmp_path / "nope.pth")


def test_state_dict_of_non_tensors(tmp_path):
    torch.save({"state_dict": {"a": 1}}, tmp_path / "ints.pth")
    assert "entry 'a' is a int, not a tensor" in _error(tmp_path / "ints.pth")


class WritesMarker:
    """Unpickling this would call open(marker, 'w') — it must never happen."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_pickle_with_arbitrary_object_is_refused_without_running_it(writer, m0, tmp_path):
    marker = tmp_path / "MARKER"
    payload = {"state_dict": dict(m0.state_dict()), "evil": WritesMarker(str(marker))}
    path = tmp_path / "evil.pth"
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    with pytest.raises(EdgekitError) as info:
        read_state_dict(path)
    msg = str(info.value)
    assert msg.startswith(f"refused to load {path}") and "\n" not in msg
    if writer == "torch.save":
        assert "a Python object (io.open)" in msg
    assert not marker.exists()
