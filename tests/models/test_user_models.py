"""The user's own model: `path/file.py:factory` and `package.module:factory`."""

import textwrap

import pytest
import torch

from edgekit.analysis.flops import count_madds
from edgekit.errors import EdgekitError
from edgekit.models.source import load_model, parse_input_shape

TINY = textwrap.dedent('''
    import torch
    from torch import nn
    from edgekit.models.card import Card


    class Tiny(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8, num_classes)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


    def build(num_classes=10):
        return Tiny(num_classes)


    def build_with_card(num_classes=10):
        m = Tiny(num_classes)
        m.card = Card(name="tiny", input_size=(3, 32, 32), crop=32, resize=36, madds_target=70000)
        return m


    def not_a_module(num_classes=10):
        return 42


    def broken(num_classes=10):
        raise RuntimeError("boom")
''')

# Tiny at 3x32x32: conv 32*32*8*27 = 221184, fc 8*10 = 80; params 8*27+8 + 80+10 = 314
TINY_COUNTS = (314, 221_264)


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny_net.py"
    path.write_text(TINY)
    return path


def test_file_factory_with_input_shape(tiny_file):
    model, card = load_model(f"{tiny_file}:build", input_shape="3,32,32")
    assert card.input_size == (3, 32, 32) and card.name.endswith("tiny_net.py:build")
    report = count_madds(model, card.input_size)
    assert (report.params, report.conv_madds) == TINY_COUNTS
    assert not model.training


def test_file_factory_without_card_needs_input_shape(tiny_file):
    with pytest.raises(EdgekitError, match="has no model card: give --input-shape C,H,W"):
        load_model(f"{tiny_file}:build")


def test_file_factory_with_its_own_card(tiny_file):
    model, card = load_model(f"{tiny_file}:build_with_card", num_classes=4)
    assert card.input_size == (3, 32, 32) and card.madds_target == 70000
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 4)


def test_package_module_factory(tmp_path, monkeypatch):
    pkg = tmp_path / "edgekit_testpkg_nets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tiny.py").write_text(TINY)
    monkeypatch.syspath_prepend(str(tmp_path))
    model, card = load_model("edgekit_testpkg_nets.tiny:build", input_shape="1x3x32x32")
    assert card.input_size == (3, 32, 32)
    assert (count_madds(model, card.input_size).params, count_madds(model, card.input_size).conv_madds) == TINY_COUNTS


def test_user_model_with_weights_in_wrapper_layout(tiny_file, tmp_path):
    ref, _ = load_model(f"{tiny_file}:build", input_shape="3,32,32")
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()
    ckpt = tmp_path / "tiny.pth"
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in ref.state_dict().items()}}, ckpt)
    model, _ = load_model(f"{tiny_file}:build", input_shape="3,32,32", weights=str(ckpt))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))


@pytest.mark.parametrize("source,message", [
    ("{dir}/missing.py:build", "model file not found"),
    ("{file}:nope", "has no callable 'nope'"),
    ("{file}:not_a_module", "returned a int, not a torch.nn.Module"),
    ("{file}:broken", "failed: RuntimeError: boom"),
    ("no_such_package_xyz.nets:build", "cannot import module 'no_such_package_xyz.nets'"),
    ("mobilenetv3-smal-100", "unknown model 'mobilenetv3-smal-100' (did you mean: mobilenetv3-small-100"),
])
def test_bad_sources(source, message, tiny_file):
    with pytest.raises(EdgekitError) as info:
        load_model(source.format(dir=tiny_file.parent, file=tiny_file), input_shape="3,32,32")
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text,shape", [("3,224,224", (3, 224, 224)), ("3x96x96", (3, 96, 96)),
                                        ("1,3,64,64", (3, 64, 64)), ("2,3,64,64", (2, 3, 64, 64)),
                                        ("3x8x112x112", (3, 8, 112, 112)), ("1,1,8,32,32", (1, 8, 32, 32))])
def test_parse_input_shape(text, shape):
    assert parse_input_shape(text) == shape


@pytest.mark.parametrize("text", ["224", "3,224", "a,b,c", "3,0,224", "2,3,8,64,64"])
def test_parse_input_shape_rejects(text):
    with pytest.raises(EdgekitError, match="is not C,H,W"):
        parse_input_shape(text)
