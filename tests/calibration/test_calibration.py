import numpy as np
import pytest
from PIL import Image

from edgekit.calibration import Preprocess, load_calibration, load_calibration_set
from edgekit.errors import EdgekitError
from edgekit.models.card import Card

CARD = Card(name="t", input_size=(3, 16, 16), crop=16, resize=18)


def _img(path, value, size=(20, 24), mode="RGB"):
    Image.new(mode, size, value).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    for cls, ext in (("cat", "png"), ("dog", "jpg"), ("eel", "bmp"), ("fox", "webp")):
        (root / cls / "deep").mkdir(parents=True)
        _img(root / cls / f"a.{ext}", (10, 20, 30))
        _img(root / cls / "deep" / f"b.{ext}", (200, 100, 0))
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG garbage")
    return root


def test_folder_labels_from_subfolders_and_skips_counted(folder):
    s = load_calibration_set(folder, CARD)
    assert s.x.shape == (8, 3, 16, 16) and s.x.dtype == np.float32
    assert s.class_names == ["cat", "dog", "eel", "fox"]
    assert sorted(s.labels.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert s.skipped == 2  # notes.txt and broken.png


def test_preprocessing_numbers_follow_the_card(folder):
    # a constant image stays constant through resize/crop: value v -> (v/255 - mean)/std per channel
    x, _ = load_calibration(folder / "cat", CARD)
    mean, std = np.array(CARD.mean), np.array(CARD.std)
    expected = sorted(((np.array(v) / 255 - mean) / std).tolist() for v in ((10, 20, 30), (200, 100, 0)))
    got = sorted(x[i, :, 5, 5].tolist() for i in range(len(x)))
    assert np.allclose(got, expected, atol=1e-5)
    assert np.ptp(x, axis=(2, 3)).max() < 1e-6  # constant images stay constant
    over = load_calibration(folder / "cat", CARD, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))[0]
    assert np.isclose(over.max(), 200 / 255, atol=1e-6)


def test_sampling_is_deterministic(folder):
    a = load_calibration_set(folder, CARD, size=3, seed=1)
    b = load_calibration_set(folder, CARD, size=3, seed=1)
    c = load_calibration_set(folder, CARD, size=3, seed=2)
    assert len(a.x) == 3 and np.array_equal(a.x, b.x) and np.array_equal(a.labels, b.labels)
    assert not (np.array_equal(a.x, c.x) and np.array_equal(a.labels, c.labels))


def test_empty_folder_and_no_readable_image(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgekitError, match="is empty"):
        load_calibration(tmp_path / "empty", CARD)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    (junk / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(EdgekitError, match=r"no readable image .*2 file\(s\) skipped"):
        load_calibration(junk, CARD)


def test_npz_uint8_nhwc_and_nchw_match(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=imgs, y=np.arange(5))
    np.save(tmp_path / "b.npy", imgs.transpose(0, 3, 1, 2))
    card = Card(name="t", input_size=(3, 16, 16), crop=16, resize=16)
    xa, ya = load_calibration(tmp_path / "a.npz", card)
    xb, yb = load_calibration(tmp_path / "b.npy", card)
    assert ya.tolist() == [0, 1, 2, 3, 4] and yb is None
    assert np.array_equal(xa, xb)
    assert np.allclose(xa[2, 1], (imgs[2, :, :, 1] / 255 - card.mean[1]) / card.std[1], atol=1e-6)


def test_npz_float_is_taken_as_preprocessed(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    got, _ = load_calibration(tmp_path / "f.npy", Card(name="t", input_size=(3, 16, 16)))
    assert np.array_equal(got, x)


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 16, 16, 1), np.uint8), "no axis of 3 channels"),
    (np.zeros((2, 1, 16, 16), np.float32), r"float inputs of shape \(1, 16, 16\)"),
    (np.zeros((2, 16, 16), np.uint8), "must be 4-D"),
    (np.zeros((2, 3, 16, 16), np.int32), "dtype int32"),
])
def test_wrong_shape_or_channels(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(EdgekitError, match=message):
        load_calibration(tmp_path / "bad.npy", Card(name="t", input_size=(3, 16, 16)))


def test_missing_and_unsupported_sources(tmp_path):
    with pytest.raises(EdgekitError, match="not found"):
        load_calibration(tmp_path / "nope", CARD)
    (tmp_path / "a.csv").write_text("1,2")
    with pytest.raises(EdgekitError, match="image folder or a .npy/.npz"):
        load_calibration(tmp_path / "a.csv", CARD)
    with pytest.raises(EdgekitError, match="must be positive"):
        load_calibration(tmp_path, CARD, size=0)


def test_synthetic_warns_loudly(capsys):
    x, y = load_calibration("synthetic", CARD, size=4)
    assert x.shape == (4, 3, 16, 16) and y is None
    assert "SYNTHETIC" in capsys.readouterr().err


def test_preprocess_from_card_scales_resize_for_the_input():
    pre = Preprocess.from_card(Card(name="t").with_input_size(32))
    assert pre.size == (32, 32) and pre.resize == 37
